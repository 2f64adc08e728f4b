/// \file
/// Error codes reported by tlsio.
///
/// Every failure reaches the caller as a std::error_code in one of these categories:
///  - tlsio::error_category(): tlsio's own conditions (tlsio::error below), among them each
///
///      reason a certificate can fail verification;
///
///  - tlsio::engine_category(): a code from the Mbed TLS backend, with a message a
///
///      person can act on rather than a bare number;
///
///  - tlsio::openssl_category(): a code from the OpenSSL backend, likewise.
///
/// Socket errors keep Asio's own category (asio::error::connection_reset, ...).
#pragma once

#include <string>
#include <system_error>

namespace tlsio {

/// tlsio's own error conditions.
enum class error {
  /// The peer closed the connection without sending close_notify: the data may be cut short.
  /// Never reported as a clean end of stream (that is asio::error::eof).
  stream_truncated = 1,
  /// The handshake did not complete within the configured time
  /// (context::set_handshake_timeout(), stream::set_handshake_timeout()).
  handshake_timeout,
  /// The stream has no established TLS session (before the handshake, or after close).
  not_connected,
  /// A client has no host name to check the server's certificate against, and
  /// verification was not explicitly skipped.
  no_host_name,
  /// The system certificate store was asked for, but none was found on this machine.
  no_system_ca_store,
  /// A connect or operation deadline passed (connect_options::timeout, the _for
  /// operations, a shutdown that waited longer than the shutdown timeout).
  timed_out,

  // Certificate verification, by reason. When several apply, one is reported, in this
  // order: no_peer_certificate, untrusted_issuer, certificate_expired,
  // certificate_not_yet_valid, host_name_mismatch, certificate_revoked,
  // certificate_wrong_usage, certificate_bad_signature, certificate_verify_failed.

  /// A certificate of the peer's chain is past its notAfter date.
  certificate_expired,
  /// A certificate of the peer's chain is before its notBefore date.
  certificate_not_yet_valid,
  /// The server's certificate does not name the host the client asked for (its
  /// subjectAltName DNS names or IP addresses; the Common Name does not count).
  host_name_mismatch,
  /// The chain does not lead to a CA this side trusts (or a signature in it is wrong).
  untrusted_issuer,
  /// A certificate of the chain is revoked.
  certificate_revoked,
  /// A certificate is not for this use: its keyUsage or extendedKeyUsage (a client
  /// certificate used by a server, say) does not allow it.
  certificate_wrong_usage,
  /// A certificate is signed with an algorithm or a key that is not accepted (an old hash,
  /// a key too short), not a signature that fails to verify (that is untrusted_issuer).
  certificate_bad_signature,
  /// Verification failed for a reason none of the above names.
  certificate_verify_failed,
  /// The peer sent no certificate where one is needed (a server's, or a client's under
  /// client_certificate::required).
  no_peer_certificate,

  // Configuration.

  /// The private key is encrypted and no password was given.
  private_key_password_required,
  /// The password given for the private key is wrong.
  private_key_wrong_password,
  /// The private key does not belong to the leaf certificate.
  private_key_mismatch,
  /// No certificate where one is needed: a file or PEM text with none (or with a block that
  /// is not a certificate), or a server context with no certificate and key to present.
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
  /// The TLS backend asked for (tlsio::backend) is not in this build of tlsio (see
  /// available_backends()).
  backend_unavailable,
  /// The backend does not speak the TLS version asked for (TLS 1.3 on Mbed TLS 2.28), or
  /// the minimum version is above the maximum.
  unsupported_version,
  /// A session made on one backend offered to an engine of another: sessions never cross
  /// backends.
  wrong_backend,

  // Datagrams (DTLS, tlsio::dtls).

  /// A message longer than one record can carry at the current MTU
  /// (dtls::engine::max_message_size()); nothing was sent.
  message_too_large,
  /// A message longer than the receive buffer: the buffer holds its start, the rest is
  /// discarded; the next receive gets the next message.
  message_truncated,
  /// The peer sent nothing authenticated for longer than the idle timeout: UDP has no FIN,
  /// so a lost close_notify ends the association this way.
  idle_timeout,
  /// The peer's address sent a new ClientHello with a valid cookie (RFC 6347 §4.2.8): it
  /// restarted, and this association has ended.
  peer_reconnected,
  /// DTLS was asked of a context whose backend has none (OpenSSL; see
  /// backend_info::dtls in available_backends()).
  dtls_unavailable,
};

/// The category of tlsio::error, named "tlsio". Its messages are sentences a person can act
/// on. A single object for the whole program; thread-safe.
const std::error_category &error_category() noexcept;

/// The category of codes that come from the Mbed TLS backend. The value is the
/// engine's (negative) error number; the message is the engine's text, or a plainer
/// sentence for the common ones. Codes that mean one of tlsio's own conditions (a wrong key
/// password, a connection closed without close_notify) are reported as tlsio::error
/// instead. A single object for the whole program; thread-safe.
const std::error_category &engine_category() noexcept;

/// The category of codes from the OpenSSL backend (tlsio::backend::openssl), named
/// "tlsio.openssl": the value is OpenSSL's reason code (SSL_R_* in <openssl/sslerr.h>), or
/// 1000 (SSL_AD_REASON_OFFSET) plus the alert the peer sent (1000 to 1255), or for an error
/// of another OpenSSL library (X.509, EVP, ...) its whole packed code (ERR_PACK: the
/// library from bit 23 on, so never below 2^23); the message a plain sentence for
/// the common ones, else OpenSSL's text. As on engine_category(), conditions of tlsio's own
/// (verification reasons, truncation) are tlsio::error values instead. Exists in every build
/// (without the backend it has no codes to carry). A single object; thread-safe.
const std::error_category &openssl_category() noexcept;

/// `e` as a std::error_code in error_category(). Found by argument-dependent lookup, so
/// `std::error_code ec = tlsio::error::timed_out;` and `ec == tlsio::error::timed_out`
/// work.
inline std::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), error_category()};
}

/// What the throwing forms throw: a std::system_error whose what() is one sentence with the
/// details the code cannot carry ("connecting to example.com port 443: host name mismatch:
/// expected example.com, certificate is for DNS:localhost"), not repeated.
///
/// Thrown by the blocking members of tlsio::stream (handshake(), read_some(), write_some(),
/// shutdown()) and by tlsio::connect and tlsio::async_connect. tlsio::context and
/// tlsio::acceptor throw a plain std::system_error, so catching std::system_error catches
/// both; code() is the error either way.
class tls_error : public std::system_error {
public:
  /// An exception for `ec` whose what() is exactly `message` (which should therefore
  /// include the error's message or the failure detail).
  tls_error(std::error_code ec, std::string message)
      : std::system_error(ec), message_(std::move(message)) {}
  /// The message given to the constructor.
  const char *what() const noexcept override { return message_.c_str(); }

private:
  std::string message_;
};

} // namespace tlsio

/// \cond
// Lets tlsio::error convert to std::error_code. Hidden from Doxygen, which (1.9.4) cannot
// place a specialization of a std template declared by its qualified name.
template <> struct std::is_error_code_enum<tlsio::error> : std::true_type {};
/// \endcond
