// What a certificate says and what is wrong with it, in words every backend reports alike
// (internal). Certificates are read with Mbed TLS's parser whichever backend met them.
#pragma once

#include <tlsio/engine.hpp>

#include <mbedtls/x509_crt.h>

#include <span>
#include <string>
#include <system_error>

namespace tlsio::detail {

/// The public description of a parsed certificate.
certificate_info describe_certificate(const mbedtls_x509_crt &crt);

/// A certificate's validity date as it appears in messages: "2026-12-07 13:00:00 UTC".
std::string format_time(const mbedtls_x509_time &t);

/// One certificate of the peer's chain that failed a check, as the failure sentence needs it.
struct certificate_problem {
  std::string subject, issuer, valid_from, valid_to;
  std::string name_mismatch; // the leaf's: why it does not match the server name
};

/// The certificate's facts for a certificate_problem (name_mismatch left empty).
certificate_problem problem_with(const mbedtls_x509_crt &crt);

/// "host name mismatch: expected ...", "certificate expired: 'CN=x' was valid until ...":
/// the sentence for verification error `code` about `p`.
std::string verification_sentence(std::error_code code, const certificate_problem &p);

} // namespace tlsio::detail
