// The NSS key log (SSLKEYLOGFILE), a debugging aid (internal).
#pragma once

#include <mbedtls/ssl.h>

namespace tlsio::detail {

/// If SSLKEYLOGFILE names a file, makes connections using conf append their secrets to it
/// ("CLIENT_RANDOM <client random> <master secret>", hex). Otherwise does nothing.
void attach_key_log(mbedtls_ssl_config *conf);

} // namespace tlsio::detail
