/// \file
/// tlsio::engine: one TLS connection without I/O (sans-I/O).
///
/// The engine owns the TLS state of one connection and two byte buffers: the input that
/// came from the peer and the output that must go to it. Its steps (handshake, read, write,
/// shutdown) never block and never touch a socket. Each returns what it needs next:
///
///  - status::done: the step is complete;
///  - status::want_input: give it more bytes from the peer (put_input(), or prepare_input()
///    and commit_input(), or put_eof()), then call the same step again;
///  - status::closed: (read, shutdown) the peer ended the TLS session with close_notify;
///  - status::failed: result.error says why; the engine can do nothing more.
///
/// After every step, whatever the status, send pending_output() to the peer (then
/// consume_output()): a step may queue records (handshake flights, an alert that explains
/// a failure) even when it also wants input or has failed.
///
/// tlsio::stream drives an engine over an Asio socket; other event loops can drive it the
/// same way. Two engines can also be wired back to back in memory, as the tests do.
///
/// The TLS work is done by the context's backend (tlsio::backend: Mbed TLS or OpenSSL; see
/// backend.hpp); this contract is the same on each. Where TLS 1.3 (OpenSSL) differs, the
/// member says so.
///
/// Thread safety: one engine must not be used by two threads at once. Distinct engines
/// sharing one context may be used concurrently.
#pragma once

#include <tlsio/context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace tlsio {

/// What a step of the engine needs next.
enum class status {
  done,       ///< The step is complete.
  want_input, ///< Give the engine more input (or put_eof()), then call the same step again.
  closed,     ///< read(): the peer sent close_notify; no more data will come.
  failed,     ///< The engine has failed (step_result::error says why) and stays failed.
};

/// The outcome of one engine step.
struct step_result {
  /// What the step needs next.
  tlsio::status status = status::done;
  /// read: bytes placed in the caller's buffer; write: bytes taken from it.
  std::size_t bytes = 0;
  /// Set when status is failed.
  std::error_code error;
};

/// A certificate as the peer presented it.
struct certificate_info {
  std::string subject; ///< The subject's distinguished name, e.g. "CN=localhost, O=tlsio test".
  std::string issuer;  ///< The issuer's distinguished name, in the same form.
  std::chrono::system_clock::time_point not_before; ///< Start of validity (notBefore).
  std::chrono::system_clock::time_point not_after;  ///< End of validity (notAfter).
  std::string serial; ///< The serial number, hex bytes separated by colons ("01:A2:FF").
  std::string pem;    ///< The certificate itself, PEM, ending with a newline.
};

/// A TLS session a client can resume (its ticket or session id, and master secret).
/// Copyable and cheap to copy; thread-safe to copy and pass between threads.
///
/// A session remembers what it was made for: the server name (compared without case and
/// without a trailing dot) and the context, whose trust settings verified it. An engine
/// offers it only for the same server name, on an engine of the same context; otherwise
/// the engine does a full handshake, which verifies the server afresh. A fatal failure (a fatal
/// alert sent or received, a bad record MAC, a failed verification) on any connection that offered
/// or made the session ends its use for resumption (RFC 5246 §7.2.2); a connection closed without
/// close_notify does not (§7.2.1).
///
/// Obtain one from engine::get_session(), stream::engine().get_session() or
/// context::cached_session(); hand it to engine::set_session() (tlsio::async_connect does
/// both through the context's session cache).
class session {
public:
  /// The session's state (internal; defined in the library's sources).
  struct impl;
  /// For the library: wraps the state engine::get_session() made. Applications never
  /// need it.
  explicit session(std::shared_ptr<const impl> i) : impl_(std::move(i)) {}
  /// For the library: the state.
  const impl &get() const noexcept { return *impl_; }
  /// For the library: the shared state, which the session cache keeps.
  const std::shared_ptr<const impl> &shared() const noexcept { return impl_; }

private:
  std::shared_ptr<const impl> impl_;
};

/// One TLS connection without I/O (see engine.hpp): steps that never block, an input and
/// an output buffer that the caller moves to and from the peer.
///
/// Thread safety: not safe for concurrent use; one thread (or strand) at a time. Distinct
/// engines, even of one context, may be used on different threads at once.
///
/// Errors: steps report through step_result (status::failed and step_result::error);
/// nothing throws but allocation (std::bad_alloc). After the first failure every step
/// returns status::failed with the same error, and failure() and failure_detail() tell it.
class engine {
public:
  /// The largest amount of application data in one TLS record.
  static constexpr std::size_t max_record_payload = 16384;

  /// A fresh connection using ctx's configuration (which becomes read-only: ctx.finalize()
  /// runs here). Problems in the configuration (no system CA store, a certificate without
  /// its key) do not throw: the engine starts failed, and the first handshake step reports
  /// them, so that connecting is where they show. The engine keeps the context alive.
  explicit engine(const context &ctx);
  /// Frees the connection's state. Sends nothing: call shutdown() first for a clean end.
  ~engine();
  /// Takes over `other`'s connection; `other` may then only be destroyed or assigned to.
  engine(engine &&other) noexcept;
  /// Frees this connection's state and takes over `other`'s, which may then only be
  /// destroyed or assigned to.
  engine &operator=(engine &&other) noexcept;

  /// Client: the name of the server, for SNI and certificate verification. A DNS name is
  /// sent as SNI and matched against the certificate's DNS names; an IPv4 or IPv6 literal
  /// ("127.0.0.1", "::1", "[::1]") is not sent and is matched against its IP addresses.
  /// Only the subjectAltName extension counts: a certificate without one matches no name,
  /// whatever its Common Name says (error::host_name_mismatch).
  ///
  /// One trailing dot is dropped ("localhost." is sent and verified as "localhost"; RFC 6066
  /// forbids the dot in SNI). A name that is empty or has an empty label ("a..b", ".a",
  /// "a..") fails the engine: the first handshake step reports error::invalid_server_name
  /// and nothing is sent. A client that verifies must have a name, or the handshake fails
  /// with error::no_host_name.
  ///
  /// Call it before the first handshake step. Once the handshake has started, the name
  /// cannot change: a call then fails the engine with error::invalid_server_name (unless
  /// it has already failed).
  void set_server_name(std::string_view name);
  /// The server name as it is sent and verified: without the trailing dot. Empty until
  /// set_server_name() is called.
  const std::string &server_name() const noexcept;

  /// Client: offer to resume `s` (from get_session() of an earlier connection). The offer
  /// is made by the first handshake step, and only if `s` may resume here (see session:
  /// same server name as set_server_name(), same context); otherwise, and if the
  /// server declines, a full handshake happens. resumed() tells which. Client only, and
  /// before the first handshake step: a session set later is not offered. A TLS 1.3
  /// session (a ticket) is offered once, whichever engine offers it (RFC 8446 §C.4): offered
  /// again, it brings a full handshake.
  void set_session(const session &s);
  /// Client, after the handshake: the session to resume next time; the same session on
  /// every call (under TLS 1.3, the newest ticket the server sent). Nothing before the
  /// handshake, on a server, or once a fatal failure has made the session unfit for
  /// resumption. Under TLS 1.3 the server's ticket comes after the handshake: nothing until
  /// a read step (or read_ready(), or shutdown()) has processed it. A session of one
  /// backend offered to another's engine fails that engine's handshake with
  /// error::wrong_backend.
  std::optional<session> get_session() const;
  /// After the handshake: whether it resumed an earlier session (abbreviated handshake).
  /// False before the handshake is done.
  bool resumed() const noexcept;
  /// Client: remember each session this connection receives in the context's session cache
  /// (context::enable_session_cache()) under `server` ("name:port"), as it arrives: at the
  /// end of the handshake under TLS 1.2; under TLS 1.3, when the server's ticket comes after
  /// the handshake (read by a later read step). tlsio::async_connect and tlsio::connect set
  /// it. Nothing happens without a cache; call it before the handshake completes.
  void set_session_cache_key(std::string_view server);

  // --- Steps --------------------------------------------------------------------------------

  /// Advance the handshake. done once it has completed and the peer is verified.
  ///
  /// Verification: the peer's chain must lead to a trusted CA of the context; its
  /// intermediates may come in any order (RFC 8446 §4.4.2), but only the context's CAs are
  /// trust anchors, never a certificate the peer sent. A chain that fails is refused as soon
  /// as it arrives, with a fatal alert that fits (bad_certificate for a name mismatch,
  /// unknown_ca, certificate_expired, unsupported_certificate for a wrong usage, ...) and
  /// the reason in failure_detail(). A server with client_certificate::required refuses a
  /// client without a certificate (error::no_peer_certificate, alert handshake_failure, or
  /// certificate_required under TLS 1.3); with client_certificate::optional it accepts one
  /// without, but refuses a bad one. Under TLS 1.3 the client's handshake is done before
  /// the server judges its certificate: the client learns of a refusal on its next read.
  ///
  /// Errors (status::failed): a verification reason (error::host_name_mismatch,
  /// error::untrusted_issuer, ...), error::no_host_name (a verifying client without
  /// set_server_name()), error::invalid_server_name, the context's configuration error
  /// (see context::finalize()), error::stream_truncated if the input ends first, or an
  /// engine_category() code (a fatal alert from the peer, no common cipher suite, ...).
  /// Once done, calling it again returns done.
  step_result handshake();
  /// Decrypt application data into out: done with 1 to out.size() bytes (0 only when out is
  /// empty); want_input when no whole record with data is there; closed once the peer has
  /// sent close_notify (on every call after, as long as this side has not sent its own);
  /// failed with error::stream_truncated if the input ended without close_notify, and with
  /// error::not_connected before the handshake or once both sides have closed (shutdown()
  /// after the peer's close_notify).
  step_result read(std::span<std::byte> out);
  /// Encrypt all of data into records (output), 16 KiB of data at most per record. Never
  /// partial: done with bytes == data.size(). failed with error::not_connected before the
  /// handshake or once shutdown() has queued close_notify.
  step_result write(std::span<const std::byte> data);
  /// Queue close_notify (once), then wait for the peer's, discarding application data that
  /// arrives meanwhile. done once both are exchanged; want_input until the peer's arrives;
  /// failed with error::stream_truncated if the input ends first, with
  /// error::not_connected before the handshake.
  step_result shutdown();

  // --- The two buffers ----------------------------------------------------------------------

  /// Space for at least min_size bytes of input, to read from the peer into directly.
  /// The space stays valid until the next prepare_input() or put_input(), whatever steps
  /// run meanwhile, so a socket read may fill it while other steps go on.
  std::span<std::byte> prepare_input(std::size_t min_size = 17 * 1024);
  /// Mark n bytes of the space from prepare_input() as received.
  void commit_input(std::size_t n);
  /// Frees the input storage if no input is pending (an idle connection needs none).
  void release_input() noexcept;
  /// Copy bytes received from the peer into the input.
  void put_input(std::span<const std::byte> data);
  /// The peer's byte stream has ended (TCP FIN).
  void put_eof();
  /// Records waiting to be sent to the peer.
  std::span<const std::byte> pending_output() const noexcept;
  /// The first n bytes of pending_output() have been sent (n at most its size).
  void consume_output(std::size_t n) noexcept;
  /// Moves all pending output into `buffer` (which must be empty) and leaves the engine
  /// with buffer's former storage: a way to hand records to a socket without copying
  /// while the engine goes on producing more.
  void swap_output(std::vector<std::byte> &buffer);

  // --- State --------------------------------------------------------------------------------

  /// Whether the handshake has completed (and stays true after shutdown() or a later
  /// failure).
  bool handshake_done() const noexcept;
  /// True exactly when read() would now return without new input: application data is
  /// decrypted and waiting, the peer sent close_notify, the engine has failed, or the input
  /// has ended. To find out, it processes the complete records that carry no application
  /// data (empty records, warning alerts, a HelloRequest); the answers they need, such as a
  /// warning alert, are queued as pending_output(), which the caller must send. It never
  /// takes application data. Before the handshake is done: whether a complete record (or
  /// the end of the input, or a failure) is there for the next step.
  bool read_ready();
  /// Input bytes received but not yet processed.
  std::size_t pending_input() const noexcept;
  /// The error the engine failed with, if it has; empty otherwise.
  std::error_code failure() const noexcept;
  /// A sentence about the last failure with the details its error code cannot carry, e.g.
  /// "host name mismatch: expected example.com, certificate is for DNS:localhost,
  /// IP:127.0.0.1"; the error's message when there are none; empty if nothing failed.
  std::string failure_detail() const;

  // --- After the handshake ------------------------------------------------------------------

  // What each returns stays the same after shutdown() and after a later failure.

  /// The protocol version, "TLSv1.2" or "TLSv1.3"; empty before the handshake is done.
  std::string protocol_version() const;
  /// The cipher suite, in the backend's name for it: Mbed TLS's
  /// "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256", OpenSSL's "ECDHE-ECDSA-AES128-GCM-SHA256" or
  /// "TLS_AES_128_GCM_SHA256"; empty before the handshake is done.
  std::string cipher_suite() const;
  /// The application protocol agreed by ALPN; empty if none was negotiated or the handshake
  /// has not got that far.
  std::string alpn_protocol() const;
  /// The certificate the peer presented (its leaf); nothing before the handshake is done or
  /// if the peer sent none.
  std::optional<certificate_info> peer_certificate() const;
  /// The verification result of the peer's certificate: empty if it verified (or was not
  /// checked), else the reason (error::no_peer_certificate for a client that sent none to
  /// a server with client_certificate::optional). A resumed session reports the result its
  /// first handshake had. Empty before the peer's certificate has been judged.
  std::error_code verification_result() const noexcept;

  /// The implementation (internal; defined in the library's sources).
  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

/// The default backend's name and version, e.g. "Mbed TLS 2.28.3" (the counterpart of
/// rfc.tls's default-tls-class; see default_backend() and available_backends()): the library
/// linked at run time, not the headers built against. Thread-safe.
std::string engine_name();

} // namespace tlsio
