// A peer's certificate chain put in issuer order (internal).
#pragma once

#include <mbedtls/x509_crt.h>

namespace tlsio::detail {

/// Appends to `ordered` (initialised, empty) copies of the certificates of `sent`: the
/// leaf, then each next the issuer of the one before (matched by the raw DER of the
/// names), then whatever is left in the order sent. Mbed TLS 2.28 looks for a
/// certificate's issuer only among those after it, while RFC 8446 §4.4.2 lets a peer send
/// the intermediates in any order. Returns 0 or an Mbed TLS error.
int copy_in_issuer_order(const mbedtls_x509_crt &sent, mbedtls_x509_crt &ordered);

} // namespace tlsio::detail
