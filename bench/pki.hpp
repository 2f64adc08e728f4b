// The certificates every implementation uses, and tlsio contexts made from them.
#pragma once

#include "figure.hpp"

#include <tlsio/context.hpp>
#include <tlsio/testing/test_identity.hpp>

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

/// A client context (trusting only the CA, verifying the host) and a server context (the
/// certificate, unless id has none), both set to the key exchange group g.
///
/// "x25519" offers x25519 first and secp256r1 after it: in TLS 1.2 the client's supported
/// groups also bound the curve of an ECDSA certificate (RFC 8422 5.1), so a client offering
/// x25519 alone cannot accept a P-256 certificate (Mbed TLS and OpenSSL both refuse with
/// "no shared cipher"). Both servers pick their first shared group, so x25519 is what
/// runs; raw_pair reads it from the ServerKeyExchange to make sure. "secp256r1" offers only
/// secp256r1. No group (--role server) means the x25519 list.
///
/// The impl chooses the engine: Mbed TLS for raw and tlsio; OpenSSL for the -openssl ones,
/// TLS 1.2 only (as asio-ssl is, so that the rows compare) except tlsio-openssl-tls13, TLS 1.3
/// only. Mbed TLS's contexts speak TLS 1.2 only anyway.
struct tlsio_contexts {
  explicit tlsio_contexts(tlsio::backend b)
      : client(tlsio::role::client, b), server(tlsio::role::server, b) {}
  tlsio::context client;
  tlsio::context server;
  bool write_coalescing = false; ///< streams made for these contexts coalesce their writes
};
tlsio_contexts make_tlsio_contexts(const identity_set &id, std::optional<group> g, bool tickets,
                                   impl i = impl::tlsio);

/// The server's host name, as the clients check it.
inline constexpr const char *server_name = "localhost";

} // namespace bench
