// Reading a ClientHello before Mbed TLS does (internal).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace tlsio::detail {

/// Why a ClientHello must be refused, with the alert that says so.
struct hello_problem {
  unsigned char alert; ///< RFC 5246 §7.2 description
  std::string reason;
};

/// What is wrong with the ClientHello in `record` (a record holding one whole message),
/// checked before Mbed TLS 2.28 takes it: framing it would refuse without an alert, and
/// values it would accept though RFC 5246 and RFC 8422 say to refuse them. Nothing for a
/// record that is not a ClientHello.
std::optional<hello_problem> client_hello_problem(std::span<const std::byte> record);

/// The ALPN protocols a ClientHello record offers (empty if it offers none), or nothing if
/// the bytes are not a complete ClientHello record (Mbed TLS will say why).
std::optional<std::vector<std::string>> offered_alpn(std::span<const std::byte> record);

} // namespace tlsio::detail
