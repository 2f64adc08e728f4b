// Server names and what certificates say about them (internal).
#pragma once

#include <mbedtls/x509_crt.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsio::detail {

/// An IPv4 (4 bytes) or IPv6 (16 bytes) address in network order.
struct ip_address {
  std::array<std::uint8_t, 16> bytes{};
  std::size_t size = 0;
  bool operator==(const ip_address &) const = default;
};

/// The address if name is an IP literal: "127.0.0.1", "::1" or "[::1]".
std::optional<ip_address> parse_ip_literal(std::string_view name);

/// The iPAddress entries of a certificate's subjectAltName extension. Mbed TLS 2.28 keeps
/// only DNS names, so this reads the extension's DER itself.
std::vector<ip_address> certificate_ip_addresses(const mbedtls_x509_crt &crt);

/// The names a certificate is for, for messages: its DNS and IP subject-alternative names,
/// or its common name if it has none.
std::vector<std::string> certificate_names(const mbedtls_x509_crt &crt);

} // namespace tlsio::detail
