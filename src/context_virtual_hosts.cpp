// tlsio::context's virtual hosts: another certificate for the names a client asks for (SNI).
#include "context_impl.hpp"

#include "engine_error.hpp"
#include "peer_name.hpp"
#include "pem_loading.hpp"

#include <tlsio/error.hpp>

namespace tlsio {

using detail::throw_if;

int context::impl::select_virtual_host(void *self, mbedtls_ssl_context *ssl,
                                       const unsigned char *name, std::size_t length) {
  std::string_view requested(reinterpret_cast<const char *>(name), length);
  for (auto &host : static_cast<impl *>(self)->virtual_hosts_)
    for (const auto &pattern : host->names)
      if (detail::virtual_host_matches(pattern, requested))
        return mbedtls_ssl_set_hs_own_cert(ssl, host->chain.get(), host->key.get());
  return 0; // unknown names get the default certificate
}

void context::add_virtual_host(const std::vector<std::string> &names, std::string_view chain_pem,
                               std::string_view key_pem, std::optional<std::string_view> password) {
  check_mutable();
  auto host = std::make_unique<impl::virtual_host>();
  host->names = names;
  std::error_code ec = detail::parse_certificates(host->chain.get(), std::string(chain_pem));
  if (!ec)
    ec = detail::parse_key(host->key.get(), key_pem, password);
  if (!ec && mbedtls_pk_check_pair(&host->chain->pk, host->key.get()) != 0)
    ec = error::private_key_mismatch;
  throw_if(ec, "adding a virtual host");
  impl_->virtual_hosts_.push_back(std::move(host));
}

} // namespace tlsio
