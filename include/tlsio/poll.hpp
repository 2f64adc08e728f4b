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

#include <chrono>
#include <system_error>

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

} // namespace tlsio

// The implementation, after the types it uses.
#include <tlsio/detail/poll_operations.hpp>

namespace tlsio {

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
  return detail::poll_blocking(*detail::stream_access::state(s), what, detail::to_deadline(timeout),
                               ec);
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
