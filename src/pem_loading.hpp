// Certificates and keys for a context, from PEM (or DER) text and files (internal).
#pragma once

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace tlsio::detail {

/// A path as error messages quote it: 'path'.
std::string quoted(const std::filesystem::path &path);

/// The whole file, or nullopt with `ec` set (errno's code).
std::optional<std::string> read_file(const std::filesystem::path &path, std::error_code &ec);

/// Appends the certificates in `data` to `chain`; error::no_certificate if a block is not a
/// certificate or there is none, else Mbed TLS's parse error.
std::error_code parse_certificates(mbedtls_x509_crt *chain, const std::string &data);

/// Reads a private key; a wrong password is always MBEDTLS_ERR_PK_PASSWORD_MISMATCH.
std::error_code parse_key(mbedtls_pk_context *key, std::string_view pem,
                          std::optional<std::string_view> password);

} // namespace tlsio::detail
