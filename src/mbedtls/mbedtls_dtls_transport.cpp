// The DTLS engine's side of Mbed TLS's transport: datagram queues in memory, and the
// retransmission timer read from the engine's clock.
#include "mbedtls_dtls_engine.hpp"

#include <algorithm>
#include <cstring>

namespace tlsio::dtls {

int engine::impl::send_datagram(void *self, const unsigned char *data, std::size_t size) {
  auto &e = *static_cast<impl *>(self);
  auto bytes = reinterpret_cast<const std::byte *>(data);
  e.output_.emplace_back(bytes, bytes + size);
  // A datagram's first record type is in the clear even when encrypted.
  e.alert_was_last_ = size > 0 && data[0] == MBEDTLS_SSL_MSG_ALERT;
  return static_cast<int>(size);
}

int engine::impl::receive_datagram(void *self, unsigned char *data, std::size_t size) {
  auto &e = *static_cast<impl *>(self);
  if (e.input_.empty()) {
    e.reported_want_input_ = true;
    return MBEDTLS_ERR_SSL_WANT_READ;
  }
  // Mbed TLS asks for a whole record buffer; a longer datagram is cut, as a socket would,
  // and its last record then fails to parse and is dropped.
  const auto &datagram = e.input_.front();
  std::size_t n = std::min(size, datagram.size());
  std::memcpy(data, datagram.data(), n);
  e.input_.pop_front();
  return static_cast<int>(n);
}

void engine::impl::set_timer(void *self, std::uint32_t intermediate_ms, std::uint32_t final_ms) {
  auto &e = *static_cast<impl *>(self);
  if (final_ms == 0) {
    e.timer_.reset();
    return;
  }
  auto start = e.now_();
  e.timer_ = timer{start + std::chrono::milliseconds(intermediate_ms),
                   start + std::chrono::milliseconds(final_ms)};
}

int engine::impl::get_timer(void *self) {
  auto &e = *static_cast<impl *>(self);
  if (!e.timer_)
    return -1;
  auto now = e.now_();
  if (now >= e.timer_->final)
    return 2;
  return now >= e.timer_->intermediate ? 1 : 0;
}

void engine::impl::put_datagram(std::span<const std::byte> datagram) {
  if (datagram.empty() || input_.size() >= max_queued_datagrams)
    return;
  input_.emplace_back(datagram.begin(), datagram.end());
}

std::optional<clock::time_point> engine::impl::next_timeout() const {
  if (failure_ || handshake_done_)
    return std::nullopt;
  std::optional<clock::time_point> next = deadline_;
  if (timer_ && (!next || timer_->final < *next))
    next = timer_->final;
  return next;
}

} // namespace tlsio::dtls
