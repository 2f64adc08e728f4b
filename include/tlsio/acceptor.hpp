// tlsio::acceptor: listens on a TCP port and hands out TLS streams whose handshake has
// completed (the seed's tls-bind and tls-accept).
//
// Example:
//   tlsio::acceptor acceptor(executor, server_ctx, "", 0);   // any address, ephemeral port
//   std::cout << acceptor.local_endpoint().port() << "\n";
//   for (;;) {
//     tlsio::stream<> s = co_await acceptor.async_accept(asio::use_awaitable);
//     asio::co_spawn(executor, serve(std::move(s)), asio::detached);
//   }
//
// Once async_accept() is first called, the acceptor accepts connections continuously and
// runs their handshakes concurrently, each bounded by the context's handshake timeout. A
// client that connects and never speaks, speaks garbage or resets delays nobody: its
// failure is counted, reported to the failure callback, and the loop goes on. Streams whose
// handshake succeeded wait in a queue for async_accept(). Running out of file descriptors
// pauses accepting briefly instead of ending the loop.
//
// Thread safety: one acceptor may be used from one thread (or strand) at a time. With
// acceptor_options::reuse_port, several acceptors (one per thread and io_context) can share
// a port.
#pragma once

#include <tlsio/detail/asio_compat.hpp>
#include <tlsio/stream.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace tlsio {

/// A handshake the acceptor gave up on.
struct handshake_failure {
  std::error_code error;
  std::string detail; ///< the engine's failure_detail(), or the error's message
  asio::ip::tcp::endpoint peer;
};

struct acceptor_options {
  /// Set SO_REUSEPORT, so that several acceptors can listen on one port.
  bool reuse_port = false;
  /// The listen backlog.
  int backlog = asio::socket_base::max_listen_connections;
  /// Handshakes in progress plus streams waiting for async_accept(); past this, accepting
  /// pauses until some finish.
  std::size_t max_pending = 1024;
  /// Called for each failed handshake (on the acceptor's executor).
  std::function<void(const handshake_failure &)> on_failure{};
};

namespace detail {

struct acceptor_state {
  // optional<>: a channel default-constructs its payload, and a stream needs a context.
  using ready_channel =
      asio::experimental::concurrent_channel<void(std::error_code, std::optional<stream<>>)>;

  acceptor_state(const asio::any_io_executor &ex, const context &c, acceptor_options o)
      : ctx(c), options(std::move(o)), listener(ex), ready(ex, 64), slot_free(ex), arrived(ex),
        closed(ex) {
    arrived.expires_at(asio::steady_timer::time_point::max());
    closed.expires_at(asio::steady_timer::time_point::max());
  }

  context current_context() const {
    std::lock_guard lock(context_mutex);
    return ctx;
  }

  mutable std::mutex context_mutex; // set_context may come from another thread
  context ctx;
  acceptor_options options;
  asio::ip::tcp::acceptor listener;
  ready_channel ready;
  asio::steady_timer slot_free; // wakes the accept loop when max_pending is no longer reached
  asio::steady_timer arrived;   // wakes pollers when a stream joins the queue
  asio::steady_timer closed;    // ends the handshakes in progress when the acceptor closes
  std::atomic<std::size_t> pending{0};
  std::atomic<std::size_t> failures{0};
  bool started = false;

  void report(const std::error_code &ec, std::string detail, asio::ip::tcp::endpoint peer) {
    ++failures;
    if (options.on_failure)
      options.on_failure({ec, detail.empty() ? ec.message() : std::move(detail), peer});
  }
  void release_slot() {
    --pending;
    slot_free.cancel();
  }
};

asio::ip::tcp::endpoint listen_endpoint(const asio::any_io_executor &ex, std::string_view host,
                                        std::string_view port);

asio::awaitable<void> handshake_one(std::shared_ptr<acceptor_state> state,
                                    asio::ip::tcp::socket socket);
asio::awaitable<void> accept_loop(std::shared_ptr<acceptor_state> state);

struct acceptor_access; // lets poll.hpp wait for the queue

} // namespace detail

class acceptor {
public:
  /// Listens on host:port. host: a name or address to bind to, or "" / "*" for any address
  /// (IPv6 and IPv4 together where the system allows). port: a number or service name;
  /// 0 picks a free port, which local_endpoint() reports. The context must be a server's.
  acceptor(const asio::any_io_executor &executor, const context &ctx, std::string_view host,
           std::string_view port, acceptor_options options = {});
  acceptor(const asio::any_io_executor &executor, const context &ctx, std::string_view host,
           unsigned short port, acceptor_options options = {})
      : acceptor(executor, ctx, host, std::to_string(port), std::move(options)) {}
  acceptor(acceptor &&) noexcept = default;
  acceptor &operator=(acceptor &&) noexcept = default;
  /// Closes the listening socket and ends the handshakes in progress.
  ~acceptor();

  asio::any_io_executor get_executor() { return state_->listener.get_executor(); }
  asio::ip::tcp::endpoint local_endpoint() const { return state_->listener.local_endpoint(); }
  asio::ip::tcp::acceptor &native() noexcept { return state_->listener; }

  /// The next client whose handshake has completed.
  /// Completion signature: void(std::error_code, tlsio::stream<>).
  /// Fails only when the acceptor is closed (asio::error::operation_aborted) or cancelled.
  template <class Token = asio::default_completion_token_t<asio::any_io_executor>>
  auto async_accept(Token &&token = {}) {
    start();
    return asio::async_initiate<Token, void(std::error_code, stream<>)>(
        [](auto handler, std::shared_ptr<detail::acceptor_state> state) {
          auto ex = asio::get_associated_executor(handler, state->listener.get_executor());
          auto slot = asio::get_associated_cancellation_slot(handler);
          auto deliver = [state, handler = std::move(handler)](std::error_code ec,
                                                               std::optional<stream<>> s) mutable {
            if (!s) // closed or cancelled: an unconnected stream
              s.emplace(state->current_context(), state->listener.get_executor());
            std::move(handler)(ec, std::move(*s));
          };
          state->ready.async_receive(
              asio::bind_cancellation_slot(slot, asio::bind_executor(ex, std::move(deliver))));
        },
        token, state_);
  }

  /// Blocking: waits for a client and performs its handshake (bounded by the handshake
  /// timeout); a failed handshake is counted and reported, and the next client is waited
  /// for. Handles one client at a time: servers facing many should use async_accept().
  stream<> accept();
  stream<> accept(std::error_code &ec);

  /// True if async_accept() would complete at once (a stream is waiting).
  bool ready() const noexcept { return state_->ready.ready(); }
  /// Failed handshakes so far.
  std::size_t failures() const noexcept { return state_->failures; }

  /// Uses `ctx` for connections accepted from now on (for example a renewed certificate);
  /// established connections keep theirs. Safe to call from any thread.
  void set_context(const context &ctx);

  /// Stops listening and ends the handshakes in progress; a pending async_accept()
  /// completes with operation_aborted.
  void close();

private:
  friend struct detail::acceptor_access;
  void start();
  std::shared_ptr<detail::acceptor_state> state_;
};

namespace detail {
struct acceptor_access {
  static std::shared_ptr<acceptor_state> started_state(acceptor &a) {
    a.start();
    return a.state_;
  }
};
} // namespace detail

} // namespace tlsio
