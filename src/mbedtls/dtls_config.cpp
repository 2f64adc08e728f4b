// A context's DTLS configuration: the stream's settings over datagrams, with retransmission
// timeouts and HelloVerifyRequest cookies.
#include "../context_impl.hpp"
#include "../engine_error.hpp"

#include <algorithm>
#include <cstdint>

namespace tlsio {
namespace {

// RFC 6347 §4.2.4.1: the first retransmission after 1 s, doubling from there up to at
// least 60 s.
constexpr std::uint32_t initial_retransmission_ms = 1000;
constexpr std::uint32_t longest_wait_ms = 60000;

void set_datagram_rules(mbedtls_ssl_config *conf, std::chrono::milliseconds limit) {
  // Mbed TLS's maximum bounds one wait between retransmissions, and it gives up when a wait
  // would pass it; dtls::engine bounds the whole handshake by the same handshake timeout.
  // Without one (zero or less), Mbed TLS's own end after the 60 s wait is the only bound.
  auto max = limit.count() > 0
                 ? static_cast<std::uint32_t>(std::min<std::int64_t>(limit.count(), INT32_MAX))
                 : longest_wait_ms;
  mbedtls_ssl_conf_handshake_timeout(conf, std::min(initial_retransmission_ms, max), max);
  mbedtls_ssl_conf_dtls_anti_replay(conf, MBEDTLS_SSL_ANTI_REPLAY_ENABLED);
}

} // namespace

const std::error_code &context::impl::prepare_dtls() {
  std::call_once(dtls_prepared_, [this] {
    auto *conf = dtls_config_.get();
    if (int ret = set_defaults(conf, MBEDTLS_SSL_TRANSPORT_DATAGRAM); ret != 0) {
      dtls_error_ = detail::engine_error(ret);
      return;
    }
    dtls_error_ = prepare();
    if (auto ec = configure(conf); !dtls_error_)
      dtls_error_ = ec;
    // prepare() made the list; the proceed-on-mismatch choice is the stream engine's only.
    if (!alpn_list_.empty())
      mbedtls_ssl_conf_alpn_protocols(conf, alpn_list_.data());
    set_datagram_rules(conf, handshake_timeout_);
    if (ticket_lifetime_) // keys of its own (context_impl.hpp)
      mbedtls_ssl_conf_session_tickets_cb(conf, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse,
                                          dtls_tickets_.get());
    if (role_ != role::server)
      return;
    int ret =
        mbedtls_ssl_cookie_setup(cookies_.get(), detail::fork_safe_random::generate, &random_);
    if (ret != 0 && !dtls_error_)
      dtls_error_ = detail::engine_error(ret);
    mbedtls_ssl_conf_dtls_cookies(conf, mbedtls_ssl_cookie_write, mbedtls_ssl_cookie_check,
                                  cookies_.get());
  });
  return dtls_error_;
}

} // namespace tlsio
