// The certificates every implementation uses, and tlsio contexts made from them.
#pragma once

#include "figure.hpp"

#include <tlsio/context.hpp>
#include <tlsio/test_identity.hpp>

#include <map>
#include <optional>
#include <string>

namespace bench {

/// A throwaway CA and a server certificate for "localhost" / 127.0.0.1, both of one key type.
struct identity_set {
  std::string ca_pem;
  tlsio::test_identity::identity server; // chain_pem + private_key_pem
};

/// Makes each kind of identity once, on first use (RSA key generation takes a while).
class pki {
public:
  const identity_set &get(cert c);

private:
  std::map<cert, identity_set> made_;
};

/// A client context (trusting only the CA, verifying the host) and a server context
/// (the certificate, unless id has none), both restricted to one key exchange group (or
/// offering x25519 and secp256r1 without one).
struct tlsio_contexts {
  tlsio::context client{tlsio::role::client};
  tlsio::context server{tlsio::role::server};
};
tlsio_contexts make_tlsio_contexts(const identity_set &id, std::optional<group> g, bool tickets);

/// The server's host name, as the clients check it.
inline constexpr const char *server_name = "localhost";

} // namespace bench
