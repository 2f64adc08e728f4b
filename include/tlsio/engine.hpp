// tlsio::engine: one TLS connection without I/O (sans-I/O).
//
// The engine owns the TLS state of one connection and two byte buffers: the input that
// came from the peer and the output that must go to it. Its steps (handshake, read, write,
// shutdown) never block and never touch a socket. Each returns what it needs next:
//
//   - status::done        the step is complete;
//   - status::want_input  give it more bytes from the peer (put_input / prepare_input +
//                         commit_input, or put_eof), then call the same step again;
//   - status::closed      (read, shutdown) the peer ended the TLS session with close_notify;
//   - status::failed      result.error says why; the engine can do nothing more.
//
// After every step, whatever the status, send pending_output() to the peer (then
// consume_output()): a step may queue records (handshake flights, an alert that explains
// a failure) even when it also wants input or has failed.
//
// tlsio::stream drives an engine over an Asio socket; other event loops can drive it the
// same way. Two engines can also be wired back to back in memory, as the tests do.
//
// Thread safety: one engine must not be used by two threads at once. Distinct engines
// sharing one context may be used concurrently.
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
enum class status { done, want_input, closed, failed };

/// The outcome of one engine step.
struct step_result {
  tlsio::status status = status::done;
  /// read: bytes placed in the caller's buffer; write: bytes taken from it.
  std::size_t bytes = 0;
  /// Set when status is failed.
  std::error_code error;
};

/// A certificate as the peer presented it.
struct certificate_info {
  std::string subject; ///< e.g. "CN=localhost, O=tlsio test"
  std::string issuer;
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  std::string serial; ///< hex
  std::string pem;    ///< the certificate itself
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
class session {
public:
  struct impl;
  explicit session(std::shared_ptr<const impl> i) : impl_(std::move(i)) {}
  const impl &get() const noexcept { return *impl_; }
  const std::shared_ptr<const impl> &shared() const noexcept { return impl_; }

private:
  std::shared_ptr<const impl> impl_;
};

class engine {
public:
  /// The largest amount of application data in one TLS record.
  static constexpr std::size_t max_record_payload = 16384;

  /// A fresh connection using ctx's configuration (which becomes read-only). Problems in the
  /// configuration (no system CA store, a certificate without its key) are reported by the
  /// first handshake step, so that connecting is where they show.
  explicit engine(const context &ctx);
  ~engine();
  engine(engine &&) noexcept;
  engine &operator=(engine &&) noexcept;

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
  void set_server_name(std::string_view name);
  /// The server name as it is sent and verified: without the trailing dot.
  const std::string &server_name() const noexcept;

  /// Client: offer to resume `s` (from get_session() of an earlier connection). The offer
  /// is made by the first handshake step, and only if `s` may resume here (see session:
  /// same server name as set_server_name(), same context); otherwise, and if the
  /// server declines, a full handshake happens. resumed() tells which.
  void set_session(const session &s);
  /// Client, after the handshake: the session to resume next time; the same session on
  /// every call. Nothing before the handshake, on a server, or once a fatal failure has
  /// made the session unfit for resumption.
  std::optional<session> get_session() const;
  /// After the handshake: whether it resumed an earlier session (abbreviated handshake).
  bool resumed() const noexcept;

  // --- Steps --------------------------------------------------------------------------------

  /// Advance the handshake. done once it has completed and the peer is verified.
  ///
  /// Verification: the peer's chain must lead to a trusted CA of the context; its
  /// intermediates may come in any order (RFC 8446 §4.4.2), but only the context's CAs are
  /// trust anchors, never a certificate the peer sent. A chain that fails is refused as soon
  /// as it arrives, with a fatal alert that fits (bad_certificate for a name mismatch,
  /// unknown_ca, certificate_expired, unsupported_certificate for a wrong usage, ...) and
  /// the reason in failure_detail(). A server with client_certificate::required refuses a
  /// client without a certificate (error::no_peer_certificate, alert handshake_failure);
  /// with client_certificate::optional it accepts one without, but refuses a bad one.
  step_result handshake();
  /// Decrypt application data into out. done with bytes > 0; closed on close_notify; failed
  /// with error::stream_truncated if the input ended without close_notify, and with
  /// error::not_connected before the handshake or once both sides have closed.
  step_result read(std::span<std::byte> out);
  /// Encrypt all of data into records (output). Never partial: done with bytes == size.
  step_result write(std::span<const std::byte> data);
  /// Queue close_notify, then wait for the peer's. done (or closed) once both are exchanged;
  /// failed with error::stream_truncated if the input ends first.
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
  /// The first n bytes of pending_output() have been sent.
  void consume_output(std::size_t n) noexcept;
  /// Moves all pending output into `buffer` (which must be empty) and leaves the engine
  /// with buffer's former storage: a way to hand records to a socket without copying
  /// while the engine goes on producing more.
  void swap_output(std::vector<std::byte> &buffer);

  // --- State --------------------------------------------------------------------------------

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
  /// The error the engine failed with, if it has.
  std::error_code failure() const noexcept;
  /// A sentence about the last failure with the details its error code cannot carry, e.g.
  /// "host name mismatch: expected example.com, certificate is for DNS:localhost,
  /// IP:127.0.0.1".
  std::string failure_detail() const;

  // --- After the handshake ------------------------------------------------------------------

  std::string protocol_version() const; ///< "TLSv1.2"
  std::string
  cipher_suite() const; ///< IANA-style name, e.g. "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"
  std::string alpn_protocol() const; ///< empty if none was negotiated
  std::optional<certificate_info> peer_certificate() const;
  /// The verification result of the peer's certificate: empty if it verified (or was not
  /// checked), else the reason (error::no_peer_certificate for a client that sent none to
  /// a server with client_certificate::optional). A resumed session reports the result its
  /// first handshake had.
  std::error_code verification_result() const noexcept;

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

/// The TLS implementation in use and its version, e.g. "Mbed TLS 2.28.3" (the counterpart
/// of rfc.tls's default-tls-class).
std::string engine_name();

} // namespace tlsio
