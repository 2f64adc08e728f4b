// Error codes reported by tlsio.
//
// Every failure reaches the caller as a std::error_code in one of two categories:
//  - tlsio::error_category(): tlsio's own conditions (tlsio::error below), among them each
//    reason a certificate can fail verification;
//  - tlsio::engine_category(): a code from the TLS engine (Mbed TLS), with a message a
//    person can act on rather than a bare number.
// Socket errors keep Asio's own category (asio::error::connection_reset, ...).
#pragma once

#include <string>
#include <system_error>

namespace tlsio {

/// tlsio's own error conditions.
enum class error {
  /// The peer closed the connection without sending close_notify: the data may be cut short.
  stream_truncated = 1,
  /// The handshake did not complete within the configured time.
  handshake_timeout,
  /// The stream has no established TLS session (before the handshake, or after close).
  not_connected,
  /// A client has no host name to check the server's certificate against, and
  /// verification was not explicitly skipped.
  no_host_name,
  /// The system certificate store was asked for, but none was found on this machine.
  no_system_ca_store,
  /// A connect or operation deadline passed.
  timed_out,

  // Certificate verification, by reason.
  certificate_expired,
  certificate_not_yet_valid,
  host_name_mismatch,
  untrusted_issuer,
  certificate_revoked,
  certificate_wrong_usage,
  certificate_bad_signature,
  certificate_verify_failed,
  no_peer_certificate,

  // Configuration.
  private_key_password_required,
  private_key_wrong_password,
  private_key_mismatch,
  no_certificate,
  /// A server asks for client certificates but names no CA to verify them against.
  no_client_ca,
  /// An ALPN protocol list that TLS cannot carry (an empty or over-long name, or a list
  /// longer than 65535 bytes).
  invalid_alpn,
  /// The key log file's path is a symbolic link, which set_key_log_file() refuses.
  key_log_symlink,
  /// A client's server name is empty or has an empty label ("a..b", ".a", "a.."): it is
  /// neither a host name nor an IP address (one trailing dot is fine and is dropped).
  invalid_server_name,
  /// The key log file exists but is not a regular file of this user's that only this user
  /// can read and write.
  key_log_not_private,
  /// A port number outside 0..65535 (a service name is looked up instead).
  invalid_port,
  /// A client's context where a server's is needed, or the reverse.
  wrong_role,
};

/// The category of tlsio::error.
const std::error_category &error_category() noexcept;

/// The category of codes that come from the TLS engine (Mbed TLS). The value is the
/// engine's (negative) error number.
const std::error_category &engine_category() noexcept;

inline std::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), error_category()};
}

/// What the throwing forms throw: a std::system_error whose what() is one sentence with the
/// details the code cannot carry ("connecting to example.com port 443: host name mismatch:
/// expected example.com, certificate is for DNS:localhost"), not repeated.
class tls_error : public std::system_error {
public:
  tls_error(std::error_code ec, std::string message)
      : std::system_error(ec), message_(std::move(message)) {}
  const char *what() const noexcept override { return message_.c_str(); }

private:
  std::string message_;
};

} // namespace tlsio

template <> struct std::is_error_code_enum<tlsio::error> : std::true_type {};
