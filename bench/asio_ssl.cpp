// asio::ssl::stream over OpenSSL 3 on loopback TCP: the baseline, driven by the same loops.
//
// TLS 1.2 with the suite tlsio negotiates (ECDHE-ECDSA- or ECDHE-RSA-AES128-GCM-SHA256), the
// same certificate, the same single key exchange group; or TLS 1.3 (TLS_AES_128_GCM_SHA256)
// for the informational asio-ssl-tls13 rows. No server-side session cache on either: a full
// handshake issues no ticket; a resumed one uses a ticket (stateless), as tlsio does.
#include "environment.hpp"
#include "loop_run.hpp"
#include "loop_serve.hpp"

#include <asio/ssl.hpp>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <memory>
#include <stdexcept>

namespace bench {
namespace {

struct ssl_contexts {
  asio::ssl::context client{asio::ssl::context::tls_client};
  asio::ssl::context server{asio::ssl::context::tls_server};
};

void check(int ok, const char *what) {
  if (ok != 1)
    throw std::runtime_error(std::string("OpenSSL: ") + what + " failed");
}

/// The same lists as tlsio's (see pki.hpp): "x25519" also offers P-256 for the certificate.
const char *openssl_groups(std::optional<group> g) {
  return g == group::secp256r1 ? "P-256" : "X25519:P-256";
}

/// Version, suite and group: the same on both sides.
void restrict_protocol(SSL_CTX *ctx, cert c, std::optional<group> g, bool tls13) {
  int version = tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  check(SSL_CTX_set_min_proto_version(ctx, version), "set_min_proto_version");
  check(SSL_CTX_set_max_proto_version(ctx, version), "set_max_proto_version");
  if (tls13)
    check(SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256"), "set_ciphersuites");
  else
    check(SSL_CTX_set_cipher_list(ctx, c == cert::ecdsa_p256 ? "ECDHE-ECDSA-AES128-GCM-SHA256"
                                                             : "ECDHE-RSA-AES128-GCM-SHA256"),
          "set_cipher_list");
  check(SSL_CTX_set1_groups_list(ctx, openssl_groups(g)), "set1_groups_list");
}

void configure_server(asio::ssl::context &server, const identity_set &id, bool tickets) {
  server.use_certificate_chain(asio::buffer(id.server.chain_pem));
  server.use_private_key(asio::buffer(id.server.private_key_pem), asio::ssl::context::pem);
  SSL_CTX *ctx = server.native_handle();
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (tickets) {
    SSL_CTX_set_num_tickets(ctx, 1); // TLS 1.3: one ticket, as Mbed TLS issues one
  } else {
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
  }
}

std::unique_ptr<ssl_contexts> make_contexts(const identity_set &id, cert c, std::optional<group> g,
                                            bool tickets, bool tls13) {
  auto x = std::make_unique<ssl_contexts>();
  restrict_protocol(x->client.native_handle(), c, g, tls13);
  x->client.set_verify_mode(asio::ssl::verify_peer);
  x->client.add_certificate_authority(asio::buffer(id.ca_pem));
  if (id.server.chain_pem.empty())
    return x; // --role client: the server is elsewhere
  restrict_protocol(x->server.native_handle(), c, g, tls13);
  configure_server(x->server, id, tickets);
  return x;
}

std::string key_exchange_group(SSL *ssl) {
  EVP_PKEY *key = nullptr;
  if (SSL_get_peer_tmp_key(ssl, &key) != 1)
    return "?";
  char name[64] = "?";
  std::size_t length = 0;
  if (EVP_PKEY_get_id(key) == EVP_PKEY_X25519)
    std::snprintf(name, sizeof name, "x25519");
  else
    EVP_PKEY_get_group_name(key, name, sizeof name, &length);
  EVP_PKEY_free(key);
  return name;
}

struct asio_ssl_adapter {
  using stream_type = asio::ssl::stream<tcp::socket>;
  using session_type = std::shared_ptr<SSL_SESSION>;
  using contexts = ssl_contexts;

  static stream_type client(contexts &c, const asio::any_io_executor &ex) {
    stream_type s(ex, c.client);
    SSL_set_tlsext_host_name(s.native_handle(), server_name); // SNI, as tlsio sends it
    SSL_set1_host(s.native_handle(), server_name);            // and the host name check
    return s;
  }
  static stream_type server(contexts &c, tcp::socket &&socket) {
    return stream_type(std::move(socket), c.server);
  }
  template <class Token> static auto handshake(stream_type &s, bool server, Token &&token) {
    return s.async_handshake(server ? asio::ssl::stream_base::server
                                    : asio::ssl::stream_base::client,
                             std::forward<Token>(token));
  }
  static void set_session(stream_type &s, const session_type &session) {
    SSL_set_session(s.native_handle(), session.get());
  }
  static session_type get_session(stream_type &s) {
    return session_type(SSL_get1_session(s.native_handle()), SSL_SESSION_free);
  }
  static bool resumed(stream_type &s) { return SSL_session_reused(s.native_handle()) == 1; }
  static std::string negotiated(stream_type &s) {
    SSL *ssl = s.native_handle();
    return std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl) + " " +
           key_exchange_group(ssl);
  }
  static std::string describe(stream_type &, const std::error_code &ec) { return ec.message(); }
};

} // namespace

figure_result run_asio_ssl(environment &env, const figure_spec &spec) {
  bool tls13 = spec.impl == impl::asio_ssl_tls13;
  auto ctx = make_contexts(env.identities(spec.cert), spec.cert, spec.group,
                           spec.mode == mode::handshake_resumed, tls13);
  return loopback_run<asio_ssl_adapter>(env, spec, *ctx).run();
}

void serve_asio_ssl(environment &env, cert c, bool tls13, int threads, unsigned short port) {
  auto ctx = make_contexts(env.identities(c), c, std::nullopt, true, tls13);
  serve_forever<asio_ssl_adapter>(*ctx, threads, port);
}

} // namespace bench
