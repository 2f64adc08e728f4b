// The state that the loopback loops share (the same loop for tlsio and asio-ssl).
//
// An adapter A describes one TLS stream implementation:
//   A::stream_type, A::session_type, A::contexts
//   A::client(contexts&, executor) -> stream_type     (SNI and host check set)
//   A::server(contexts&, tcp::socket&&) -> stream_type
//   A::handshake(stream&, bool server, token)
//   A::set_session(stream&, const session_type&), A::get_session(stream&), A::resumed(stream&)
//   A::negotiated(stream&) -> "TLSv1.2 <suite> ..."
//   A::describe(stream&, error_code) -> text for an error
#pragma once

#include "figure.hpp"
#include "measure.hpp"

#include <asio/buffer.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace bench {

using asio::ip::tcp;

/// The completion token of every awaited operation: no exceptions, the error lands in ec.
inline auto into(std::error_code &ec) { return asio::redirect_error(asio::use_awaitable, ec); }

/// Waits on an open connection until it is closed (an idle connection with a read pending).
template <class A> asio::awaitable<void> hold(typename A::stream_type &s) {
  char byte;
  std::error_code ec;
  co_await s.async_read_some(asio::buffer(&byte, 1), into(ec));
}

template <class A> struct io_thread;

/// What all threads of one figure share.
template <class A> struct run_context {
  run_context(const figure_spec &s, typename A::contexts &x, counters &k) : spec(s), ctx(x), c(k) {}

  const figure_spec &spec;
  typename A::contexts &ctx;
  counters &c;
  tcp::endpoint target;
  bool count_at_receiver = true; // bulk: the server counts delivered bytes (false: remote)
  std::atomic<int> idle_left{0}; // idle: connections still to open
  std::atomic<int> clients_running{0};
  std::atomic<int> sessions{0}; // server sessions open now
  /// Starts one more client loop on the thread if it has fewer than its share (the loops
  /// start one per completed connection; see run_measured).
  std::function<void(io_thread<A> &)> grow;

  void note_negotiated(typename A::stream_type &s) {
    std::call_once(negotiated_once, [&] { negotiated = A::negotiated(s); });
  }
  std::once_flag negotiated_once;
  std::string negotiated;
};

/// One I/O thread: its io_context, its acceptor, and what its client loops recorded.
template <class A> struct io_thread {
  asio::io_context io{1};
  std::optional<tcp::acceptor> acceptor;
  std::vector<latency_sample> latencies;
  std::list<typename A::stream_type> held; // idle: open connections kept open
  int loops_target = 0, loops_started = 0;
};

} // namespace bench
