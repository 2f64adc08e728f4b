// The DTLS engine's steps on Mbed TLS 2.28 (RFC 6347).
#include "mbedtls_dtls_engine.hpp"

#include "../alert_for_error.hpp"
#include "../engine_error.hpp"
#include "dtls_hello_screen.hpp"

#include <tlsio/error.hpp>

#include <mbedtls/ssl_internal.h>

#include <algorithm>

namespace tlsio::dtls {
engine::impl::impl(std::shared_ptr<context::impl> ctx, std::function<clock::time_point()> now)
    : context_(std::move(ctx)), now_(std::move(now)) {
  if (const auto &ec = context_->prepare_dtls()) {
    fail(ec, context_->prepare_detail_);
    return;
  }
  if (int ret = mbedtls_ssl_setup(ssl_.get(), context_->dtls_config_.get()); ret != 0)
    throw std::system_error(tlsio::detail::engine_error(ret), "setting up a DTLS association");
  mbedtls_ssl_set_bio(ssl_.get(), this, &send_datagram, &receive_datagram, nullptr);
  mbedtls_ssl_set_timer_cb(ssl_.get(), this, &set_timer, &get_timer);
  mbedtls_ssl_set_mtu(ssl_.get(), mtu_);
  verifier_.attach(*ssl_.get());
}

// --- Failures --------------------------------------------------------------------------------

step_result engine::impl::fail(std::error_code ec, std::string detail) {
  failure_ = ec;
  forbid_resumption(ec);
  failure_detail_ = detail.empty() ? ec.message() : std::move(detail);
  timer_.reset();
  return {status::failed, 0, ec};
}

step_result engine::impl::fail(int code) {
  if (auto alert = tlsio::detail::fatal_alert_for(code, {}))
    send_fatal_alert(*alert);
  switch (code) {
  case MBEDTLS_ERR_SSL_TIMEOUT: // Mbed TLS's own maximum, should it come first
    return fail(error::handshake_timeout, "the DTLS handshake got no answer to its "
                                          "retransmissions within the handshake timeout");
  case MBEDTLS_ERR_SSL_CLIENT_RECONNECT:
    return fail(error::peer_reconnected);
  case MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO:
    // Mbed TLS refuses an ALPN mismatch with this code, which otherwise means a malformed
    // ClientHello: its alert, still in plain text, tells the two apart.
    if (last_alert_sent() == MBEDTLS_SSL_ALERT_MSG_NO_APPLICATION_PROTOCOL)
      return fail(tlsio::detail::engine_error(code),
                  "the client offered no application protocol (ALPN) that this server's "
                  "context lists (fatal alert no_application_protocol sent)");
    break;
  case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
    if (ssl_->in_msg != nullptr)
      return fail(tlsio::detail::engine_error(code),
                  std::string(handshake_done_ ? "the peer ended the association"
                                              : "the peer aborted the handshake") +
                      " with a fatal alert: " + tlsio::detail::alert_name(ssl_->in_msg[1]));
    break;
  default:
    break;
  }
  return fail(tlsio::detail::engine_error(code));
}

std::optional<unsigned char> engine::impl::last_alert_sent() const {
  constexpr std::size_t record_header = 13;
  if (output_.empty() || output_.back().size() != record_header + 2 ||
      output_.back()[0] != std::byte{MBEDTLS_SSL_MSG_ALERT})
    return std::nullopt; // none, or encrypted
  return std::to_integer<unsigned char>(output_.back()[record_header + 1]);
}

void engine::impl::send_fatal_alert(unsigned char description) {
  // Nothing has reached the peer before the first step.
  if (alert_was_last_ || !started_ || ssl_->out_msg == nullptr)
    return;
  if (ssl_->major_ver == 0) { // a server refusing a ClientHello before reading its version
    ssl_->major_ver = MBEDTLS_SSL_MAJOR_VERSION_3;
    ssl_->minor_ver = MBEDTLS_SSL_MINOR_VERSION_3;
  }
  mbedtls_ssl_send_alert_message(ssl_.get(), MBEDTLS_SSL_ALERT_LEVEL_FATAL, description);
}

// --- The handshake -------------------------------------------------------------------------

step_result engine::impl::handshake() {
  alert_was_last_ = false; // only an alert of this call is Mbed TLS's fatal one
  if (failure_)
    return {status::failed, 0, failure_};
  if (handshake_done_)
    return {status::done, 0, {}};
  const auto &ctx = *context_;
  if (ctx.role_ == role::client && ctx.verify_ == verify::peer && server_name_.empty())
    return fail(error::no_host_name);
  if (!started_) {
    started_ = true;
    if (ctx.role_ == role::client) { // a server's handshake begins with a valid cookie
      start_deadline();
      offer_session();
      if (failure_)
        return {status::failed, 0, failure_};
    }
  }
  if (deadline_ && now_() >= *deadline_)
    return fail(error::handshake_timeout,
                "the DTLS handshake did not complete within the handshake timeout (" +
                    std::to_string(ctx.handshake_timeout_.count()) + " ms)");
  // A ClientHello whose cookie Mbed TLS found stale leaves the handshake unbegun: the
  // datagrams queued after it are screened in turn.
  for (std::size_t pass = 0; pass <= max_queued_datagrams; ++pass) {
    if (ctx.role_ == role::server && !cookie_verified_ && !screen_client_hellos())
      return {status::want_input, 0, {}};
    auto r = run_handshake();
    if (ctx.role_ == role::client || cookie_verified_ || input_.empty())
      return r;
  }
  return {status::want_input, 0, {}};
}

bool engine::impl::screen_client_hellos() {
  for (; !input_.empty(); input_.pop_front()) {
    auto hello = dtls::detail::parse_client_hello(input_.front());
    if (!hello)
      continue; // not a ClientHello: no answer
    auto screened =
        dtls::detail::screen_client_hello(*context_, *hello, input_.front().size(), client_id_);
    if (screened.verified) {
      cookie_verified_ = true; // Mbed TLS takes it from here, refusals included
      start_deadline();
      return true;
    }
    if (!screened.answer.empty())
      output_.push_back(std::move(screened.answer));
  }
  return false;
}

step_result engine::impl::run_handshake() {
  const bool client = context_->role_ == role::client;
  const int peer_certificate_state =
      client ? MBEDTLS_SSL_SERVER_CERTIFICATE : MBEDTLS_SSL_CLIENT_CERTIFICATE;
  int ret = 0;
  while (ret == 0 && ssl_->state != MBEDTLS_SSL_HANDSHAKE_OVER) {
    if (ssl_->handshake != nullptr) // before Mbed TLS frees it at the end
      resumed_ = ssl_->handshake->resume != 0;
    int state = ssl_->state;
    ret = while_input_waits([this] { return mbedtls_ssl_handshake_step(ssl_.get()); });
    if (ret == 0 && state == peer_certificate_state && ssl_->state != state)
      if (auto r = verifier_.judge_step(*this, *ssl_.get()); r.status == status::failed)
        return r;
  }
  if (ret == 0) {
    handshake_done_ = true;
    deadline_.reset();
    last_authenticated_ = now_(); // the peer's Finished verified
    if (client)
      keep_session();
    return {status::done, 0, {}};
  }
  if (ret == MBEDTLS_ERR_SSL_WANT_READ)
    return {status::want_input, 0, {}};
  if (ret == MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED) {
    // Mbed TLS found the cookie stale that screen_client_hellos() took a moment ago: its
    // answer, a fresh HelloVerifyRequest, stands, and the handshake has not begun.
    cookie_verified_ = false;
    deadline_.reset();
    return forget_client_hello();
  }
  return fail(ret);
}

void engine::impl::start_deadline() {
  if (context_->handshake_timeout_.count() > 0) // zero or less: no bound of ours
    deadline_ = now_() + context_->handshake_timeout_;
}

step_result engine::impl::forget_client_hello() {
  if (int ret = mbedtls_ssl_session_reset(ssl_.get()); ret != 0)
    return fail(ret);
  timer_.reset();
  mbedtls_ssl_set_mtu(ssl_.get(), mtu_);
  if (!client_id_.empty())
    if (int ret =
            mbedtls_ssl_set_client_transport_id(ssl_.get(), client_id_.data(), client_id_.size());
        ret != 0)
      return fail(ret);
  return {status::want_input, 0, {}};
}

step_result engine::impl::on_timeout() {
  if (failure_)
    return {status::failed, 0, failure_};
  if (handshake_done_)
    return {status::done, 0, {}};
  // Mbed TLS sees the timer expired on its next read, and retransmits.
  return handshake();
}

// --- Settings ------------------------------------------------------------------------------

void engine::impl::set_server_name(std::string_view name) {
  if (started_) {
    if (!failure_)
      fail(error::invalid_server_name,
           "the server name cannot change once the handshake has started");
    return;
  }
  auto checked = tlsio::detail::check_server_name(name);
  server_name_ = std::move(checked.name);
  server_ip_ = checked.ip;
  if (failure_)
    return;
  if (!checked.problem.empty()) {
    fail(error::invalid_server_name, std::move(checked.problem));
    return;
  }
  // SNI carries DNS names only (RFC 6066); an IP literal is verified by verifier_.
  if (int ret = mbedtls_ssl_set_hostname(ssl_.get(), server_ip_ ? nullptr : server_name_.c_str());
      ret != 0)
    fail(ret);
}

void engine::impl::set_client_id(std::span<const std::byte> id) {
  if (context_->role_ != role::server || failure_)
    return;
  auto bytes = reinterpret_cast<const unsigned char *>(id.data());
  client_id_.assign(bytes, bytes + id.size());
  if (int ret = mbedtls_ssl_set_client_transport_id(ssl_.get(), bytes, id.size()); ret != 0)
    fail(ret);
}

void engine::impl::set_mtu(std::size_t bytes) {
  // 65507: the largest UDP payload over IPv4.
  mtu_ = static_cast<std::uint16_t>(std::clamp<std::size_t>(bytes, 256, 65507));
  if (!failure_)
    mbedtls_ssl_set_mtu(ssl_.get(), mtu_);
}

bool engine::impl::cookie_verified() const noexcept {
  return context_->role_ == role::server ? cookie_verified_ : started_;
}

} // namespace tlsio::dtls
