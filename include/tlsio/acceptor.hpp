/// \file
/// tlsio::acceptor: listens on a TCP port and hands out TLS streams whose handshake has
/// completed (the seed's tls-bind and tls-accept).
///
/// Example:
///
///     tlsio::acceptor acceptor(executor, server_ctx, "", 0);   // any address, ephemeral port
///     std::cout << acceptor.local_endpoint().port() << "\n";
///     for (;;) {
///       tlsio::stream<> s = co_await acceptor.async_accept(asio::use_awaitable);
///       auto ex = s.get_executor();                        // the connection's own strand
///       asio::co_spawn(ex, serve(std::move(s)), asio::detached);
///     }
///
///
/// Once async_accept() is first called, the acceptor accepts connections continuously and
/// runs their handshakes concurrently, each bounded by the context's handshake timeout. A
/// client that connects and never speaks, speaks garbage or resets delays nobody: its
/// failure is counted, reported to the failure callback, and the loop goes on. Streams whose
/// handshake succeeded wait in a queue for async_accept(). Running out of file descriptors
/// pauses accepting briefly instead of ending the loop.
///
/// Threads. Two ways to use several threads:
///  - one io_context per thread, each with its own acceptor on the same port
///    (acceptor_options::reuse_port); every connection then lives on one thread;
///  - one io_context run by several threads. Each accepted stream is bound to a strand of
///    its own (acceptor_options::strand_per_connection, on by default), so its handshake, its
///    internal timers and every coroutine the application spawns on s.get_executor() run one
///    at a time, while different connections run in parallel. A reader coroutine and a writer
///    coroutine on the same stream are safe when both are spawned on s.get_executor().
///
/// The acceptor's own work (the accept loop, on_failure calls) runs on a strand of its own.
///
/// Which member may be called from where:
///  - from any thread, at any time (while the object exists and is not being moved):
///    async_accept(), close(), set_context(), ready(), failures(), local_endpoint(),
///    get_executor(), and tlsio::async_poll() on the acceptor;
///  - from one thread at a time, and not while close() runs on another: the blocking
///    accept() (a thread blocked in accept(2) is not woken by close()), and native() and
///    whatever is done with the socket it returns;
///  - construction, destruction and move-assignment: like any object, never concurrently with
///    another call on the same acceptor object (the handshakes and the accept loop hold the
///    acceptor's state, not the object, so they are no obstacle).
#pragma once

#include <tlsio/compat.hpp>
#include <tlsio/stream.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace tlsio {

/// A handshake the acceptor gave up on, or a failure to accept a connection at all, as
/// acceptor_options::on_failure receives it.
struct handshake_failure {
  /// Why: a verification reason, error::handshake_timeout, error::stream_truncated, an
  /// engine_category() code, or a socket error (from accept(2) too, e.g.
  /// asio::error::no_descriptors).
  std::error_code error;
  /// The engine's failure_detail(), or the error's message; "out of resources while
  /// accepting; pausing 100 ms" when accepting pauses for want of file descriptors.
  std::string detail;
  /// The client's address; the default endpoint (unspecified address, port 0) when the
  /// failure came before there was a connection (accept(2) failing).
  asio::ip::tcp::endpoint peer;
};

/// How an acceptor listens and hands out connections; fixed at construction.
struct acceptor_options {
  /// Set SO_REUSEPORT, so that several acceptors can listen on one port.
  bool reuse_port = false;
  /// Give each accepted connection (its socket, its handshake, its stream's timers) a strand
  /// of its own, made from the acceptor's executor: s.get_executor() is that strand.
  ///
  /// On by default because the default must be safe where it matters most: with one
  /// io_context run by several threads, a connection without a strand has its handlers
  /// (a reader's, a writer's, a timer's) run on two threads at once. On an io_context run by
  /// one thread a strand costs one small allocation per connection and a short lock per
  /// handler. Turn it off only when the acceptor's executor is already run by one thread at a
  /// time (an io_context per thread, or a strand you passed in); the connection then uses
  /// that executor as it is.
  bool strand_per_connection = true;
  /// The listen backlog.
  int backlog = asio::socket_base::max_listen_connections;
  /// Handshakes in progress plus streams waiting for async_accept(); past this, accepting
  /// pauses until some finish (clients wait in the kernel's listen backlog meanwhile).
  std::size_t max_pending = 1024;
  /// Called for each failed handshake and each failure to accept (failures() counts the
  /// same events). Handshakes ended by close() are not failures and are not reported.
  ///
  /// Concurrency: the accept loop calls it on the acceptor's own strand, so those calls
  /// never overlap one another, whichever threads run the io_context; they do run
  /// concurrently with the application's other handlers, so whatever it touches must be
  /// safe for that. The blocking accept() calls it on the calling thread, which may overlap
  /// with the strand's calls if async_accept() is used as well. It should return quickly
  /// (it holds up the accept loop) and must not throw: depending on where the failure
  /// happened, an exception would leave through the io_context's run() or silently end the
  /// accept loop (from accept(), it leaves through accept()). It may call the acceptor's
  /// thread-safe members, close() included. Empty: failures are only counted.
  std::function<void(const handshake_failure &)> on_failure{};
};

} // namespace tlsio

// The implementation, after the options it uses.
#include <tlsio/detail/acceptor_state.hpp>

namespace tlsio {

/// A listening TCP port that hands out TLS streams whose handshake has completed (see
/// acceptor.hpp for the whole story and for which member may be called from which thread).
///
/// Errors: the constructor, local_endpoint(), set_context() and the throwing accept()
/// throw std::system_error (not tlsio::tls_error); async_accept() reports through its
/// completion.
class acceptor {
public:
  /// Listens on host:port at once (bind and listen); clients are accepted from the first
  /// async_accept() (or async_poll()) on, or by accept(), and wait in the kernel's backlog
  /// until then.
  ///
  /// \param executor runs the accept loop (on a strand made from it) and, by default, each
  ///   connection (see acceptor_options::strand_per_connection).
  /// \param ctx a server's context; it is finalized here (see context::finalize()).
  /// \param host a name or address to bind to (resolved now, blocking; IPv6 literals with
  ///   or without brackets), or "" / "*" for any address: IPv6 and IPv4 together where the
  ///   system allows, else IPv4 only.
  /// \param port a number (0 to 65535) or a service name ("https"); 0 picks a free port,
  ///   which local_endpoint() reports.
  /// \param options see acceptor_options.
  ///
  /// Throws std::system_error: error::wrong_role for a client's context;
  /// error::invalid_port for a number above 65535; ctx.finalize()'s error if the context
  /// cannot accept connections (error::no_certificate, error::no_client_ca, a key that does
  /// not fit); the resolver's error (asio::error::host_not_found, ...) or the socket's
  /// (address_in_use, access_denied, ...) if host:port cannot be resolved or bound.
  /// Nothing is left listening when it throws.
  acceptor(const asio::any_io_executor &executor, const context &ctx, std::string_view host,
           std::string_view port, acceptor_options options = {});
  /// As the constructor above, with the port as a number (0: a free port).
  acceptor(const asio::any_io_executor &executor, const context &ctx, std::string_view host,
           unsigned short port, acceptor_options options = {})
      : acceptor(executor, ctx, host, std::to_string(port), std::move(options)) {}
  /// As the constructor above, reporting through `ec` (cleared on success) what it would
  /// throw. On failure the acceptor is closed: local_endpoint() throws, async_accept()
  /// completes with an error, and it may be destroyed or assigned to.
  acceptor(const asio::any_io_executor &executor, const context &ctx, std::string_view host,
           std::string_view port, acceptor_options options, std::error_code &ec);
  /// As the constructor above, with the port as a number (0: a free port).
  acceptor(const asio::any_io_executor &executor, const context &ctx, std::string_view host,
           unsigned short port, acceptor_options options, std::error_code &ec)
      : acceptor(executor, ctx, host, std::to_string(port), std::move(options), ec) {}
  /// Takes over `other`'s port, accept loop and queue. The moved-from acceptor may only be
  /// destroyed or assigned to.
  acceptor(acceptor &&other) noexcept = default;
  /// Closes this acceptor (as close() does: its port stops listening and its handshakes in
  /// progress end), then takes over `other`'s.
  acceptor &operator=(acceptor &&other) noexcept;
  /// Closes the acceptor, as close() does. Pending async_accept() operations complete with
  /// asio::error::operation_aborted through their executors (the io_context must still
  /// run for them); the accept loop and the handshakes end on their own executors soon
  /// after, without touching this object.
  ~acceptor();

  /// The executor given to the constructor (not a connection's strand: an accepted stream's
  /// own executor is s.get_executor()). Any thread.
  asio::any_io_executor get_executor() const { return state_->executor; }
  /// The address and port the acceptor listens on (with port 0 given, the port chosen).
  /// Any thread. Throws std::system_error (asio::error::bad_descriptor) once closed.
  asio::ip::tcp::endpoint local_endpoint() const;
  /// The listening socket, for options tlsio does not set (the constructor has already
  /// bound it and made it listen). Not synchronized with close() or the accept loop: use
  /// it only before async_accept() (or async_poll()) is first called, or from one thread
  /// while nothing else uses the acceptor. Closing it, or accepting on it, takes
  /// connections away from the acceptor. After close() it is a closed socket; on a
  /// moved-from acceptor it must not be called.
  asio::ip::tcp::acceptor &native() noexcept { return state_->listener; }

  /// The next client whose handshake has completed, in the order the handshakes completed.
  /// The first call starts the accept loop. Safe from any thread, any number of callers at
  /// once (each stream goes to one of them).
  ///
  /// Completion signature: void(std::error_code, tlsio::stream<>). The stream is connected
  /// (is_connected()), bound to its own executor (see
  /// acceptor_options::strand_per_connection); the handler runs on its associated
  /// executor, by default the acceptor's. Failed handshakes are never delivered; they go
  /// to acceptor_options::on_failure.
  ///
  /// Fails only with asio::error::operation_aborted, with an unconnected stream: when the
  /// acceptor is or becomes closed (at once if it already is), or when cancelled through
  /// the handler's cancellation slot (terminal, partial or total; no stream is taken from
  /// the queue).
  template <class Token = tlsio::default_token_t<asio::any_io_executor>>
  auto async_accept(Token &&token = {}) {
    start();
    return asio::async_initiate<Token, void(std::error_code, stream<>)>(detail::initiate_accept{},
                                                                        token, state_);
  }

  /// Blocking: waits for a client and performs its handshake on the calling thread
  /// (bounded by the context's handshake timeout; with a timeout of zero or less a silent
  /// client blocks it for good); a failed handshake is counted, reported to on_failure on
  /// this thread, and the next client is waited for. Handles one client at a time: servers
  /// facing many should use async_accept(). It does not start the accept loop and does not
  /// take streams from async_accept()'s queue; with both in use, each client goes to
  /// whichever accepts it first.
  ///
  /// Returns a connected stream. Throws std::system_error (not tlsio::tls_error) with the
  /// socket's error if accepting fails: asio::error::bad_descriptor once closed. From one
  /// thread at a time, and not while close() runs on another (close() does not wake it).
  stream<> accept();
  /// As accept(), reporting the socket's error through `ec` (cleared on success) and then
  /// returning an unconnected stream.
  stream<> accept(std::error_code &ec);

  /// True if async_accept() would complete at once: a stream is waiting, or the acceptor is
  /// closed (async_accept() then fails at once). Any thread.
  bool ready() const noexcept { return state_->ready.ready(); }
  /// Failures so far: failed handshakes and failures to accept, as reported to
  /// acceptor_options::on_failure (counted just before each call). Any thread.
  std::size_t failures() const noexcept { return state_->failures; }

  /// Uses `ctx` for connections accepted from now on (for example a renewed certificate);
  /// established connections and handshakes already started keep theirs. Safe to call from
  /// any thread. Throws std::system_error, keeping the old context, with error::wrong_role
  /// for a client's context or with ctx.finalize()'s error (as the constructor).
  void set_context(const context &ctx);

  /// Stops listening and ends the handshakes in progress; every pending async_accept()
  /// completes with asio::error::operation_aborted, and so does every later one. Streams
  /// whose handshake had completed but that no async_accept() took are not handed out;
  /// they are closed when the acceptor is destroyed. Safe from any thread, and while the
  /// accept loop and handshakes run on others: when it returns the port no longer listens;
  /// the handshakes end on their own executors soon after (their clients see the
  /// connection close, and on_failure is not called for them). Calling it again does
  /// nothing. Does not throw. A blocking accept() running on another thread is not woken
  /// (see accept()). After close(), local_endpoint() and accept() fail with
  /// asio::error::bad_descriptor and ready() is true; the acceptor cannot be reopened.
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
