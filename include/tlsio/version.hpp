/// \file
/// Compile-time facts about tlsio (the counterpart of rfc.tls's feature identifier
/// gauche.net.tls): test them with the preprocessor, e.g. `#if TLSIO_HAS_TLS`.
#pragma once

/// The library's major version.
#define TLSIO_VERSION_MAJOR 0
/// The library's minor version.
#define TLSIO_VERSION_MINOR 1
/// The library's patch version.
#define TLSIO_VERSION_PATCH 0
/// The version as text, "MAJOR.MINOR.PATCH".
#define TLSIO_VERSION_STRING "0.1.0"

// The backends of this build (written by CMake when tlsio was built): TLSIO_HAS_MBEDTLS,
// TLSIO_HAS_OPENSSL, TLSIO_DEFAULT_BACKEND_OPENSSL.
#include <tlsio/build_config.hpp>

/// TLS is available (always, when this header exists).
#define TLSIO_HAS_TLS 1
/// TLS 1.3 is available: 1 when the OpenSSL backend is built (tlsio::backend::openssl), else 0.
#define TLSIO_HAS_TLS13 TLSIO_HAS_OPENSSL
/// The newest TLS version a backend of this build speaks: 13 for TLS 1.3, 12 for TLS 1.2.
#define TLSIO_MAX_TLS_VERSION (TLSIO_HAS_OPENSSL ? 13 : 12)
#if !TLSIO_DEFAULT_BACKEND_OPENSSL
/// The default backend (tlsio::default_backend()) is Mbed TLS; tlsio::engine_name() tells
/// its version at run time.
#define TLSIO_ENGINE_MBEDTLS 1
#endif
