// The DTLS engine's messages: one record each, whole or refused (RFC 6347 §4.1.1).
#include "mbedtls_dtls_engine.hpp"

#include <tlsio/error.hpp>

#include <algorithm>
#include <utility>

namespace tlsio::dtls {
std::size_t engine::impl::max_message_size() const noexcept {
  if (!handshake_done_ || failure_)
    return 0;
  // One record at the current MTU, less its header and the cipher's expansion.
  int n = mbedtls_ssl_get_max_out_record_payload(ssl_.get());
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

step_result engine::impl::send(std::span<const std::byte> message) {
  alert_was_last_ = false;
  if (failure_)
    return {status::failed, 0, failure_};
  if (!handshake_done_ || close_notify_sent_)
    return {status::failed, 0, error::not_connected};
  // Checked before Mbed TLS sees it: a message is never cut across records.
  if (message.size() > max_message_size())
    return {status::done, 0, error::message_too_large};
  int ret = mbedtls_ssl_write(ssl_.get(), reinterpret_cast<const unsigned char *>(message.data()),
                              message.size());
  if (ret < 0)
    return fail(ret);
  return {status::done, static_cast<std::size_t>(ret), {}};
}

void engine::impl::discard_rest_of_message() {
  // The rest is in Mbed TLS's buffer already: these reads take no new record.
  unsigned char rest[1024];
  while (mbedtls_ssl_get_bytes_avail(ssl_.get()) > 0)
    if (mbedtls_ssl_read(ssl_.get(), rest, sizeof rest) <= 0)
      return;
}

step_result engine::impl::read_failure(int ret) {
  switch (ret) {
  case MBEDTLS_ERR_SSL_WANT_READ:
    return {status::want_input, 0, {}};
  case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
    peer_closed_ = true;
    return {status::closed, 0, {}};
  default:
    return fail(ret);
  }
}

step_result engine::impl::receive(std::span<std::byte> buffer) {
  alert_was_last_ = false;
  if (failure_)
    return {status::failed, 0, failure_};
  if (!handshake_done_)
    return {status::failed, 0, error::not_connected};
  if (peer_closed_)
    return {status::closed, 0, {}};
  // An empty buffer still takes a message, to say whether it was empty.
  unsigned char none[1];
  auto data = buffer.empty() ? none : reinterpret_cast<unsigned char *>(buffer.data());
  std::size_t size = std::max<std::size_t>(buffer.size(), 1);
  // Mbed TLS moves its replay window only for a record that verified (RFC 6347 §4.1.2.6).
  auto window = std::pair(ssl_->in_window_top, ssl_->in_window);
  int ret = while_input_waits([&] { return mbedtls_ssl_read(ssl_.get(), data, size); });
  if (window != std::pair(ssl_->in_window_top, ssl_->in_window))
    last_authenticated_ = now_();
  if (ret < 0)
    return read_failure(ret);
  auto got = static_cast<std::size_t>(ret);
  if (got <= buffer.size() && mbedtls_ssl_get_bytes_avail(ssl_.get()) == 0)
    return {status::done, got, {}};
  discard_rest_of_message();
  return {status::done, std::min(got, buffer.size()), error::message_truncated};
}

step_result engine::impl::shutdown() {
  alert_was_last_ = false;
  if (failure_)
    return {status::failed, 0, failure_};
  if (!handshake_done_)
    return {status::failed, 0, error::not_connected};
  if (!close_notify_sent_) {
    if (int ret = mbedtls_ssl_close_notify(ssl_.get()); ret != 0)
      return fail(ret);
    close_notify_sent_ = true;
  }
  return {status::done, 0, {}};
}

} // namespace tlsio::dtls
