// What the tools say about a connection: its failure in one sentence, what it negotiated
// (-v), and which tlsio and engine they were built with (--version).
#pragma once

#include "engine_option.hpp"

#include <tlsio/dtls/stream.hpp>
#include <tlsio/engine.hpp>
#include <tlsio/stream.hpp>
#include <tlsio/version.hpp>

#include <array>
#include <chrono>
#include <ctime>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>

namespace tool {

/// A TLS failure in one sentence: the stream's detail when it has one, else the code's message.
inline std::string describe(const std::error_code &ec, const tlsio::stream<> &s) {
  auto detail = s.failure_detail();
  return detail.empty() ? ec.message() : detail;
}

/// "2031-05-04 12:00:00 UTC"
inline std::string utc_time(std::chrono::system_clock::time_point t) {
  auto seconds = std::chrono::system_clock::to_time_t(t);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::array<char, 32> text{};
  return {text.data(), std::strftime(text.data(), text.size(), "%Y-%m-%d %H:%M:%S UTC", &utc)};
}

/// The peer certificate's lines of print_negotiated().
inline void print_peer_certificate(std::ostream &out,
                                   const std::optional<tlsio::certificate_info> &cert) {
  if (cert) {
    out << "* peer certificate subject: " << cert->subject << "\n"
        << "* peer certificate issuer: " << cert->issuer << "\n"
        << "* peer certificate expires: " << utc_time(cert->not_after) << "\n";
  } else {
    out << "* peer certificate: none\n";
  }
}

/// What the handshake settled, one "* name: value" line each (curl -v's marker), for -v;
/// `engine` is the TLS engine that did it ("OpenSSL 3.0.17").
inline void print_negotiated(std::ostream &out, const tlsio::stream<> &s, std::string_view engine) {
  auto alpn = s.alpn_protocol();
  out << "* engine: " << engine << "\n"
      << "* protocol: " << s.protocol_version() << "\n"
      << "* cipher suite: " << s.cipher_suite() << "\n"
      << "* ALPN: " << (alpn.empty() ? "none" : alpn) << "\n"
      << "* resumed: " << (s.resumed() ? "yes" : "no") << "\n";
  print_peer_certificate(out, s.peer_certificate());
}

/// The same for a DTLS association (--dtls), with its largest message.
inline void print_negotiated(std::ostream &out, const tlsio::dtls::stream &s,
                             std::string_view engine) {
  auto alpn = s.alpn_protocol();
  out << "* engine: " << engine << "\n"
      << "* protocol: " << s.protocol_version() << "\n"
      << "* cipher suite: " << s.cipher_suite() << "\n"
      << "* ALPN: " << (alpn.empty() ? "none" : alpn) << "\n"
      << "* resumed: " << (s.resumed() ? "yes" : "no") << "\n"
      << "* largest message: " << s.max_message_size() << " bytes\n";
  print_peer_certificate(out, s.peer_certificate());
}

/// --version: "tlsio-client (tlsio 0.1.0, Mbed TLS 2.28.3)", the default engine, then the
/// engines --engine can choose: "engines: mbedtls (Mbed TLS 2.28.3), openssl (OpenSSL 3.0.17)".
inline void print_version(std::ostream &out, std::string_view tool_name) {
  out << tool_name << " (tlsio " << TLSIO_VERSION_STRING << ", " << tlsio::engine_name() << ")\n"
      << "engines: " << available_engines() << "\n";
}

} // namespace tool
