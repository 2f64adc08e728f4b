/// \file
/// tlsio::stream: TLS over an Asio stream (by default a TCP socket).
///
/// A stream owns its next layer (the socket) and a tlsio::engine, and moves bytes between
/// them. It models Asio's AsyncReadStream, AsyncWriteStream, SyncReadStream and
/// SyncWriteStream, so asio::async_read, asio::async_write, asio::async_read_until and
/// their synchronous forms work on it.
///
/// Example (a client, in a coroutine):
///
///     tlsio::context ctx{tlsio::role::client};
///     tlsio::stream<> s(ctx, executor);
///     co_await asio::async_connect(s.next_layer(), endpoints, asio::use_awaitable);
///     s.set_server_name("example.com");
///     co_await s.async_handshake(asio::use_awaitable);
///     co_await asio::async_write(s, asio::buffer("hello"), asio::use_awaitable);
///     std::size_t n = co_await s.async_read_some(asio::buffer(data), asio::use_awaitable);
///     co_await s.async_shutdown(asio::use_awaitable);
///
/// tlsio::async_connect (connect.hpp) does the first four steps in one call.
///
/// Asynchronous operations take any completion token (asio::use_awaitable, a callback,
/// asio::use_future, tlsio::compat::deferred); without one they use tlsio::default_token_t
/// (asio::use_awaitable unless the executor names its own default), so that
/// `co_await s.async_read_some(buf)` works. They run their handler through the handler's
/// associated executor (by default the stream's), and never call it from inside the
/// initiating call.
///
/// Full duplex: at most one read (async_read_some) and one write (async_write_some) may be
/// pending at a time, and they may be pending together. Neither waits for the other: records
/// leave through one flusher that no operation owns, a read waits only for input (and, when
/// it fails, for the alert that explains it to be sent), and a write only for its own
/// records. A handshake or a shutdown is alone with at most one read.
///
/// Cancellation, through the handler's associated cancellation slot, aborts only waiting:
///  - a read honours terminal, partial and total cancellation and completes with
///    asio::error::operation_aborted and 0 bytes; nothing is taken from the stream (data
///    that arrives later goes to the next read). A read whose step already decrypted data
///    into the caller's buffer completes with that data, whatever the cancellation;
///  - a write honours terminal and partial cancellation (not total: its bytes are encrypted
///    the moment it starts and cannot be taken back). It completes with operation_aborted and
///    all its bytes counted as taken; its records still go out, ahead of anything later;
///  - a handshake or a shutdown honours terminal and partial cancellation; the engine keeps
///    its state, and calling the operation again goes on from where it stopped.
/// The _for forms time out the same way, with error::timed_out.
///
/// Threads: like every Asio I/O object, a stream is not safe for concurrent use. Run all of
/// a stream's operations, and poll, on one thread or one strand (make the socket with a
/// strand executor, as the acceptor's strand_per_connection option does, or bind every
/// handler to the same strand); internal handlers and timers run on the executor of the
/// operation that started them. Distinct streams may be used on different threads at once.
///
/// Blocking and asynchronous calls: a blocking call (handshake(), read_some(), write_some(),
/// shutdown()) needs no asynchronous operation pending. That includes the records of a
/// cancelled or timed-out asynchronous write, which the stream keeps sending (they count as
/// outstanding work: io_context::run() does not return while the peer takes nothing, until
/// the stream is shut down, destroyed or its socket closed). Meanwhile a blocking call fails at
/// once with asio::error::in_progress, having done nothing: run the io_context, then retry.
///
/// Destroying the stream, or closing its socket, while operations are pending completes them
/// with asio::error::operation_aborted; they touch no freed memory.
///
/// Errors: socket errors keep Asio's codes; TLS failures are tlsio::error (verification
/// reasons, stream_truncated, not_connected, handshake_timeout) or tlsio::engine_category()
/// codes. failure_detail() adds what an error code cannot carry ("host name mismatch:
/// expected example.com, certificate is for DNS:localhost").
#pragma once

#include <tlsio/compat.hpp>
#include <tlsio/context.hpp>
#include <tlsio/detail/stream_operations.hpp>
#include <tlsio/detail/with_timeout.hpp>
#include <tlsio/engine.hpp>
#include <tlsio/error.hpp>

#include <asio/async_result.hpp>
#include <asio/ip/tcp.hpp>

#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>

namespace tlsio {

namespace detail {
struct stream_access; // lets poll.hpp reach the state the I/O loop shares
} // namespace detail

/// TLS over an Asio stream (see stream.hpp for concurrency, cancellation and the rules for
/// mixing blocking and asynchronous calls).
///
/// Every blocking operation comes in two forms: one throws tlsio::tls_error (a
/// std::system_error whose code() is the error and whose what() names the operation and
/// the failure_detail()), the other reports through a std::error_code& and returns.
///
/// Before the handshake, and after this side's shutdown, reads and writes fail with
/// error::not_connected; the accessors of what was negotiated return empty values before
/// the handshake and keep theirs after shutdown.
///
/// Threads: not safe for concurrent use; see stream.hpp. A moved-from stream may only be
/// destroyed, assigned to, or asked get_executor() and is_connected().
template <class NextLayer = asio::ip::tcp::socket> class stream {
  using state_type = detail::stream_state<NextLayer>;

public:
  /// The type of the layer under TLS (by default a TCP socket).
  using next_layer_type = NextLayer;
  /// The type of the lowest layer (for a TCP socket, the socket itself).
  using lowest_layer_type = typename next_layer_type::lowest_layer_type;
  /// The next layer's executor type.
  using executor_type = typename next_layer_type::executor_type;

  /// A stream whose next layer is constructed from args (an executor, an io_context, or a
  /// connected socket to move in). The context's role decides the side of the handshake;
  /// the context is finalized here (see context::finalize(); a configuration error shows
  /// at the handshake, not here) and the stream copies its handshake timeout. Throws only
  /// what constructing the next layer throws, and std::bad_alloc.
  template <class... Args>
  explicit stream(const context &ctx, Args &&...args)
      : state_(std::make_shared<state_type>(ctx, std::forward<Args>(args)...)),
        executor_(state_->next_layer.get_executor()) {}

  /// Takes over `other`'s connection, operations in progress included (they complete as
  /// they would have).
  stream(stream &&other) noexcept : state_(std::move(other.state_)), executor_(other.executor_) {}
  /// Abandons this stream's connection as the destructor does, then takes over `other`'s.
  stream &operator=(stream &&other) noexcept {
    abandon();
    state_ = std::move(other.state_);
    executor_ = other.executor_;
    return *this;
  }
  /// Pending operations complete with asio::error::operation_aborted (through their
  /// executors, which must still run). Sends no close_notify: call shutdown first for a
  /// clean end. The socket closes once the pending operations have let go of it.
  ~stream() { abandon(); }

  /// The next layer's executor (kept by a moved-from stream, as by a moved-from socket).
  executor_type get_executor() noexcept { return executor_; }
  /// The layer under TLS, for connecting it and for socket options. Reading or writing it
  /// directly corrupts the TLS record stream.
  next_layer_type &next_layer() noexcept { return state_->next_layer; }
  /// The layer under TLS (const).
  const next_layer_type &next_layer() const noexcept { return state_->next_layer; }
  /// The lowest layer (the TCP socket), e.g. to close it or to read its endpoints.
  lowest_layer_type &lowest_layer() noexcept { return state_->next_layer.lowest_layer(); }
  /// The TLS engine, for what the stream does not forward (get_session(), read_ready(),
  /// ...). Its steps and buffers belong to the stream: do not drive it directly.
  tlsio::engine &engine() noexcept { return state_->engine; }
  /// The TLS engine (const).
  const tlsio::engine &engine() const noexcept { return state_->engine; }

  /// Client: the server's name, for SNI and verification (see engine::set_server_name),
  /// set before the handshake.
  void set_server_name(std::string_view name) { state_->engine.set_server_name(name); }
  /// How long a shutdown (asynchronous or blocking) waits for the peer's close_notify
  /// before closing the socket and failing with error::timed_out (milliseconds; default
  /// 3 s; zero or less: no bound). Applies to shutdowns started afterwards.
  void set_shutdown_timeout(std::chrono::milliseconds timeout) {
    state_->shutdown_timeout = timeout;
  }
  /// Write coalescing, off by default. On, a write completes as soon as its records are
  /// queued while less than 64 KiB waits unsent; the queued records leave after its handler
  /// has run, together with those of the writes the handler starts at once, so that a run of
  /// small writes costs one socket write per 64 KiB instead of one each (tlsio-bench
  /// --write-coalescing shows the difference). The flush runs on the stream's executor (the
  /// socket's) before the io_context waits for anything, so that executor must be the one
  /// that runs the stream (an io_context run by one thread, or a strand); operations started
  /// from elsewhere (a thread waiting on use_future) would race with it. What it costs: a
  /// completed write no longer means the socket has its bytes, so end with async_shutdown()
  /// (which sends everything queued first), not by closing, shutting down or cancelling the
  /// socket in the handler, nor by destroying the stream (which then sends only what a TCP
  /// socket takes at once); a socket error met by the flush is reported by the next
  /// operation; a blocking call right after such a write may fail with
  /// asio::error::in_progress. Applies to writes started afterwards.
  void set_write_coalescing(bool on) noexcept { state_->coalesce_writes = on; }
  /// Whether set_write_coalescing(true) is in effect.
  bool write_coalescing() const noexcept { return state_->coalesce_writes; }
  /// The handshake's bound for this stream, in milliseconds, counted from the start of each
  /// handshake call (default: the context's handshake timeout; zero or less: no bound).
  /// Applies to handshakes started afterwards.
  void set_handshake_timeout(std::chrono::milliseconds timeout) {
    state_->handshake_timeout = timeout;
  }

  // --- Handshake -------------------------------------------------------------------------

  /// Performs the TLS handshake as the context's role, over a connected next layer.
  /// Completion signature: void(std::error_code).
  /// Fails with error::handshake_timeout if it takes longer than the handshake timeout,
  /// with a verification reason (error::host_name_mismatch, ...) if the peer is refused,
  /// with error::no_host_name for a verifying client without a server name, with the
  /// context's configuration error (see context::finalize()), error::stream_truncated if
  /// the peer closes, an engine_category() code or a socket error. After a failure the
  /// stream is unusable and failure_detail() says why. Once the handshake has succeeded,
  /// calling it again completes at once with no error.
  template <class Token = tlsio::default_token_t<executor_type>>
  auto async_handshake(Token &&token = {}) {
    return start<void(std::error_code)>(detail::handshake_operation{}, std::forward<Token>(token));
  }
  /// Blocking: performs the handshake on the calling thread, bounded by the handshake
  /// timeout. Errors as async_handshake(), plus asio::error::in_progress (having done
  /// nothing) while an asynchronous write's records are still being sent. Throws
  /// tlsio::tls_error ("TLS handshake: " and the reason).
  void handshake() { throw_if(handshake_ec(), "TLS handshake"); }
  /// As handshake(), reporting the error through `ec` (cleared on success).
  void handshake(std::error_code &ec) { ec = handshake_ec(); }

  // --- Reading and writing ----------------------------------------------------------------

  /// Reads some decrypted bytes into the first non-empty buffer.
  /// Completion signature: void(std::error_code, std::size_t): at least one byte on
  /// success (0 only if every buffer is empty).
  /// asio::error::eof once the peer has sent close_notify; error::stream_truncated if the
  /// connection ended without it; error::not_connected before the handshake or after this
  /// side's shutdown; a socket error or an engine_category() code otherwise.
  template <class MutableBuffers, class Token = tlsio::default_token_t<executor_type>>
  auto async_read_some(const MutableBuffers &buffers, Token &&token = {}) {
    return start<void(std::error_code, std::size_t)>(
        detail::read_operation{{}, detail::first_buffer(buffers)}, std::forward<Token>(token));
  }
  /// Blocking: reads some decrypted bytes into the first non-empty buffer on the calling
  /// thread, waiting as long as it takes, and returns how many (at least one; 0 only if
  /// every buffer is empty). Errors as async_read_some() (eof included), plus
  /// asio::error::in_progress while an asynchronous write's records are still being sent.
  /// Throws tlsio::tls_error ("TLS read: " and the reason).
  template <class MutableBuffers> std::size_t read_some(const MutableBuffers &buffers) {
    std::error_code ec;
    auto n = read_some(buffers, ec);
    throw_if(ec, "TLS read");
    return n;
  }
  /// As read_some(buffers), reporting the error through `ec` (cleared on success) and
  /// returning 0 on error.
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers &buffers, std::error_code &ec) {
    return run_sync(detail::read_operation{{}, detail::first_buffer(buffers)}, ec);
  }

  /// Encrypts and sends some bytes: up to 64 KiB from the first buffer, or several small
  /// buffers joined into one record. Completes once the socket has taken its records (with
  /// set_write_coalescing(true), possibly before: see there).
  /// Completion signature: void(std::error_code, std::size_t).
  /// If it is cancelled, its bytes are already encrypted and count as taken: the flusher
  /// still sends them, ahead of the next write or the shutdown, so the record stream stays
  /// intact. A socket write error breaks the record stream: this and every later operation
  /// report it. error::not_connected before the handshake or after this side's shutdown.
  template <class ConstBuffers, class Token = tlsio::default_token_t<executor_type>>
  auto async_write_some(const ConstBuffers &buffers, Token &&token = {}) {
    return start<void(std::error_code, std::size_t)>(write_op(buffers), std::forward<Token>(token));
  }
  /// Blocking: encrypts up to 64 KiB as async_write_some() does and sends the records on
  /// the calling thread, waiting as long as the socket takes; returns the bytes taken.
  /// Errors as async_write_some(), plus asio::error::in_progress (nothing taken) while an
  /// asynchronous write's records are still being sent. Throws tlsio::tls_error ("TLS
  /// write: " and the reason).
  template <class ConstBuffers> std::size_t write_some(const ConstBuffers &buffers) {
    std::error_code ec;
    auto n = write_some(buffers, ec);
    throw_if(ec, "TLS write");
    return n;
  }
  /// As write_some(buffers), reporting the error through `ec` (cleared on success).
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers &buffers, std::error_code &ec) {
    return run_sync(write_op(buffers), ec);
  }

  /// async_read_some() with a time limit: if nothing completes the read within `timeout`
  /// (a std::chrono duration, counted from the call), it
  /// is cancelled and completes with error::timed_out and 0 bytes, having taken nothing
  /// from the stream (the stream stays usable). Completion signature and other errors as
  /// async_read_some(); cancellation through the handler's slot still works and gives
  /// asio::error::operation_aborted.
  template <class MutableBuffers, class Token = tlsio::default_token_t<executor_type>>
  auto async_read_some_for(const MutableBuffers &buffers,
                           std::chrono::steady_clock::duration timeout, Token &&token = {}) {
    return detail::with_timeout<void(std::error_code, std::size_t)>(
        get_executor(), timeout,
        // The state, not `this`: the stream may move before a deferred operation starts.
        [state = state_, buffers](auto handler) {
          start<void(std::error_code, std::size_t)>(
              state, detail::read_operation{{}, detail::first_buffer(buffers)}, std::move(handler));
        },
        std::forward<Token>(token));
  }
  /// async_write_some() with a time limit: if the socket has not taken the records within
  /// `timeout` (counted from the call), the write completes with error::timed_out and all
  /// its bytes counted as taken; its records still go out, as after a cancellation.
  /// Completion signature and other errors as async_write_some().
  template <class ConstBuffers, class Token = tlsio::default_token_t<executor_type>>
  auto async_write_some_for(const ConstBuffers &buffers,
                            std::chrono::steady_clock::duration timeout, Token &&token = {}) {
    return detail::with_timeout<void(std::error_code, std::size_t)>(
        get_executor(), timeout,
        [state = state_, buffers](auto handler) {
          start<void(std::error_code, std::size_t)>(state, write_op(buffers), std::move(handler));
        },
        std::forward<Token>(token));
  }

  // --- Shutdown ---------------------------------------------------------------------------

  /// Sends close_notify and waits for the peer's (data arriving meanwhile is discarded).
  /// A peer that does not answer within the shutdown timeout has its socket closed and the
  /// operation fails with error::timed_out. The socket stays open otherwise.
  /// Completion signature: void(std::error_code). Other errors: error::not_connected
  /// before the handshake, error::stream_truncated if the peer closes the connection
  /// without close_notify, the error a failed stream has failed with, a socket error.
  /// Afterwards (whatever the outcome, once the handshake had been done) is_connected() is
  /// false and reads and writes fail with error::not_connected; calling it again after
  /// success completes at once.
  template <class Token = tlsio::default_token_t<executor_type>>
  auto async_shutdown(Token &&token = {}) {
    return start<void(std::error_code)>(detail::shutdown_operation{}, std::forward<Token>(token));
  }
  /// async_shutdown with this call's own bound (it also becomes the stream's shutdown
  /// timeout).
  template <class Token = tlsio::default_token_t<executor_type>>
  auto async_shutdown_for(std::chrono::milliseconds timeout, Token &&token = {}) {
    set_shutdown_timeout(timeout);
    return async_shutdown(std::forward<Token>(token));
  }
  /// Blocking: sends close_notify and waits on the calling thread for the peer's, bounded
  /// by the shutdown timeout (on timeout the socket is closed and the error is
  /// error::timed_out). Errors as async_shutdown(), plus asio::error::in_progress while an
  /// asynchronous write's records are still being sent. Throws tlsio::tls_error ("TLS
  /// shutdown: " and the reason).
  void shutdown() { throw_if(shutdown_ec(), "TLS shutdown"); }
  /// As shutdown(), reporting the error through `ec` (cleared on success).
  void shutdown(std::error_code &ec) { ec = shutdown_ec(); }

  // --- What was negotiated ----------------------------------------------------------------

  /// True from a successful handshake until this side's shutdown ends (whatever its
  /// outcome); false before, and for a moved-from stream. A later failure (the peer's
  /// close, a bad record) does not clear it: the operations report the failure.
  bool is_connected() const noexcept {
    return state_ && state_->engine.handshake_done() && !state_->closed;
  }
  /// "TLSv1.2"; empty before the handshake. The accessors below keep their values after
  /// shutdown and failures.
  std::string protocol_version() const { return state_->engine.protocol_version(); }
  /// The cipher suite's name (see engine::cipher_suite()); empty before the handshake.
  std::string cipher_suite() const { return state_->engine.cipher_suite(); }
  /// The protocol agreed by ALPN; empty if none, and before the handshake.
  std::string alpn_protocol() const { return state_->engine.alpn_protocol(); }
  /// Whether the handshake resumed an earlier session; false before the handshake.
  bool resumed() const noexcept { return state_->engine.resumed(); }
  /// The peer's certificate; nothing before the handshake or if the peer sent none.
  std::optional<certificate_info> peer_certificate() const {
    return state_->engine.peer_certificate();
  }
  /// The peer certificate's verification result (see engine::verification_result()):
  /// empty if it verified or was not checked, and before it was checked.
  std::error_code verification_result() const noexcept {
    return state_->engine.verification_result();
  }
  /// A sentence about the last TLS failure, with details its error code cannot carry;
  /// empty if none. Socket errors are not TLS failures and leave it empty.
  std::string failure_detail() const { return state_->engine.failure_detail(); }

  /// This end's address (the seed's connection-self-address), from the socket: valid once
  /// it is bound or connected, handshake or not. Throws std::system_error (Asio's) if the
  /// socket is closed.
  auto local_endpoint() const { return state_->next_layer.lowest_layer().local_endpoint(); }
  /// The peer's address (the seed's connection-peer-address), from the socket. Throws
  /// std::system_error (Asio's) if the socket is not connected or closed.
  auto remote_endpoint() const { return state_->next_layer.lowest_layer().remote_endpoint(); }

private:
  friend struct detail::stream_access;

  template <class Signature, class Operation, class Token> auto start(Operation op, Token &&token) {
    return start<Signature>(state_, std::move(op), std::forward<Token>(token));
  }
  template <class Signature, class Operation, class Token>
  static auto start(const std::shared_ptr<state_type> &state, Operation op, Token &&token) {
    return asio::async_compose<Token, Signature>(
        detail::io_op<NextLayer, Operation>(state, std::move(op)), token, state->next_layer);
  }

  template <class Operation> std::size_t run_sync(Operation op, std::error_code &ec) {
    auto [error, n] = detail::run_sync(*state_, std::move(op));
    ec = error;
    return n;
  }

  template <class ConstBuffers>
  static detail::write_operation write_op(const ConstBuffers &buffers) {
    detail::write_operation op;
    auto bytes = detail::gather(buffers, op.gathered, 4 * engine::max_record_payload);
    if (op.gathered.empty())
      op.direct = bytes;
    return op;
  }

  std::error_code handshake_ec() {
    std::error_code ec;
    run_sync(detail::handshake_operation{}, ec);
    return ec;
  }
  std::error_code shutdown_ec() {
    std::error_code ec;
    run_sync(detail::shutdown_operation{}, ec);
    return ec;
  }

  void throw_if(const std::error_code &ec, const char *what) const {
    if (!ec)
      return;
    auto detail = state_->engine.failure_detail();
    throw tls_error(ec, std::string(what) + ": " + (detail.empty() ? ec.message() : detail));
  }

  // Wakes pending operations so they complete with operation_aborted and let go.
  void abandon() noexcept {
    if (!state_)
      return;
    // Records a completed write left for its coalesced flush go as far as the socket takes
    // them now; a socket write in flight is abandoned with the rest.
    if (!state_->writing)
      detail::send_at_once(*state_);
    state_->destroyed = true;
    state_->read_done.cancel();
    state_->write_done.cancel();
    state_->deadline.cancel();
    std::error_code ignored;
    state_->next_layer.lowest_layer().cancel(ignored);
  }

  std::shared_ptr<state_type> state_;
  executor_type executor_;
};

} // namespace tlsio
