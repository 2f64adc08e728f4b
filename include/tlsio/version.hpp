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

/// TLS is available (always, when this header exists).
#define TLSIO_HAS_TLS 1
/// The TLS engine is Mbed TLS (tlsio::engine_name() tells the version at run time).
#define TLSIO_ENGINE_MBEDTLS 1
/// The newest TLS version the engine speaks: 12 for TLS 1.2.
#define TLSIO_MAX_TLS_VERSION 12
