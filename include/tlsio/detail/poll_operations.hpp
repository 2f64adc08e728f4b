// The implementation of tlsio::async_poll and tlsio::poll: how readiness is judged on a
// stream's state, the coroutine that waits for it, and the blocking loop (internal;
// included by poll.hpp after the types it declares).
#pragma once

#include <tlsio/acceptor.hpp>
#include <tlsio/compat.hpp>
#include <tlsio/stream.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <poll.h>

#include <chrono>
#include <optional>
#include <tuple>

namespace tlsio {

namespace detail {

struct stream_access {
  template <class N> static const auto &state(stream<N> &s) { return s.state_; }
};

using poll_deadline = std::optional<std::chrono::steady_clock::time_point>;

inline poll_deadline to_deadline(forever_t) { return std::nullopt; }
template <class Rep, class Period> poll_deadline to_deadline(std::chrono::duration<Rep, Period> d) {
  auto now = std::chrono::steady_clock::now();
  // Compared in d's own unit, so that hours::max() does not overflow: a timeout past the
  // clock's end is forever.
  using unit = std::chrono::duration<Rep, Period>;
  if (d >= std::chrono::duration_cast<unit>(std::chrono::steady_clock::time_point::max() - now))
    return std::nullopt;
  return now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
}
template <class Duration>
poll_deadline to_deadline(std::chrono::time_point<std::chrono::steady_clock, Duration> t) {
  return std::chrono::time_point_cast<std::chrono::steady_clock::duration>(t);
}
template <class Duration>
poll_deadline to_deadline(std::chrono::time_point<std::chrono::system_clock, Duration> t) {
  if (t == t.max())
    return std::nullopt;
  return to_deadline(t - std::chrono::system_clock::now());
}

/// Whether a file descriptor is readable/writable right now (never blocks).
inline bool fd_ready(int fd, short events, int timeout_ms = 0) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, timeout_ms) > 0;
}

/// Passes any cancellation on to the operations a poll waits in as terminal: they are
/// coroutines whose own filter would drop partial and total cancellation.
struct as_terminal_cancellation {
  asio::cancellation_type_t operator()(asio::cancellation_type_t type) const noexcept {
    return type == asio::cancellation_type::none ? type : asio::cancellation_type::terminal;
  }
};

/// Why a stream cannot be polled, if it cannot.
template <class N> std::error_code poll_refusal(const stream_state<N> &s) {
  if (s.destroyed)
    return asio::error::operation_aborted;
  if (!s.next_layer.lowest_layer().is_open()) // closed by the application: nothing to wait on
    return asio::error::bad_descriptor;
  if (!s.engine.handshake_done() || s.closed)
    return error::not_connected;
  return {};
}

/// Read readiness, exact: read_ready() processes records that carry no application data
/// (an empty record, a warning alert, a HelloRequest) and may queue an answer to send.
template <class N> bool read_ready_now(stream_state<N> &s) {
  return s.input_error || flush_failed(s) || s.engine.read_ready();
}

/// Write readiness: nothing of ours waits to be sent and the socket takes more, or the
/// socket has failed (a write would report it at once).
template <class N> bool write_ready_now(stream_state<N> &s) {
  if (flush_failed(s))
    return true;
  return !s.writing && !has_output(s) &&
         fd_ready(s.next_layer.lowest_layer().native_handle(), POLLOUT);
}

template <class N> wait ready_now(stream_state<N> &s, wait what) {
  wait ready = wait::none;
  if (contains(what, wait::read) && read_ready_now(s))
    ready = ready | wait::read;
  if (contains(what, wait::write) && write_ready_now(s))
    ready = ready | wait::write;
  return ready;
}

/// Never completes on its own: stands in for a condition nobody asked for.
inline asio::awaitable<void> idle(asio::steady_timer &timer) {
  timer.expires_at(asio::steady_timer::time_point::max());
  co_await timer.async_wait(compat::as_tuple(asio::use_awaitable));
}

/// Takes bytes from the socket into the engine, or waits for the read that is doing so.
template <class N> asio::awaitable<void> take_input(std::shared_ptr<stream_state<N>> s) {
  if (s->reading) {
    co_await s->read_done.async_wait(compat::as_tuple(asio::use_awaitable));
    co_return;
  }
  s->reading = true;
  auto space = s->engine.prepare_input();
  auto [ec, n] = co_await s->next_layer.async_read_some(asio::buffer(space.data(), space.size()),
                                                        compat::as_tuple(asio::use_awaitable));
  s->reading = false;
  s->read_done.cancel();
  if (ec == asio::error::operation_aborted)
    co_return;
  if (ec == asio::error::eof)
    s->engine.put_eof();
  else if (ec) // the next read reports it; meanwhile read is ready (a read would not wait)
    s->input_error = ec;
  else
    s->engine.commit_input(n);
}

/// Waits until the flusher has sent what is queued (starting it: the unsent tail of a
/// cancelled write goes out once the socket takes it) or the socket takes more.
template <class N> asio::awaitable<void> await_writable(std::shared_ptr<stream_state<N>> s) {
  start_flush(s, co_await asio::this_coro::executor);
  if (s->writing)
    co_await s->write_done.async_wait(compat::as_tuple(asio::use_awaitable));
  else
    co_await s->next_layer.lowest_layer().async_wait(asio::socket_base::wait_write,
                                                     compat::as_tuple(asio::use_awaitable));
}

template <class N>
asio::awaitable<std::tuple<std::error_code, wait>> poll_stream(std::shared_ptr<stream_state<N>> s,
                                                               wait what, poll_deadline deadline) {
  using namespace compat::awaitable_operators;
  co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation(),
                                                     as_terminal_cancellation{});
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor), read_idler(executor), write_idler(executor);
  for (;;) {
    if (auto ec = poll_refusal(*s))
      co_return std::tuple(ec, wait::none);
    auto ready = ready_now(*s, what);
    start_flush(s, executor); // an answer that read_ready() queued
    if (ready != wait::none)
      co_return std::tuple(std::error_code{}, ready);
    if (deadline && *deadline <= std::chrono::steady_clock::now())
      co_return std::tuple(std::error_code{}, wait::none);
    timer.expires_at(deadline.value_or(asio::steady_timer::time_point::max()));
    auto reading = contains(what, wait::read) ? take_input(s) : idle(read_idler);
    auto writing = contains(what, wait::write) ? await_writable(s) : idle(write_idler);
    co_await (std::move(reading) || std::move(writing) ||
              timer.async_wait(compat::as_tuple(asio::use_awaitable)));
    asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none)
      co_return std::tuple(make_error_code(asio::error::operation_aborted), wait::none);
  }
}

/// Runs a poll coroutine and hands its result to any completion token.
template <class Token, class Executor, class Coroutine>
auto launch_poll(const Executor &executor, Coroutine coroutine, Token &&token) {
  return asio::async_initiate<Token, void(std::error_code, wait)>(
      [](auto handler, const Executor &ex, Coroutine c) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        auto handler_ex = asio::get_associated_executor(handler, ex);
        auto complete = [handler = std::move(handler)](
                            std::exception_ptr e, std::tuple<std::error_code, wait> r) mutable {
          auto [ec, ready] = r;
          if (e) // only allocation failures can land here
            ec = make_error_code(std::errc::not_enough_memory);
          std::move(handler)(ec, ready);
        };
        // The poll runs where its handler does (on its strand, if it has one): it reads into
        // and flushes from the stream, which must not race with the stream's operations.
        asio::any_io_executor run_on = [&] {
          if constexpr (std::is_convertible_v<decltype(handler_ex), asio::any_io_executor>)
            return asio::any_io_executor(handler_ex);
          else
            return asio::any_io_executor(ex);
        }();
        asio::co_spawn(run_on, std::move(c),
                       asio::bind_cancellation_slot(
                           slot, asio::bind_executor(handler_ex, std::move(complete))));
      },
      token, executor, std::move(coroutine));
}

asio::awaitable<std::tuple<std::error_code, wait>> poll_acceptor(std::shared_ptr<acceptor_state> s,
                                                                 poll_deadline deadline);

/// poll(): waits on the calling thread, reading into the engine when the socket is readable.
template <class N>
wait poll_blocking(stream_state<N> &state, wait what, poll_deadline deadline, std::error_code &ec) {
  int fd = state.next_layer.lowest_layer().native_handle();
  ec = {};
  for (;;) {
    if ((ec = poll_refusal(state)))
      return wait::none;
    auto ready = ready_now(state, what);
    send_at_once(state); // an answer read_ready() queued, or a cancelled write's tail
    if (ready != wait::none)
      return ready;
    using namespace std::chrono;
    auto left =
        deadline ? duration_cast<milliseconds>(*deadline - steady_clock::now()).count() : -1;
    if (deadline && left <= 0)
      return wait::none;
    // While an asynchronous write's records are still on their way, only the io_context can
    // finish them: the socket's writability says nothing here, and waiting on it would spin.
    bool want_out = !state.writing && (contains(what, wait::write) || has_output(state));
    short events = (contains(what, wait::read) ? POLLIN : 0) | (want_out ? POLLOUT : 0);
    if (!fd_ready(fd, events, static_cast<int>(left > 60000 || left < 0 ? 60000 : left)))
      continue;
    if (contains(what, wait::read) && fd_ready(fd, POLLIN)) {
      std::error_code read_error;
      auto space = state.engine.prepare_input();
      auto n = state.next_layer.read_some(asio::buffer(space.data(), space.size()), read_error);
      if (read_error == asio::error::eof)
        state.engine.put_eof();
      else if (read_error)
        state.input_error = read_error;
      else
        state.engine.commit_input(n);
    }
  }
}

} // namespace detail

} // namespace tlsio
