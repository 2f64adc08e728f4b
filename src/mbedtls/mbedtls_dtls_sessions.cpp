// The DTLS engine's session resumption (RFC 5077 tickets over DTLS 1.2): a client offers a
// session of the same context, server name and transport, and remembers the one it gets.
#include "mbedtls_dtls_engine.hpp"

#include "../engine_error.hpp"
#include "../session_cache.hpp"

#include <tlsio/error.hpp>

#include <mbedtls/ssl_internal.h>

namespace tlsio::dtls {

void engine::impl::set_session(const session &s) {
  if (context_->role_ == role::client && !started_)
    offered_session_ = s.shared();
}

void engine::impl::offer_session() {
  if (!offered_session_)
    return;
  const auto &s = *offered_session_;
  if (s.backend != backend::mbedtls) {
    offered_session_.reset();
    fail(error::wrong_backend, "the session to resume belongs to another backend's context");
    return;
  }
  // A TLS session over DTLS (or the reverse) would carry its state across record layers
  // that differ; such an offer brings a full handshake instead, as a stranger's would.
  bool fits = s.datagram && *s.resumable && s.origin.lock() == context_ &&
              s.server_name == detail::canonical_host_name(server_name_);
  if (!fits) {
    offered_session_.reset();
    return;
  }
  if (int ret = mbedtls_ssl_set_session(ssl_.get(), s.value.get()); ret != 0)
    fail(ret);
}

void engine::impl::keep_session() {
  auto made = std::make_shared<session::impl>();
  if (mbedtls_ssl_get_session(ssl_.get(), made->value.get()) != 0)
    return;
  made->datagram = true;
  made->server_name = detail::canonical_host_name(server_name_);
  made->origin = context_;
  if (resumed_ && offered_session_) // the same DTLS session: it lives and dies as one
    made->resumable = offered_session_->resumable;
  own_session_ = std::move(made);
  if (!cache_key_.empty() && context_->session_cache_)
    context_->session_cache_->insert(cache_key_, own_session_);
}

std::optional<session> engine::impl::get_session() const {
  if (!own_session_ || !*own_session_->resumable)
    return std::nullopt;
  return session(own_session_);
}

void engine::impl::forbid_resumption(std::error_code why) {
  // A handshake that ran out of time lost datagrams, not trust.
  if (why == error::handshake_timeout)
    return;
  if (offered_session_ && started_)
    *offered_session_->resumable = false;
  if (own_session_)
    *own_session_->resumable = false;
}

std::string engine::impl::alpn_protocol() const {
  const char *protocol = handshake_done_ ? mbedtls_ssl_get_alpn_protocol(ssl_.get()) : nullptr;
  return protocol != nullptr ? protocol : "";
}

} // namespace tlsio::dtls
