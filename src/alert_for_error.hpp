// Which fatal alert tells the peer why an Mbed TLS error ended the connection (internal).
#pragma once

#include <cstddef>
#include <optional>
#include <span>

namespace tlsio::detail {

/// What the engine knows of the input that Mbed TLS failed on: Mbed TLS gives one code for
/// faults that call for different alerts.
struct failed_input {
  /// The length in the header of the record being read, if one is.
  std::optional<std::size_t> record_length;
  /// Whether that record is encrypted.
  bool encrypted = false;
  /// The handshake message being read (header included), if there is one.
  std::span<const unsigned char> handshake_message;
};

/// The alert description (RFC 5246 §7.2) for an error that the peer's bytes caused, or
/// nothing for errors that need no alert: the peer's own alert or close, waiting, and
/// local failures.
/// An alert's name as RFC 5246/8446 write it: "handshake_failure"; "unknown alert" for a
/// number they do not name.
const char *alert_name(unsigned char description) noexcept;

std::optional<unsigned char> fatal_alert_for(int mbedtls_code, const failed_input &input) noexcept;

} // namespace tlsio::detail
