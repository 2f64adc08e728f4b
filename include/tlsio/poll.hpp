/// \file
/// tlsio::async_poll and tlsio::poll: wait until a TLS stream is ready to read or write, with
/// a timeout (the seed's tls-poll).
///
/// Example:
///
///     using namespace std::chrono_literals;
///     auto ready = co_await tlsio::async_poll(s, tlsio::wait::read, 500ms, asio::use_awaitable);
///     if (ready == tlsio::wait::none) { /* nothing came within 500 ms */ }
///
/// Readiness is judged at the TLS level, not on the raw socket:
///  - read is ready when a read would not wait: decrypted bytes are buffered, a complete
///    record sits in the engine's input, the peer has closed (close_notify or EOF), or an
///    error is waiting to be reported. Bytes of an incomplete record are taken in from the
///    socket while poll waits, but they are not readiness;
///  - write is ready when a record can be written without waiting: no write is in progress,
///    nothing is left unsent, and the socket accepts more.
///
/// The timeout is a duration (relative), a time point of the steady or the system clock
/// (absolute; one in the past gives an immediate answer), or tlsio::forever. When it passes,
/// the result is wait::none: a timeout is not an error. A stream that is not connected
/// (never handshaken, or shut down) fails at once with error::not_connected, a destroyed one
/// with asio::error::operation_aborted, a stream whose socket the application closed and a
/// closed acceptor with asio::error::bad_descriptor:
/// those are never mistaken for a timeout. (A peer that has closed makes read ready: the
/// read reports asio::error::eof or error::stream_truncated.)
///
/// With other operations pending on the same stream, poll never competes with them for
/// data: while a read is pending, read readiness is whatever that read leaves in the engine
/// after it completes; while a write is pending, write is not ready until it completes.
///
/// Completion signature: void(std::error_code, tlsio::wait). Cancellation through the
/// handler's slot (terminal, partial or total: poll has taken nothing the caller could lose)
/// completes it with asio::error::operation_aborted; its timer and its socket waits are
/// cancelled with it.
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

/// A set of readiness conditions: what to wait for, and what a poll found ready.
enum class wait : unsigned {
  none = 0,       ///< Nothing (a poll's answer when the timeout passed first).
  read = 1,       ///< A read would not wait.
  write = 2,      ///< A write would not wait.
  read_write = 3, ///< Both; the same as `wait::read | wait::write`.
};

/// The union of two sets.
constexpr wait operator|(wait a, wait b) noexcept {
  return static_cast<wait>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
/// The intersection of two sets.
constexpr wait operator&(wait a, wait b) noexcept {
  return static_cast<wait>(static_cast<unsigned>(a) & static_cast<unsigned>(b));
}
/// Whether `set` holds every condition of `w`; false for `w == wait::none`.
constexpr bool contains(wait set, wait w) noexcept { return (set & w) == w && w != wait::none; }

/// The type of tlsio::forever.
struct forever_t {};
/// A timeout that never passes: the poll waits until ready or cancelled.
inline constexpr forever_t forever{};

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

} // namespace detail

/// Waits until `s` is ready for `what` or the timeout passes (the rules are at the top of
/// poll.hpp).
///
/// \param s a stream; it must outlive the poll.
/// \param what wait::read, wait::write or both. With wait::none the poll only waits for the
///   timeout.
/// \param timeout a std::chrono duration (relative, any unit; zero or negative: answer
///   at once), a time point of std::chrono::steady_clock or std::chrono::system_clock
///   (absolute; a system time is converted to the steady clock when the poll starts), or
///   tlsio::forever.
/// \param token any completion token.
///
/// Completion signature: void(std::error_code, tlsio::wait). The wait is the part of
/// `what` that is ready (possibly both), or wait::none if the timeout passed first or there
/// is an error. Errors, at once: error::not_connected if the stream is not connected (before
/// the handshake, after shutdown()); asio::error::bad_descriptor if its socket is closed;
/// asio::error::operation_aborted if it is destroyed, or
/// after cancellation (terminal, partial or total) through the handler's slot. A socket
/// error is not the poll's: it makes read ready, and the next read reports it.
///
/// Threads: the poll reads into and writes from the stream, so it runs where its handler
/// runs (the handler's associated executor, if it is an I/O executor such as a strand;
/// else the stream's) and, like the stream's own operations, must not run concurrently
/// with other calls on the stream from other threads.
template <class NextLayer, class Timeout,
          class Token = tlsio::default_token_t<typename stream<NextLayer>::executor_type>>
auto async_poll(stream<NextLayer> &s, wait what, Timeout timeout, Token &&token = {}) {
  return detail::launch_poll(
      s.get_executor(),
      detail::poll_stream(detail::stream_access::state(s), what, detail::to_deadline(timeout)),
      std::forward<Token>(token));
}

/// For an acceptor: wait::read once async_accept() would complete at once (a client's
/// handshake has completed), else wait::none when the timeout passes. Starts the
/// acceptor's accept loop, as async_accept() does. The timeout is as for a stream.
///
/// Completion signature: void(std::error_code, tlsio::wait); the error is
/// asio::error::bad_descriptor at once if the acceptor is closed, and
/// asio::error::operation_aborted after cancellation (terminal, partial or total) through
/// the handler's slot. Safe from any thread, as async_accept().
template <class Timeout, class Token = tlsio::default_token_t<asio::any_io_executor>>
auto async_poll(acceptor &a, Timeout timeout, Token &&token = {}) {
  return detail::launch_poll(a.get_executor(),
                             detail::poll_acceptor(detail::acceptor_access::started_state(a),
                                                   detail::to_deadline(timeout)),
                             std::forward<Token>(token));
}

/// Blocking: waits on the calling thread until `s` is ready for `what` or the timeout
/// passes, and returns what is ready (wait::none on timeout). A stream that is not
/// connected sets `ec` to error::not_connected and returns wait::none at once; `ec` is
/// cleared otherwise. Arguments as async_poll(). For programs without a running event loop
/// (no asynchronous operation may be pending on s). While the records of a cancelled or
/// timed-out asynchronous write are still being sent (by the io_context that runs the
/// stream), write is not ready: run the io_context to let them go.
///
/// A socket error is not the poll's: it makes read ready, and the next read reports it.
/// Not thread-safe, like the stream's other members.
template <class NextLayer, class Timeout>
wait poll(stream<NextLayer> &s, wait what, Timeout timeout, std::error_code &ec) {
  auto &state = *detail::stream_access::state(s);
  auto deadline = detail::to_deadline(timeout);
  int fd = state.next_layer.lowest_layer().native_handle();
  ec = {};
  for (;;) {
    if ((ec = detail::poll_refusal(state)))
      return wait::none;
    auto ready = detail::ready_now(state, what);
    detail::send_at_once(state); // an answer read_ready() queued, or a cancelled write's tail
    if (ready != wait::none)
      return ready;
    using namespace std::chrono;
    auto left =
        deadline ? duration_cast<milliseconds>(*deadline - steady_clock::now()).count() : -1;
    if (deadline && left <= 0)
      return wait::none;
    // While an asynchronous write's records are still on their way, only the io_context can
    // finish them: the socket's writability says nothing here, and waiting on it would spin.
    bool want_out = !state.writing && (contains(what, wait::write) || detail::has_output(state));
    short events = (contains(what, wait::read) ? POLLIN : 0) | (want_out ? POLLOUT : 0);
    if (!detail::fd_ready(fd, events, static_cast<int>(left > 60000 || left < 0 ? 60000 : left)))
      continue;
    if (contains(what, wait::read) && detail::fd_ready(fd, POLLIN)) {
      std::error_code ec;
      auto space = state.engine.prepare_input();
      auto n = state.next_layer.read_some(asio::buffer(space.data(), space.size()), ec);
      if (ec == asio::error::eof)
        state.engine.put_eof();
      else if (ec)
        state.input_error = ec;
      else
        state.engine.commit_input(n);
    }
  }
}

/// As poll() above, throwing tlsio::tls_error (error::not_connected) for a stream that is
/// not connected.
template <class NextLayer, class Timeout>
wait poll(stream<NextLayer> &s, wait what, Timeout timeout) {
  std::error_code ec;
  auto ready = poll(s, what, timeout, ec);
  if (ec)
    throw tls_error(ec, "tlsio::poll: " + ec.message());
  return ready;
}

} // namespace tlsio
