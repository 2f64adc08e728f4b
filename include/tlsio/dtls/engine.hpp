/// \file
/// tlsio::dtls::engine: one DTLS 1.2 association without I/O (sans-I/O), RFC 6347.
///
/// The datagram counterpart of tlsio::engine. It owns the DTLS state of one association
/// with one peer, a queue of datagrams that came from the peer and a queue of datagrams that
/// must go to it. Its steps (handshake, send, receive, shutdown, on_timeout) never block and
/// never touch a socket; each returns a tlsio::step_result:
///
///  - status::done: the step is complete;
///  - status::want_input: give it the next datagram from the peer (put_datagram()), or call
///    on_timeout() once next_timeout() has come, then call the same step again;
///  - status::closed: (receive) the peer ended the association with close_notify;
///  - status::failed: step_result::error says why; the engine can do nothing more.
///
/// With status::done, step_result::error may still be set: the step is over and the engine
/// goes on, but this message fared so: error::message_too_large (send: nothing was queued)
/// or error::message_truncated (receive: the buffer holds the message's start).
///
/// After every step, whatever the status, send each pending_datagram() to the peer, one
/// datagram per send (then pop_datagram()): a step may queue datagrams (a flight, a
/// retransmission, an alert) even when it also wants input or has failed.
///
/// Datagrams keep their boundaries: one put_datagram() is one datagram as the socket gave
/// it, one queued datagram is one socket send, and one message sent is one message
/// received (or lost: DTLS does not retransmit application data).
///
/// Time: the engine reads the clock it was given at construction; tests pass a fake one
/// and move it. Retransmission (RFC 6347 §4.2.4) starts at 1 s and doubles at each
/// retransmission of a flight; the whole handshake is bounded by the context's handshake
/// timeout (context::set_handshake_timeout(), 10 s unless set), after which it fails with
/// error::handshake_timeout; no wait between retransmissions is longer than that timeout.
/// A context without a handshake timeout (zero or less) leaves Mbed TLS's own bound: the
/// waits double up to 60 s, and the handshake fails when the next would be longer (about
/// two minutes in all). Whoever drives the engine calls on_timeout() when next_timeout()
/// has come.
///
/// Backend: Mbed TLS only (DTLS 1.2; backend_info::dtls tells which backends have it).
/// The context's rules are the stream's: TLS 1.2 floor (here DTLS 1.2), AEAD suites,
/// verification of the chain and the host name on by default, renegotiation off.
///
/// Thread safety: one engine must not be used by two threads at once. Distinct engines
/// sharing one context may be used concurrently.
#pragma once

#include <tlsio/context.hpp>
#include <tlsio/engine.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace tlsio::dtls {

/// The clock of retransmission and handshake timeouts.
using clock = std::chrono::steady_clock;

/// One DTLS 1.2 association without I/O (see dtls/engine.hpp).
///
/// Thread safety: not safe for concurrent use; one thread (or strand) at a time.
///
/// Errors: steps report through step_result; nothing throws but the constructor and
/// allocation. After the first failure every step returns status::failed with the same
/// error, and failure() and failure_detail() tell it.
class engine {
public:
  /// The MTU unless set_mtu() says otherwise: 1232 bytes of UDP payload, what an IPv6 path's
  /// minimum MTU (1280, RFC 8200 §5) leaves after the IPv6 and UDP headers, so no datagram
  /// is fragmented on any path.
  static constexpr std::size_t default_mtu = 1232;
  /// At most this many received datagrams wait for a step; put_datagram() drops more, as a
  /// full socket buffer would.
  static constexpr std::size_t max_queued_datagrams = 64;

  /// A fresh association using ctx's configuration (which becomes read-only), reading time
  /// from `now` (default: the steady clock). Problems in the configuration (no system CA
  /// store, a server without a certificate) do not throw: the engine starts failed and the
  /// first handshake step reports them, as tlsio::engine does.
  /// Throws std::system_error with error::dtls_unavailable if ctx's backend has no DTLS
  /// (OpenSSL), and with an engine_category() code if Mbed TLS cannot be set up.
  explicit engine(const context &ctx, std::function<clock::time_point()> now = &clock::now);
  /// Frees the association's state. Sends nothing: call shutdown() first for a clean end.
  ~engine();
  /// Takes over `other`'s association; `other` may then only be destroyed or assigned to.
  engine(engine &&other) noexcept;
  /// Frees this association's state and takes over `other`'s.
  engine &operator=(engine &&other) noexcept;

  /// Client: the name of the server, for SNI and certificate verification, with the rules
  /// of tlsio::engine::set_server_name() (DNS names as SNI, IP literals not sent and matched
  /// against IP addresses, one trailing dot dropped; error::invalid_server_name for an
  /// unusable name; error::no_host_name at the handshake if a verifying client has none).
  /// Call it before the first handshake step; later it fails the engine with
  /// error::invalid_server_name.
  void set_server_name(std::string_view name);
  /// The server name as it is sent and verified. Empty until set_server_name().
  const std::string &server_name() const noexcept;

  /// Server: the client's transport address (e.g. its IP address and port as bytes), which
  /// HelloVerifyRequest cookies are bound to (RFC 6347 §4.2.1). Call it before the first
  /// handshake step; the engine keeps it across the cookie exchange. Without it a server
  /// cannot verify cookies and answers no ClientHello.
  void set_client_id(std::span<const std::byte> id);

  /// The path MTU: the largest datagram, in bytes of UDP payload, the engine may queue.
  /// Handshake messages larger than it are fragmented (RFC 6347 §4.2.3); application
  /// messages must fit (max_message_size()). Takes effect for the next datagram; Mbed TLS
  /// may go lower for a handshake flight after two retransmissions of it (to 508 bytes,
  /// RFC 6347 §4.1.1.1). Values below 256 or above 65507 are clamped to those.
  void set_mtu(std::size_t bytes);
  /// The MTU set_mtu() set; default_mtu unless set.
  std::size_t mtu() const noexcept;

  /// Client: offer to resume `s` (from get_session() of an earlier DTLS association, or
  /// context::cached_session()), with tlsio::engine::set_session()'s rules: offered only
  /// if `s` was made over DTLS on an engine of this context for the same server name
  /// (otherwise, and if the server declines, a full handshake); a session of another
  /// backend fails the handshake with error::wrong_backend. Before the first handshake
  /// step; no effect later or on a server. The server resumes with the ticket it issued
  /// (context::enable_session_tickets() on the server's context; RFC 5077).
  void set_session(const session &s);
  /// Client, after the handshake: the session to resume next time (a TLS session of the
  /// stream engine is never offered here, nor this one there). Nothing before the
  /// handshake, on a server, or once a fatal failure (an alert, a failed verification;
  /// not a handshake timeout) has made it unfit for resumption (RFC 5246 §7.2.2).
  std::optional<session> get_session() const;
  /// After the handshake: whether it resumed an earlier session (abbreviated handshake,
  /// RFC 5246 §7.3). False before the handshake is done.
  bool resumed() const noexcept;
  /// Client: put the session this association makes into the context's session cache
  /// (context::enable_session_cache()) under `server` when the handshake completes.
  /// tlsio::dtls::async_connect() sets "name:port/udp". Call it before the handshake
  /// completes; nothing happens without a cache.
  void set_session_cache_key(std::string_view server);

  // --- Steps --------------------------------------------------------------------------------

  /// Advance the handshake (RFC 6347 §4.2). done once it has completed and the peer is
  /// verified (tlsio::engine::handshake() tells the verification rules; the errors are
  /// the same, e.g. error::host_name_mismatch with the same failure_detail()).
  ///
  /// Server: a ClientHello without a valid cookie is answered by a HelloVerifyRequest
  /// with one, written statelessly (the ClientHello is read no further than its cookie,
  /// and forgotten; want_input); only a ClientHello that returns a valid cookie starts a
  /// handshake (cookie_verified()). Until then anything else (garbage, other messages) is
  /// dropped without an answer and without failing the engine, since its source address
  /// is not yet shown to be the sender's. From then on a ClientHello the server refuses (no
  /// common suite or ALPN protocol) gets a fatal alert, so the client fails at once rather
  /// than at its handshake timeout.
  ///
  /// Errors (status::failed): as tlsio::engine::handshake(), and error::handshake_timeout
  /// once the context's handshake timeout has passed since the handshake began (the
  /// client's first step; on a server, the cookie's verification). Once done, calling it
  /// again returns done.
  step_result handshake();
  /// Encrypt `message` into one record, queued as one datagram (RFC 6347 §4.1.1: a record
  /// never spans datagrams). done with bytes == message.size(); done with 0 bytes and
  /// error::message_too_large if it exceeds max_message_size(), nothing queued; failed with
  /// error::not_connected before the handshake or once shutdown() has run.
  step_result send(std::span<const std::byte> message);
  /// Decrypt the next message from the received datagrams into `buffer`: done with its size
  /// in bytes. A message longer than the buffer: done with buffer.size() bytes and
  /// error::message_truncated, the rest discarded; the next receive gets the next message.
  /// want_input when no message waits; closed once the peer has sent close_notify.
  /// Records that are not the next message are processed on the way: duplicates and
  /// replays are dropped (anti-replay, RFC 6347 §4.1.2.6), records that fail
  /// authentication are dropped (§4.1.2.7), and a retransmitted final flight of the peer is
  /// answered with ours again (§4.2.4: the peer missed it). Call it after each
  /// put_datagram() once the handshake is done, even when no message is expected.
  /// Errors (status::failed): error::not_connected before the handshake,
  /// error::peer_reconnected (server: the client's address sent a new ClientHello with a
  /// valid cookie, §4.2.8), an engine_category() code (a fatal alert from the peer, ...).
  step_result receive(std::span<std::byte> buffer);
  /// Queue close_notify (once). done at once: over datagrams nobody waits for the peer's.
  /// failed with error::not_connected before the handshake.
  step_result shutdown();
  /// The clock has reached next_timeout(): retransmit the last flight (RFC 6347 §4.2.4), or
  /// fail the handshake with error::handshake_timeout once its time is up. Returns what
  /// handshake() returns; done and nothing else once the handshake is complete. Calling it
  /// early does no harm.
  step_result on_timeout();
  /// When on_timeout() must be called next; nothing if no timer runs (no flight waits for
  /// an answer, or the handshake is over or failed).
  std::optional<clock::time_point> next_timeout() const;

  // --- The two queues -----------------------------------------------------------------------

  /// One datagram from the peer, whole (its UDP payload). An empty one, or one beyond
  /// max_queued_datagrams waiting, is dropped. Then call the step again.
  void put_datagram(std::span<const std::byte> datagram);
  /// Received datagrams not yet processed.
  std::size_t queued_input() const noexcept;
  /// The oldest datagram waiting to be sent; empty if none. The bytes stay valid until
  /// pop_datagram(), whatever steps run meanwhile.
  std::span<const std::byte> pending_datagram() const noexcept;
  /// The datagram pending_datagram() shows has been sent (or given up); the next is shown.
  void pop_datagram() noexcept;
  /// Datagrams waiting to be sent.
  std::size_t queued_output() const noexcept;

  // --- State --------------------------------------------------------------------------------

  /// Whether the handshake has completed (and stays true after shutdown() or a failure).
  bool handshake_done() const noexcept;
  /// Server: whether a ClientHello with a valid cookie has come (RFC 6347 §4.2.1), so that
  /// the engine now keeps a handshake for a peer whose address answered. Before it, the
  /// engine holds no handshake state, runs no timer and answers each ClientHello with a
  /// HelloVerifyRequest no larger than it. Client: whether the handshake has begun.
  bool cookie_verified() const noexcept;
  /// When the engine last took an authenticated record from the peer (one that decrypted
  /// and verified, and was not a replay): the end of the handshake at the earliest; nothing
  /// before it. For an idle timeout (UDP has no FIN, and a close_notify may be lost):
  /// garbage, replays and forged datagrams never move it, so they cannot keep an
  /// association alive. Read from the engine's clock.
  std::optional<clock::time_point> last_authenticated() const noexcept;
  /// The largest message send() takes now, in bytes: one record at the current MTU less
  /// the record's header and the cipher's expansion. 0 before the handshake is done.
  std::size_t max_message_size() const noexcept;
  /// The error the engine failed with, if it has; empty otherwise.
  std::error_code failure() const noexcept;
  /// A sentence about the last failure with the details its error code cannot carry; the
  /// error's message when there are none; empty if nothing failed.
  std::string failure_detail() const;

  // --- After the handshake ------------------------------------------------------------------

  /// The protocol version, "DTLSv1.2"; empty before the handshake is done.
  std::string protocol_version() const;
  /// The cipher suite in Mbed TLS's name, e.g. "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256";
  /// empty before the handshake is done.
  std::string cipher_suite() const;
  /// The certificate the peer presented (its leaf); nothing before the handshake is done or
  /// if the peer sent none.
  std::optional<certificate_info> peer_certificate() const;
  /// The application protocol agreed by ALPN (context::set_alpn()); empty if none was, and
  /// before the handshake is done. A DTLS server whose list shares nothing with the
  /// client's refuses the handshake (fatal alert no_application_protocol, RFC 7301 §3.2)
  /// whatever the context's alpn_mismatch: proceeding is the stream engine's alone.
  std::string alpn_protocol() const;
  /// The verification result of the peer's certificate, as
  /// tlsio::engine::verification_result() tells it.
  std::error_code verification_result() const noexcept;

  /// The implementation (internal; defined in the library's sources).
  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace tlsio::dtls
