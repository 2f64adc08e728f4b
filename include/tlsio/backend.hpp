/// \file
/// TLS backends: the implementations behind tlsio::engine (the counterpart of rfc.tls's
/// `<tls>` subsystems, `<mbed-tls>` among them, and of its `default-tls-class`).
///
/// Every context is made for one backend (context(role, backend)); its engines, streams and
/// sessions use that backend only. The public API, the security policy (verification of the
/// chain and the host name on by default, TLS 1.2 at least, ECDHE with AEAD suites,
/// renegotiation off, EOF without close_notify an error) and the tlsio::error values for the
/// same failure are the same on every backend. Which backends a build has is fixed when
/// tlsio is built: see TLSIO_HAS_MBEDTLS and TLSIO_HAS_OPENSSL in version.hpp, or
/// available_backends() at run time.
#pragma once

#include <string>
#include <vector>

namespace tlsio {

/// A TLS implementation tlsio can run on.
enum class backend {
  /// Mbed TLS 2.28: TLS 1.2 (and DTLS 1.2). Always built; the default unless tlsio was
  /// built with TLSIO_DEFAULT_BACKEND=openssl.
  mbedtls,
  /// OpenSSL 3: TLS 1.2 and TLS 1.3. Built when OpenSSL 3 was found (TLSIO_HAS_OPENSSL).
  openssl,
};

/// A TLS protocol version, for context::set_min_version() and context::set_max_version().
enum class tls_version {
  tls1_2, ///< TLS 1.2 (RFC 5246)
  tls1_3, ///< TLS 1.3 (RFC 8446)
};

/// What a backend of this build is and can do.
struct backend_info {
  tlsio::backend id;   ///< Which backend.
  std::string name;    ///< "Mbed TLS", "OpenSSL".
  std::string version; ///< The library linked at run time, e.g. "2.28.3", "3.0.17".
  bool tls1_3 = false; ///< Speaks TLS 1.3.
  bool dtls = false;   ///< Has DTLS 1.2 (tlsio::dtls::engine).
};

/// The backends this build of tlsio has, the default first. Thread-safe.
std::vector<backend_info> available_backends();

/// The backend a context uses when none is named: Mbed TLS unless tlsio was built with
/// TLSIO_DEFAULT_BACKEND=openssl. Thread-safe.
backend default_backend() noexcept;

/// The backend's name as it is written in available_backends(): "Mbed TLS", "OpenSSL".
const char *backend_name(backend b) noexcept;

} // namespace tlsio
