/// \file
/// tlsio::dtls::stream: one DTLS 1.2 association over UDP whose handshake has completed,
/// sending and receiving whole messages (the seed's tls-connect / tls-accept with
/// `proto 'udp`; RFC 6347).
///
/// Streams come from tlsio::dtls::async_connect() (a client, over a connected UDP socket of
/// its own) and tlsio::dtls::acceptor::async_accept() (a server's association, sharing the
/// acceptor's socket). Example:
///
///     namespace dtls = tlsio::dtls;
///     dtls::stream ds = co_await dtls::async_connect(client_ctx, "localhost", "4433");
///     co_await ds.async_send(asio::buffer("ping", 4));
///     std::array<char, 1500> message;
///     std::size_t n = co_await ds.async_receive(asio::buffer(message));
///     co_await ds.async_shutdown();
///
/// Messages keep their boundaries: one async_send() is one datagram, and the peer's
/// async_receive() gets it whole or not at all (UDP may lose, duplicate or reorder it; DTLS
/// drops duplicates and replays, RFC 6347 §4.1.2.6, and retransmits only handshake
/// messages). A message must fit in one record at the path MTU: max_message_size().
///
/// The association lives on while the stream exists: a background step answers the peer's
/// retransmitted last flight (§4.2.4) and decrypts arriving messages into a queue (at most
/// max_queued_messages; more are dropped, as a full socket buffer would), whether or not a
/// receive is waiting. A cancelled or timed-out receive therefore loses nothing: the message
/// stays queued for the next one.
///
/// Idle timeout: UDP has no FIN and a close_notify may be lost, so an association from
/// which nothing authenticated has come for the idle timeout ends with
/// error::idle_timeout (pending and later receives report it). Garbage and replayed
/// datagrams do not keep it alive.
///
/// Threads: every operation runs on the stream's executor, a strand (get_executor()); the
/// asynchronous operations may be started from any thread, and any number may be pending at
/// once (each message goes to one receive). The other members read values
/// fixed at the handshake and are safe from any thread, except move and destruction.
#pragma once

#include <tlsio/compat.hpp>
#include <tlsio/detail/dtls_operations.hpp>
#include <tlsio/engine.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/udp.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

namespace tlsio::dtls {

class stream;

namespace detail {
/// No time limit, or the steady-clock time after which the operation fails with timed_out.
using time_limit = std::optional<std::chrono::steady_clock::time_point>;
void start_send(std::shared_ptr<association> a, asio::const_buffer message, time_limit limit,
                asio::cancellation_slot slot,
                std::unique_ptr<completion<std::error_code, std::size_t>> done);
void start_receive(std::shared_ptr<association> a, asio::mutable_buffer buffer, time_limit limit,
                   asio::cancellation_slot slot,
                   std::unique_ptr<completion<std::error_code, std::size_t>> done);
/// now + timeout, or no limit if that is past the clock's end.
inline time_limit limit_after(std::chrono::steady_clock::duration timeout) {
  auto now = std::chrono::steady_clock::now();
  if (timeout >= std::chrono::steady_clock::time_point::max() - now)
    return std::nullopt;
  return now + timeout;
}
void start_shutdown(std::shared_ptr<association> a, asio::cancellation_slot slot,
                    std::unique_ptr<completion<std::error_code>> done);
asio::any_io_executor executor_of(const std::shared_ptr<association> &a);
const std::shared_ptr<association> &state_of(const stream &s) noexcept;
struct stream_access;
} // namespace detail

/// One DTLS 1.2 association whose handshake has completed (see dtls/stream.hpp).
///
/// Errors reach the completion handlers as std::error_code: tlsio::error values
/// (message_too_large, message_truncated, idle_timeout, peer_reconnected, not_connected,
/// timed_out), tlsio::engine_category() codes (a fatal alert), asio::error::eof (the peer
/// sent close_notify), asio::error::operation_aborted (cancelled, or the stream was closed
/// while the operation waited) and asio::error::bad_descriptor (the stream is closed or
/// empty). Nothing here throws but allocation.
class stream {
public:
  /// The stream's strand.
  using executor_type = asio::any_io_executor;
  /// Received messages waiting for async_receive(); more are dropped.
  static constexpr std::size_t max_queued_messages = 64;

  /// An empty stream (what a failed connect or accept completes with): every operation
  /// fails with asio::error::bad_descriptor (completing on the handler's associated
  /// executor, or asio::system_executor for a handler without one), and get_executor()
  /// must not be called.
  stream() noexcept;
  /// Closes the association (as close()); pending operations complete with
  /// asio::error::operation_aborted. Sends nothing: call async_shutdown() for a clean end.
  ~stream();
  /// Takes over `other`'s association; `other` becomes empty.
  stream(stream &&other) noexcept;
  /// Closes this association and takes over `other`'s.
  stream &operator=(stream &&other) noexcept;

  /// The strand every operation of this stream runs on. Throws std::system_error
  /// (asio::error::bad_descriptor) for an empty stream: in
  /// `co_spawn(s.get_executor(), f(std::move(s)), ...)` the move may come first, so take
  /// the executor into a variable before moving the stream.
  executor_type get_executor() const;
  /// Whether the stream holds an association (false once empty: default-constructed,
  /// moved from or closed).
  bool is_open() const noexcept;

  /// Sends `message` as one DTLS record in one datagram.
  ///
  /// Completion signature: void(std::error_code, std::size_t bytes): message.size() once
  /// the datagram is handed to the socket (UDP may still lose it). Errors:
  /// error::message_too_large with 0 bytes if the message exceeds max_message_size() (or the
  /// socket refused the datagram as larger than the path allows: the MTU is then lowered,
  /// see max_message_size()), nothing sent; the error the association ended with
  /// (idle_timeout, peer_reconnected, an alert, error::not_connected after async_shutdown());
  /// asio::error::operation_aborted if cancelled (terminal or partial: total cancellation,
  /// which promises no effect, is not taken) or closed while the socket was full: the
  /// datagram may still be sent.
  template <class Token = tlsio::default_token_t<executor_type>>
  auto async_send(asio::const_buffer message, Token &&token = {}) {
    return initiate_send(message, std::nullopt, std::forward<Token>(token));
  }

  /// Receives the next message into `buffer`.
  ///
  /// Completion signature: void(std::error_code, std::size_t bytes), the message's size.
  /// Errors: error::message_truncated with buffer.size() bytes if the message was longer
  /// (the rest is discarded; the next receive gets the next message); asio::error::eof once
  /// the peer's close_notify came and the messages before it are taken; the error the
  /// association ended with (error::idle_timeout, error::peer_reconnected, an
  /// engine_category() alert); asio::error::operation_aborted with 0 bytes if cancelled
  /// (terminal, partial or total: nothing is taken from the queue) or closed.
  template <class Token = tlsio::default_token_t<executor_type>>
  auto async_receive(asio::mutable_buffer buffer, Token &&token = {}) {
    return initiate_receive(buffer, std::nullopt, std::forward<Token>(token));
  }

  /// async_receive() with a time limit: if no message comes within `timeout`, it completes
  /// with error::timed_out and 0 bytes, having taken nothing.
  template <class Token = tlsio::default_token_t<executor_type>>
  auto async_receive_for(asio::mutable_buffer buffer, std::chrono::steady_clock::duration timeout,
                         Token &&token = {}) {
    return initiate_receive(buffer, detail::limit_after(timeout), std::forward<Token>(token));
  }

  /// async_send() with a time limit (the socket's buffer may stay full): error::timed_out
  /// after `timeout`; the datagram may still be sent.
  template <class Token = tlsio::default_token_t<executor_type>>
  auto async_send_for(asio::const_buffer message, std::chrono::steady_clock::duration timeout,
                      Token &&token = {}) {
    return initiate_send(message, detail::limit_after(timeout), std::forward<Token>(token));
  }

  /// Sends close_notify (RFC 5246 §7.2.1) and ends the association: over datagrams nobody
  /// waits for the peer's. Later sends and receives fail with error::not_connected.
  ///
  /// Completion signature: void(std::error_code). Errors: the error the association had
  /// already ended with (then nothing is sent); asio::error::operation_aborted if
  /// cancelled (terminal or partial) while the socket was full.
  template <class Token = tlsio::default_token_t<executor_type>>
  auto async_shutdown(Token &&token = {}) {
    return asio::async_initiate<Token, void(std::error_code)>(
        [](auto handler, std::shared_ptr<detail::association> a) {
          auto slot = asio::get_associated_cancellation_slot(handler);
          auto ex = detail::executor_of(a);
          detail::start_shutdown(std::move(a), slot,
                                 detail::make_completion<std::error_code>(std::move(handler), ex));
        },
        token, state_);
  }

  /// Ends the association at once, sending nothing (the peer learns of it through its idle
  /// timeout): pending operations complete with asio::error::operation_aborted, and the
  /// stream becomes empty. A client's socket is closed; a server's association leaves its
  /// acceptor. No effect on an empty stream. Not concurrently with other members.
  void close();

  /// The largest message async_send() takes now, in bytes: one record at the current MTU
  /// less the record's header and the cipher's expansion (e.g. 1195 at the default MTU of
  /// 1232 with AES-GCM). Lowered when the socket reports a datagram too large for the path.
  /// 0 for an empty stream.
  std::size_t max_message_size() const noexcept;
  /// This side's address and port. Throws std::system_error (bad_descriptor) if empty.
  asio::ip::udp::endpoint local_endpoint() const;
  /// The peer's address and port. Throws std::system_error (bad_descriptor) if empty.
  asio::ip::udp::endpoint remote_endpoint() const;
  /// "DTLSv1.2"; empty for an empty stream.
  std::string protocol_version() const;
  /// The negotiated cipher suite in Mbed TLS's name, e.g.
  /// "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"; empty for an empty stream.
  std::string cipher_suite() const;
  /// The certificate the peer presented (its leaf); nothing if it sent none.
  std::optional<certificate_info> peer_certificate() const;
  /// Client: the name verified and sent as SNI. Server: empty.
  std::string server_name() const;
  /// The application protocol agreed by ALPN (context::set_alpn()); empty if none, and for
  /// an empty stream. (A DTLS server refuses a client whose list shares nothing with its
  /// own: see dtls::engine::alpn_protocol().)
  std::string alpn_protocol() const;
  /// Whether the handshake resumed an earlier session (RFC 5077 ticket; abbreviated
  /// handshake). False for an empty stream.
  bool resumed() const noexcept;
  /// Client: the session to resume next time (connect_options::resume), as
  /// dtls::engine::get_session() tells; nothing on a server, for an empty stream, or once a
  /// fatal alert has ended the session's use (RFC 5246 §7.2.2). With the context's session
  /// cache on, async_connect() caches it already.
  std::optional<session> get_session() const;
  /// Why the association ended, in a sentence a person can act on (a verification reason,
  /// the alert the peer sent, the idle timeout); empty while it lives, after close_notify
  /// and after close(). Thread-safe.
  std::string failure_detail() const;

private:
  template <class Token>
  auto initiate_send(asio::const_buffer message, detail::time_limit limit, Token &&token) {
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        [](auto handler, std::shared_ptr<detail::association> a, asio::const_buffer m,
           detail::time_limit l) {
          auto slot = asio::get_associated_cancellation_slot(handler);
          auto ex = detail::executor_of(a);
          detail::start_send(
              std::move(a), m, l, slot,
              detail::make_completion<std::error_code, std::size_t>(std::move(handler), ex));
        },
        token, state_, message, limit);
  }
  template <class Token>
  auto initiate_receive(asio::mutable_buffer buffer, detail::time_limit limit, Token &&token) {
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        [](auto handler, std::shared_ptr<detail::association> a, asio::mutable_buffer b,
           detail::time_limit l) {
          auto slot = asio::get_associated_cancellation_slot(handler);
          auto ex = detail::executor_of(a);
          detail::start_receive(
              std::move(a), b, l, slot,
              detail::make_completion<std::error_code, std::size_t>(std::move(handler), ex));
        },
        token, state_, buffer, limit);
  }

  friend struct detail::stream_access;
  friend const std::shared_ptr<detail::association> &detail::state_of(const stream &) noexcept;
  explicit stream(std::shared_ptr<detail::association> a) noexcept;
  std::shared_ptr<detail::association> state_;
};

} // namespace tlsio::dtls
