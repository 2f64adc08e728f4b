#include "openssl_context.hpp"

#include "../key_log.hpp"
#include "../peer_name.hpp"
#include "openssl_connection.hpp"
#include "openssl_error.hpp"
#include "ticket_keys.hpp"

#include <tlsio/error.hpp>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <optional>

namespace tlsio::detail::openssl {
namespace {

struct bio_deleter {
  void operator()(BIO *b) const noexcept { BIO_free(b); }
};
struct x509_deleter {
  void operator()(X509 *x) const noexcept { X509_free(x); }
};
struct pkey_deleter {
  void operator()(EVP_PKEY *k) const noexcept { EVP_PKEY_free(k); }
};
using x509_ptr = std::unique_ptr<X509, x509_deleter>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;

std::unique_ptr<BIO, bio_deleter> memory(const std::string &pem) {
  return std::unique_ptr<BIO, bio_deleter>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

/// Every certificate in a PEM text, in order.
std::vector<x509_ptr> certificates(const std::string &pem) {
  std::vector<x509_ptr> all;
  auto in = memory(pem);
  while (X509 *x = PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr))
    all.emplace_back(x);
  ERR_clear_error(); // the end of the text reads as an error
  return all;
}

// Under TLS 1.2: ECDHE key exchange with AEAD suites only. TLS 1.3's suites are all AEAD.
// The Mbed TLS engine's suites in its order, AES-128 first.
constexpr const char *tls12_suites =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char *tls13_suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

int protocol(int version) { return version >= 13 ? TLS1_3_VERSION : TLS1_2_VERSION; }

bool trust(SSL_CTX *ctx, const backend_settings &s) {
  if (s.use_system_ca && SSL_CTX_set_default_verify_paths(ctx) != 1)
    return false;
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  for (const auto &pem : s.authorities_pem)
    for (auto &ca : certificates(pem))
      if (X509_STORE_add_cert(store, ca.get()) != 1)
        return false;
  return true;
}

// A certificate chain and its key, parsed.
struct identity {
  std::vector<x509_ptr> chain;
  pkey_ptr key;
};

std::error_code parse_identity(const std::string &chain_pem, const std::string &key_pem,
                               identity &out, std::string &detail) {
  out.chain = certificates(chain_pem);
  if (out.chain.empty()) {
    detail = "no certificate in the chain given";
    return error::no_certificate;
  }
  auto key_in = memory(key_pem);
  out.key.reset(PEM_read_bio_PrivateKey(key_in.get(), nullptr, nullptr, nullptr));
  if (!out.key) {
    ERR_clear_error();
    detail = "the private key does not parse (or is encrypted)";
    return error::private_key_password_required;
  }
  if (X509_check_private_key(out.chain.front().get(), out.key.get()) != 1) {
    ERR_clear_error();
    detail = "the private key does not belong to the certificate";
    return error::private_key_mismatch;
  }
  return {};
}

std::error_code use_identity(SSL_CTX *ctx, const identity &id, std::string &detail) {
  bool used = SSL_CTX_use_certificate(ctx, id.chain.front().get()) == 1 &&
              SSL_CTX_use_PrivateKey(ctx, id.key.get()) == 1;
  for (std::size_t i = 1; used && i < id.chain.size(); ++i)
    used = SSL_CTX_add1_chain_cert(ctx, id.chain[i].get()) == 1;
  if (used)
    return {};
  // OpenSSL's reason (a key too small for the security level, say), not a guess.
  auto ec = take_error(detail);
  detail = "OpenSSL refuses this side's certificate chain: " + detail;
  return ec;
}

// What the SSL_CTX's callbacks read (its app data); lives as long as the SSL_CTX.
struct callback_data {
  std::vector<std::string> alpn;
  bool alpn_fail_on_mismatch = true;
  struct host {
    std::vector<std::string> names;
    identity id;
  };
  std::vector<host> virtual_hosts;
  const key_log_file *key_log = nullptr;
  std::optional<ticket_keys> tickets;
};

callback_data &data_of(const SSL *ssl) {
  return *static_cast<callback_data *>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
}

int use_ticket_key(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *ctx,
                   EVP_MAC_CTX *mac, int encrypt) {
  return data_of(ssl).tickets->use(name, iv, ctx, mac, encrypt == 1);
}

int select_virtual_host(SSL *ssl, int *, void *) {
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr)
    return SSL_TLSEXT_ERR_OK; // no SNI: the default certificate
  for (auto &host : data_of(ssl).virtual_hosts)
    for (const auto &pattern : host.names)
      if (virtual_host_matches(pattern, name)) {
        STACK_OF(X509) *chain = sk_X509_new_null();
        for (std::size_t i = 1; i < host.id.chain.size(); ++i)
          sk_X509_push(chain, host.id.chain[i].get());
        int ok =
            SSL_use_cert_and_key(ssl, host.id.chain.front().get(), host.id.key.get(), chain, 1);
        sk_X509_free(chain);
        return ok == 1 ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_ALERT_FATAL;
      }
  return SSL_TLSEXT_ERR_OK; // unknown names get the default certificate
}

void log_secret(const SSL *ssl, const char *line) {
  if (const auto *log = data_of(ssl).key_log)
    log->write_line(line);
}

/// ALPN's wire form: each name preceded by its length.
std::string alpn_wire(const std::vector<std::string> &names) {
  std::string wire;
  for (const auto &n : names)
    wire.append(1, static_cast<char>(n.size())).append(n);
  return wire;
}

int select_alpn(SSL *, const unsigned char **out, unsigned char *out_length,
                const unsigned char *offered, unsigned int offered_length, void *arg) {
  const auto &s = *static_cast<const callback_data *>(arg);
  // Our preference order: the first of ours that the client offers.
  for (const auto &name : s.alpn)
    for (unsigned int i = 0; i < offered_length; i += 1u + offered[i]) {
      unsigned int n = offered[i];
      if (i + 1 + n <= offered_length && n == name.size() &&
          name.compare(0, n, reinterpret_cast<const char *>(offered + i + 1), n) == 0) {
        *out = offered + i + 1;
        *out_length = static_cast<unsigned char>(n);
        return SSL_TLSEXT_ERR_OK;
      }
    }
  return s.alpn_fail_on_mismatch ? SSL_TLSEXT_ERR_ALERT_FATAL : SSL_TLSEXT_ERR_NOACK;
}

} // namespace

ssl_ctx_ptr make_ssl_context(const backend_settings &settings, std::error_code &ec,
                             std::string &detail) {
  ec.clear();
  ERR_clear_error();
  SSL_CTX *c = SSL_CTX_new(TLS_method());
  if (!c) {
    detail = "OpenSSL could not make a context (out of memory?)";
    ec = std::make_error_code(std::errc::not_enough_memory);
    return nullptr;
  }
  // What the callbacks read lives as long as the SSL_CTX.
  auto kept = std::make_shared<callback_data>();
  kept->alpn = settings.alpn;
  kept->alpn_fail_on_mismatch = settings.alpn_fail_on_mismatch;
  kept->key_log = settings.key_log;
  ssl_ctx_ptr ctx(c, [kept](SSL_CTX *p) { SSL_CTX_free(p); });
  SSL_CTX_set_app_data(c, kept.get());
  SSL_CTX_set_min_proto_version(c, protocol(settings.min_version));
  SSL_CTX_set_max_proto_version(c, protocol(settings.max_version));
  SSL_CTX_set_cipher_list(c, tls12_suites);
  SSL_CTX_set_ciphersuites(c, tls13_suites);
  SSL_CTX_set1_groups_list(c, settings.groups.c_str());
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                             SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Never SSL_OP_IGNORE_UNEXPECTED_EOF: an EOF without close_notify is truncation.
  SSL_CTX_clear_options(c, SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS); // idle connections hold no record buffers
  // Level 2 (RSA and DH of 2048 bits, ECC of 224 at least, no SHA-1 signatures) whatever
  // openssl.cnf says: what Mbed TLS's default profile accepts.
  SSL_CTX_set_security_level(c, 2);

  if (!trust(c, settings)) {
    ERR_clear_error();
    detail = "the trusted certificates could not be loaded";
    ec = error::no_system_ca_store;
    return nullptr;
  }
  if (settings.side == role::server || !settings.chain_pem.empty()) {
    identity own;
    if ((ec = parse_identity(settings.chain_pem, settings.key_pem, own, detail)) ||
        (ec = use_identity(c, own, detail)))
      return nullptr;
  }
  for (const auto &host : settings.virtual_hosts) {
    callback_data::host h{host.names, {}};
    if ((ec = parse_identity(host.chain_pem, host.key_pem, h.id, detail)))
      return nullptr;
    kept->virtual_hosts.push_back(std::move(h));
  }
  if (!kept->virtual_hosts.empty())
    SSL_CTX_set_tlsext_servername_callback(c, select_virtual_host);
  if (settings.key_log)
    SSL_CTX_set_keylog_callback(c, log_secret);

  int mode = SSL_VERIFY_NONE;
  if (settings.verify_peer) {
    mode = SSL_VERIFY_PEER;
    if (settings.side == role::server && settings.require_peer_certificate)
      mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  SSL_CTX_set_verify(c, mode, &connection::verify_callback);

  if (settings.side == role::server) {
    // Stateless tickets only, as on the Mbed TLS engine: no server-side session cache.
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    // Sessions resume only where they were made; OpenSSL refuses to resume a verified
    // client's session without one.
    static constexpr unsigned char session_context[] = "tlsio";
    SSL_CTX_set_session_id_context(c, session_context, sizeof session_context - 1);
    if (!settings.tickets) { // no resumption at all
      SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
      SSL_CTX_set_num_tickets(c, 0);
    } else {
      SSL_CTX_set_timeout(c, static_cast<long>(settings.ticket_lifetime.count()));
      SSL_CTX_set_num_tickets(c, 1);
      kept->tickets.emplace(settings.ticket_lifetime);
      SSL_CTX_set_tlsext_ticket_key_evp_cb(c, use_ticket_key);
    }
    if (settings.verify_peer) { // the CAs a client's certificate may come from
      STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
      for (const auto &pem : settings.authorities_pem)
        for (auto &ca : certificates(pem))
          sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(ca.get())));
      SSL_CTX_set_client_CA_list(c, names);
    }
    if (!kept->alpn.empty())
      SSL_CTX_set_alpn_select_cb(c, select_alpn, kept.get());
  } else {
    // Sessions go to the connection (and so to the engine's cache key) as they arrive: under
    // TLS 1.3 the server's tickets come after the handshake.
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c, &connection::new_session_callback);
    if (!settings.alpn.empty()) {
      auto wire = alpn_wire(settings.alpn);
      SSL_CTX_set_alpn_protos(c, reinterpret_cast<const unsigned char *>(wire.data()),
                              static_cast<unsigned int>(wire.size()));
    }
  }
  ERR_clear_error(); // what a setting refused is not the next connection's failure
  return ctx;
}

} // namespace tlsio::detail::openssl
