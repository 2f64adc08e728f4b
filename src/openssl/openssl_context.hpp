// An OpenSSL 3 SSL_CTX set up by tlsio's rules (internal): TLS 1.2 at least, ECDHE with AEAD
// suites only under TLS 1.2, renegotiation off, an EOF without close_notify an error, the
// peer verified unless the settings say not to.
#pragma once

#include "../core/backend_settings.hpp"

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <system_error>

namespace tlsio::detail::openssl {

using ssl_ctx_ptr = std::shared_ptr<SSL_CTX>;

/// The SSL_CTX for `settings`; null with `ec` and a sentence in `detail` if it cannot be made
/// (a certificate or key that does not parse, a key that does not fit the certificate).
ssl_ctx_ptr make_ssl_context(const backend_settings &settings, std::error_code &ec,
                             std::string &detail);

} // namespace tlsio::detail::openssl
