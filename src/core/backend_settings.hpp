// What a context hands a TLS backend to configure itself from (internal): the engine seam's
// per-context half, in terms no backend owns.
#pragma once

#include <tlsio/context.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace tlsio::detail {

class key_log_file;

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
  std::chrono::seconds ticket_lifetime{7200};
  /// Key exchange groups in OpenSSL's list form, most preferred first.
  std::string groups = "X25519:P-256:P-384";
  /// Server: other identities, chosen by the client's SNI name (first match wins).
  struct virtual_host {
    std::vector<std::string> names; ///< "example.com" or "*.example.com"
    std::string chain_pem, key_pem;
  };
  std::vector<virtual_host> virtual_hosts;
  /// Where to log secrets (NSS key log), or null; outlives every connection.
  const key_log_file *key_log = nullptr;
};

} // namespace tlsio::detail
