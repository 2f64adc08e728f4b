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

/// A client's server name as it is sent in SNI and verified: with one trailing dot dropped
/// (RFC 6066 §3 forbids it in SNI; "localhost." and "localhost" are one host). nullopt if
/// the name is empty or has an empty label ("a..b", ".a", "a..", ".").
std::optional<std::string> normalize_server_name(std::string_view name);

/// A client's server name as an engine takes it (tlsio::engine, dtls::engine).
struct checked_server_name {
  /// Normalized (normalize_server_name()), or as given if it cannot be.
  std::string name;
  /// The address, if the name is an IP literal.
  std::optional<ip_address> ip;
  /// Empty if the name is usable; else why not, the detail of error::invalid_server_name.
  std::string problem;
};
/// Checks and normalizes a server name given to set_server_name().
checked_server_name check_server_name(std::string_view name);

/// Whether a virtual host's name pattern fits the name a client asked for (SNI): exactly,
/// or "*.example.com" for one label in place of the star; without regard to case.
bool virtual_host_matches(std::string_view pattern, std::string_view name);

/// A distinguished name as text: "CN=localhost, O=tlsio test".
std::string distinguished_name(const mbedtls_x509_name &name);

/// The iPAddress entries of a certificate's subjectAltName extension. Mbed TLS 2.28 keeps
/// only DNS names, so this reads the extension's DER itself.
std::vector<ip_address> certificate_ip_addresses(const mbedtls_x509_crt &crt);

/// Whether a certificate has a subjectAltName extension. Without one it names no host: its
/// Common Name is not matched (RFC 6125 §6.4.4, as browsers, Go and rustls do).
bool has_subject_alt_name(const mbedtls_x509_crt &crt);

/// The names a certificate is for, for messages, each with its kind as OpenSSL prints them:
/// "DNS:example.com", "IP:127.0.0.1". Only subject-alternative names: the Common Name is
/// never one.
std::vector<std::string> certificate_names(const mbedtls_x509_crt &crt);

/// Why a leaf does not match the expected server name (ip: the name's address if it is an
/// IP literal), as the rest of "host name mismatch: ...".
std::string name_mismatch_reason(const mbedtls_x509_crt &crt, std::string_view expected,
                                 const std::optional<ip_address> &ip);

} // namespace tlsio::detail
