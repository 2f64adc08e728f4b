// Turning Mbed TLS results into std::error_code (internal).
#pragma once

#include <cstdint>
#include <system_error>

namespace tlsio::detail {

/// An Mbed TLS error number as an error_code. Numbers that mean one of tlsio's own
/// conditions (a wrong key password, a connection closed early) become that condition.
std::error_code engine_error(int mbedtls_code) noexcept;

/// The most telling reason among Mbed TLS's certificate verification flags.
std::error_code verification_error(std::uint32_t flags) noexcept;

} // namespace tlsio::detail
