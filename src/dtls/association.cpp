#include "association.hpp"

#include <tlsio/dtls/stream.hpp>
#include <tlsio/error.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <tlsio/compat.hpp>

#include <algorithm>
#include <cstring>

namespace tlsio::dtls::detail {

namespace {

// Larger than any record's plaintext (2^14, RFC 6347 §4.1), so a message is never cut here.
constexpr std::size_t scratch_size = 16384 + 2048;
constexpr auto wait_tuple = tlsio::compat::as_tuple(asio::use_awaitable);

bool cancelled(asio::cancellation_state s) {
  return s.cancelled() != asio::cancellation_type::none;
}

} // namespace

association::association(asio::any_io_executor strand, dtls::engine engine, socket_ptr socket,
                         std::optional<asio::ip::udp::endpoint> peer,
                         std::chrono::steady_clock::duration idle_timeout)
    : strand_(std::move(strand)), engine_(std::move(engine)), socket_(std::move(socket)),
      peer_(std::move(peer)), idle_timeout_(idle_timeout), retransmit_(strand_), idle_(strand_),
      changed_(strand_, asio::steady_timer::time_point::max()), scratch_(scratch_size) {}

void association::start_client() {
  asio::co_spawn(strand_, receive_loop(), asio::detached);
  advance();
}

asio::awaitable<void> association::receive_loop() {
  auto self = shared_from_this();
  std::vector<std::byte> buffer(65536);
  while (!ended_) {
    auto [ec, n] = co_await socket_->async_receive(asio::buffer(buffer), wait_tuple);
    if (ended_)
      break;
    if (ec == asio::error::connection_refused && !established_) {
      // ICMP port unreachable on the connected socket: nobody listens there.
      end(ec);
      break;
    }
    if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
      break;
    if (ec) // other ICMP reports could be forged; datagrams decide
      continue;
    on_datagram(std::span(buffer.data(), n));
  }
}

void association::on_datagram(std::span<const std::byte> datagram) {
  if (ended_)
    return;
  engine_.put_datagram(datagram);
  advance();
}

void association::advance() {
  if (ended_)
    return;
  if (!engine_.handshake_done())
    on_handshake_step(engine_.handshake());
  if (!ended_ && engine_.handshake_done()) {
    decrypt_arrived();
    // It rises once the handshake's state is freed (a flight retransmitted twice went out
    // at a lower MTU, RFC 6347 §4.1.1.1, kept until the peer showed it arrived).
    if (established_ && !ended_)
      max_message_size_ = engine_.max_message_size();
  }
  flush();
  arm_retransmission();
  notify();
}

void association::on_handshake_step(step_result r) {
  if (r.status == status::failed) {
    flush(); // the alert, if the engine queued one
    end(r.error);
  } else if (r.status == status::done && !established_) {
    on_established_now();
  }
}

void association::on_established_now() {
  established_ = true;
  facts_.version = engine_.protocol_version();
  facts_.suite = engine_.cipher_suite();
  facts_.server_name = engine_.server_name();
  facts_.peer_certificate = engine_.peer_certificate();
  facts_.alpn = engine_.alpn_protocol();
  facts_.resumed = engine_.resumed();
  facts_.made = engine_.get_session();
  std::error_code ignored;
  facts_.local = socket_->local_endpoint(ignored);
  facts_.remote = peer_ ? *peer_ : socket_->remote_endpoint(ignored);
  max_message_size_ = engine_.max_message_size();
  arm_idle();
  if (on_established)
    on_established();
}

void association::decrypt_arrived() {
  while (!ended_) {
    auto r = engine_.receive(scratch_);
    switch (r.status) {
    case status::done:
      if (messages_.size() < stream::max_queued_messages)
        messages_.push_back(
            {{scratch_.begin(), scratch_.begin() + r.bytes}, r.error == error::message_truncated});
      break;
    case status::want_input:
      return;
    case status::closed:
      flush();
      end(asio::error::eof);
      return;
    case status::failed:
      flush();
      end(r.error);
      return;
    }
  }
}

void association::flush() {
  if (flushing_ || closed_ || !socket_->is_open())
    return;
  while (engine_.queued_output() > 0) {
    auto datagram =
        asio::buffer(engine_.pending_datagram().data(), engine_.pending_datagram().size());
    std::error_code ec;
    if (peer_)
      socket_->send_to(datagram, *peer_, 0, ec);
    else
      socket_->send(datagram, 0, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      flushing_ = true;
      socket_->async_wait(asio::socket_base::wait_write,
                          [self = shared_from_this()](std::error_code) {
                            self->flushing_ = false;
                            self->flush();
                            self->notify();
                          });
      return;
    }
    if (ec)
      on_send_error(ec);
    engine_.pop_datagram();
    ++sent_;
  }
}

void association::on_send_error(std::error_code ec) {
  if (ec != asio::error::message_size)
    return; // as lost on the way: retransmission or the application copes
  // EMSGSIZE: the path's MTU is below ours. A quarter less each time, down to what any
  // IPv4 path carries (RFC 6347 §4.1.1.1).
  auto mtu = engine_.mtu();
  engine_.set_mtu(std::max<std::size_t>(508, mtu - mtu / 4));
  if (established_)
    max_message_size_ = engine_.max_message_size();
  last_oversize_ = sent_ + 1;
}

void association::arm_retransmission() {
  auto at = ended_ ? std::nullopt : engine_.next_timeout();
  if (at == retransmit_at_)
    return;
  retransmit_at_ = at;
  if (!at) {
    retransmit_.cancel();
    return;
  }
  retransmit_.expires_at(*at);
  retransmit_.async_wait([self = shared_from_this(), at = *at](std::error_code ec) {
    if (ec || self->ended_ || self->retransmit_at_ != at)
      return;
    self->retransmit_at_.reset();
    self->on_handshake_step(self->engine_.on_timeout());
    self->advance();
  });
}

void association::arm_idle() {
  if (idle_timeout_ <= std::chrono::steady_clock::duration::zero() || ended_)
    return;
  auto last = engine_.last_authenticated().value_or(std::chrono::steady_clock::now());
  idle_.expires_at(last + idle_timeout_);
  idle_.async_wait([self = shared_from_this()](std::error_code ec) {
    if (ec || self->ended_)
      return;
    auto last = self->engine_.last_authenticated().value_or(std::chrono::steady_clock::now());
    if (std::chrono::steady_clock::now() >= last + self->idle_timeout_) {
      self->end(error::idle_timeout);
      self->notify();
    } else {
      self->arm_idle();
    }
  });
}

void association::end(std::error_code why) {
  if (ended_)
    return;
  ended_ = true;
  why_ = why;
  // A clean end (close_notify either way, close()) leaves no sentence.
  if (why != asio::error::eof && why != asio::error::operation_aborted &&
      why != error::not_connected) {
    std::lock_guard lock(end_detail_mutex_);
    end_detail_ = engine_.failure() ? engine_.failure_detail() : why.message();
  }
  retransmit_.cancel();
  idle_.cancel();
  retransmit_at_.reset();
  if (!peer_) {
    std::error_code ignored;
    socket_->close(ignored); // a client's own socket; the receive loop ends
  }
  notify();
  if (auto callback = std::move(on_end)) {
    on_end = nullptr;
    callback(why, engine_.failure_detail());
  }
}

void association::close() {
  if (closed_)
    return;
  closed_ = true;
  messages_.clear();
  end(asio::error::operation_aborted);
}

void association::notify() { changed_.cancel(); }

asio::awaitable<bool> association::wait_change() {
  co_await changed_.async_wait(wait_tuple);
  co_return !cancelled(co_await asio::this_coro::cancellation_state);
}

std::error_code association::ended_error() const {
  return closed_ ? std::error_code(asio::error::operation_aborted) : why_;
}

std::shared_ptr<bool> association::watch(asio::steady_timer &timer, deadline limit) {
  auto passed = std::make_shared<bool>(limit && *limit <= std::chrono::steady_clock::now());
  if (limit && !*passed) {
    timer.expires_at(*limit);
    timer.async_wait([self = shared_from_this(), passed](std::error_code ec) {
      if (!ec) {
        *passed = true;
        self->notify();
      }
    });
  }
  return passed;
}

asio::awaitable<std::error_code>
association::handshake(std::optional<std::chrono::steady_clock::time_point> deadline) {
  auto self = shared_from_this();
  asio::steady_timer limit(strand_);
  if (deadline) {
    limit.expires_at(*deadline);
    limit.async_wait([self](std::error_code ec) {
      if (!ec && !self->established_)
        self->end(error::timed_out);
    });
  }
  while (!established_ && !ended_) {
    if (!co_await wait_change()) {
      end(asio::error::operation_aborted);
      break;
    }
  }
  limit.cancel();
  co_return established_ && !ended_ ? std::error_code() : ended_error();
}

asio::awaitable<std::tuple<std::error_code, std::size_t>>
association::send(asio::const_buffer message, deadline limit) {
  auto self = shared_from_this();
  co_await asio::this_coro::reset_cancellation_state(asio::enable_partial_cancellation());
  if (closed_)
    co_return std::tuple(std::error_code(asio::error::bad_descriptor), 0);
  if (ended_)
    co_return std::tuple(why_ == asio::error::eof ? std::error_code(error::not_connected) : why_,
                         0);
  auto r = engine_.send(std::span(static_cast<const std::byte *>(message.data()), message.size()));
  if (r.status == status::failed) {
    end(r.error);
    co_return std::tuple(r.error, 0);
  }
  if (r.error)
    co_return std::tuple(r.error, 0);
  auto mine = sent_ + engine_.queued_output();
  flush();
  asio::steady_timer timer(strand_);
  auto passed = watch(timer, limit);
  while (sent_ < mine && !ended_) {
    if (*passed) // the datagram stays queued: it may still be sent
      co_return std::tuple(std::error_code(error::timed_out), 0);
    if (!co_await wait_change())
      co_return std::tuple(std::error_code(asio::error::operation_aborted), 0);
  }
  if (sent_ < mine)
    co_return std::tuple(ended_error(), 0);
  if (last_oversize_ == mine)
    co_return std::tuple(std::error_code(error::message_too_large), 0);
  co_return std::tuple(std::error_code(), message.size());
}

asio::awaitable<std::tuple<std::error_code, std::size_t>>
association::receive(asio::mutable_buffer buffer, deadline limit) {
  auto self = shared_from_this();
  co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
  asio::steady_timer timer(strand_);
  auto passed = watch(timer, limit);
  for (bool waited = false;; waited = true) {
    if (closed_) // closed while this receive waited, or before it began
      co_return std::tuple(
          std::error_code(waited ? asio::error::operation_aborted : asio::error::bad_descriptor),
          0);
    if (!messages_.empty()) {
      auto m = std::move(messages_.front());
      messages_.pop_front();
      auto n = std::min(buffer.size(), m.bytes.size());
      if (n > 0)
        std::memcpy(buffer.data(), m.bytes.data(), n);
      bool cut = m.truncated || n < m.bytes.size();
      co_return std::tuple(cut ? std::error_code(error::message_truncated) : std::error_code(), n);
    }
    if (ended_)
      co_return std::tuple(ended_error(), 0);
    if (*passed)
      co_return std::tuple(std::error_code(error::timed_out), 0);
    if (!co_await wait_change())
      co_return std::tuple(std::error_code(asio::error::operation_aborted), 0);
  }
}

asio::awaitable<std::error_code> association::shutdown() {
  auto self = shared_from_this();
  co_await asio::this_coro::reset_cancellation_state(asio::enable_partial_cancellation());
  if (closed_)
    co_return asio::error::bad_descriptor;
  if (ended_)
    co_return why_ == asio::error::eof ? std::error_code() : why_;
  engine_.shutdown();
  auto mine = sent_ + engine_.queued_output();
  flush();
  while (sent_ < mine && !ended_)
    if (!co_await wait_change())
      co_return asio::error::operation_aborted;
  end(error::not_connected);
  co_return std::error_code();
}

asio::awaitable<std::tuple<std::error_code, tlsio::wait>>
association::poll(tlsio::wait what, std::optional<std::chrono::steady_clock::time_point> deadline) {
  auto self = shared_from_this();
  co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
  if (closed_)
    co_return std::tuple(std::error_code(asio::error::bad_descriptor), tlsio::wait::none);
  asio::steady_timer limit(strand_);
  auto expired = watch(limit, deadline);
  for (;;) {
    auto ready = tlsio::wait::none;
    if (contains(what, tlsio::wait::read) && (!messages_.empty() || ended_))
      ready = ready | tlsio::wait::read;
    if (contains(what, tlsio::wait::write) && (!flushing_ || ended_))
      ready = ready | tlsio::wait::write;
    if (ready != tlsio::wait::none || *expired || closed_) {
      limit.cancel();
      if (closed_)
        co_return std::tuple(std::error_code(asio::error::operation_aborted), tlsio::wait::none);
      co_return std::tuple(std::error_code(), ready);
    }
    if (!co_await wait_change()) {
      limit.cancel();
      co_return std::tuple(std::error_code(asio::error::operation_aborted), tlsio::wait::none);
    }
  }
}

} // namespace tlsio::dtls::detail
