// A context's settings as the OpenSSL backend's SSL_CTX. Certificates and keys were parsed
// and checked by Mbed TLS when they were loaded (so both backends refuse the same files with
// the same errors); they reach OpenSSL as PEM written from that parse.
#include "../context_impl.hpp"
#include "openssl_context.hpp"

#include <mbedtls/pem.h>

namespace tlsio {
namespace {

std::string certificates_pem(const mbedtls_x509_crt &chain) {
  std::string pem;
  for (const mbedtls_x509_crt *c = &chain; c != nullptr && c->raw.len > 0; c = c->next) {
    std::string block(c->raw.len * 2 + 128, '\0');
    std::size_t length = 0;
    if (mbedtls_pem_write_buffer(
            "-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n", c->raw.p, c->raw.len,
            reinterpret_cast<unsigned char *>(block.data()), block.size(), &length) == 0)
      pem.append(block.data(), length > 0 ? length - 1 : 0); // length counts the NUL
  }
  return pem;
}

std::string private_key_pem(mbedtls_pk_context &key) {
  std::string pem(16 * 1024, '\0');
  if (mbedtls_pk_write_key_pem(&key, reinterpret_cast<unsigned char *>(pem.data()), pem.size()) !=
      0)
    return {};
  pem.resize(pem.find('\0'));
  return pem;
}

std::string openssl_groups(const std::vector<key_exchange_group> &groups) {
  std::string list;
  for (auto g : groups) {
    if (!list.empty())
      list += ':';
    list += g == key_exchange_group::x25519      ? "X25519"
            : g == key_exchange_group::secp256r1 ? "P-256"
                                                 : "P-384";
  }
  return list;
}

} // namespace

std::error_code context::impl::prepare_openssl() {
  detail::backend_settings s;
  s.side = role_;
  s.verify_peer = verifies_peer();
  s.require_peer_certificate = client_certificate_ == client_certificate::required;
  if (s.verify_peer) // load_trust() has gathered every trusted CA, the system's included
    s.authorities_pem = {certificates_pem(*ca_chain_.get())};
  if (has_own_chain_) {
    s.chain_pem = certificates_pem(*own_chain_.get());
    s.key_pem = private_key_pem(*own_key_.get());
  } else if (role_ == role::server && !virtual_hosts_.empty()) {
    s.chain_pem = certificates_pem(*virtual_hosts_.front()->chain.get());
    s.key_pem = private_key_pem(*virtual_hosts_.front()->key.get());
  }
  for (auto &host : virtual_hosts_)
    s.virtual_hosts.push_back(
        {host->names, certificates_pem(*host->chain.get()), private_key_pem(*host->key.get())});
  s.alpn = alpn_;
  s.alpn_fail_on_mismatch = alpn_mismatch_ == alpn_mismatch::fail;
  s.min_version = min_version_ == tls_version::tls1_3 ? 13 : 12;
  s.max_version = max_version_ == tls_version::tls1_3 ? 13 : 12;
  s.tickets = ticket_lifetime_.has_value();
  if (ticket_lifetime_)
    s.ticket_lifetime = *ticket_lifetime_;
  if (!group_choice_.empty())
    s.groups = openssl_groups(group_choice_);
  s.key_log = key_log_.get();
  std::error_code ec;
  openssl_context_ = detail::openssl::make_ssl_context(s, ec, prepare_detail_);
  return ec;
}

} // namespace tlsio
