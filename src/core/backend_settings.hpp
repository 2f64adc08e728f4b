// What a context hands a TLS backend to configure itself from (internal): the engine seam's
// per-context half, in terms no backend owns.
#pragma once

#include <tlsio/context.hpp>

#include <string>
#include <vector>

namespace tlsio::detail {

struct backend_settings {
  role side = role::client;
  /// A client verifies the server (chain and name); a server asks for a client certificate.
  bool verify_peer = true;
  /// Server: a client without a certificate is refused (else it is accepted without one).
  bool require_peer_certificate = false;
  bool use_system_ca = false;
  std::vector<std::string> authorities_pem; ///< trusted CA certificates, PEM
  std::string chain_pem;                    ///< this side's leaf, then intermediates
  std::string key_pem;                      ///< this side's private key, unencrypted PEM
  std::vector<std::string> alpn;            ///< protocols, in order of preference
  bool alpn_fail_on_mismatch = true;
  int min_version = 12; ///< 12: TLS 1.2, 13: TLS 1.3
  int max_version = 13;
  bool tickets = false; ///< server: issue session tickets
};

} // namespace tlsio::detail
