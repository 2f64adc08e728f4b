// tlsio::context's session resumption: ticket keys (server) and the session cache (client).
#include "context_impl.hpp"

#include "engine_error.hpp"

#include <mbedtls/ssl_ticket.h>

namespace tlsio {

using detail::throw_if;

void context::enable_session_tickets(std::chrono::seconds lifetime) {
  check_mutable();
  auto &i = *impl_;
  if (i.backend_ != tlsio::backend::mbedtls) {
    i.ticket_lifetime_ = lifetime;
    return; // the backend sets up its own keys at prepare()
  }
  for (auto *keys : {i.tickets_.get(), i.dtls_tickets_.get()}) {
    // A second call replaces the first's keys, which would otherwise leak.
    mbedtls_ssl_ticket_free(keys);
    mbedtls_ssl_ticket_init(keys);
    int ret = mbedtls_ssl_ticket_setup(keys, detail::fork_safe_random::generate, &i.random_,
                                       MBEDTLS_CIPHER_AES_256_GCM,
                                       static_cast<std::uint32_t>(lifetime.count()));
    if (ret != 0) {
      i.ticket_lifetime_.reset(); // no half-made keys handed to a configuration
      throw std::system_error(detail::engine_error(ret), "setting up session tickets");
    }
  }
  i.ticket_lifetime_ = lifetime;
  // prepare() hands the keys to the configurations (impl::configure).
}

void context::enable_session_cache(std::size_t capacity) {
  check_mutable();
  impl_->session_cache_.emplace(capacity);
}

std::optional<session> context::cached_session(std::string_view server) const {
  if (!impl_->session_cache_)
    return std::nullopt;
  auto found = impl_->session_cache_->find(
      server,
      [](const std::shared_ptr<const session::impl> &s) {
        return s->resumable->load() && !(s->single_use && s->offered.load());
      },
      [](const std::shared_ptr<const session::impl> &s) { return s->single_use; });
  return found ? std::optional<session>(session(*found)) : std::nullopt;
}

void context::cache_session(std::string_view server, const session &s) const {
  if (impl_->session_cache_)
    impl_->session_cache_->insert(server, s.shared());
}

} // namespace tlsio
