// Reading a ClientHello before Mbed TLS does (internal).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace tlsio::detail {

/// The ALPN protocols a ClientHello record offers (empty if it offers none), or nothing if
/// the bytes are not a complete ClientHello record (Mbed TLS will say why).
std::optional<std::vector<std::string>> offered_alpn(std::span<const std::byte> record);

} // namespace tlsio::detail
