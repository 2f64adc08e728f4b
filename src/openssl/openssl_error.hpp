// OpenSSL's failures as tlsio's errors (internal): a certificate verdict as the tlsio::error
// the Mbed TLS engine reports for it, an EOF without close_notify as stream_truncated, other
// TLS failures in a category of OpenSSL's own reason codes.
#pragma once

#include <string>
#include <system_error>

namespace tlsio::detail::openssl {

/// Codes are OpenSSL's reason codes of its SSL library (SSL_R_*); messages are OpenSSL's
/// reason strings, or a plainer sentence for the common ones. Named "tlsio.openssl".
const std::error_category &openssl_category() noexcept;

/// The alert the peer sent, if `ec` is the peer's fatal alert; -1 otherwise.
int received_alert(std::error_code ec) noexcept;

/// The tlsio::error for X509_V_ERR_* `verify_result`.
std::error_code verification_error(long verify_result) noexcept;

/// The error and its sentence for the failure at the top of OpenSSL's error queue (which it
/// empties).
std::error_code take_error(std::string &detail);

} // namespace tlsio::detail::openssl
