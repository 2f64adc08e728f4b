#include "openssl_context.hpp"

#include <tlsio/error.hpp>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

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
constexpr const char *tls12_suites = "ECDHE+AESGCM:ECDHE+CHACHA20";
constexpr const char *groups = "X25519:P-256:P-384";

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

std::error_code identity(SSL_CTX *ctx, const backend_settings &s, std::string &detail) {
  auto chain = certificates(s.chain_pem);
  if (chain.empty()) {
    detail = "no certificate in the chain given";
    return error::no_certificate;
  }
  auto key_in = memory(s.key_pem);
  std::unique_ptr<EVP_PKEY, pkey_deleter> key(
      PEM_read_bio_PrivateKey(key_in.get(), nullptr, nullptr, nullptr));
  if (!key) {
    ERR_clear_error();
    detail = "the private key does not parse (or is encrypted)";
    return error::private_key_password_required;
  }
  if (SSL_CTX_use_certificate(ctx, chain.front().get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    detail = "the private key does not belong to the certificate";
    return error::private_key_mismatch;
  }
  for (std::size_t i = 1; i < chain.size(); ++i)
    if (SSL_CTX_add1_chain_cert(ctx, chain[i].get()) != 1)
      return error::no_certificate;
  return {};
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
  const auto &s = *static_cast<const backend_settings *>(arg);
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
  SSL_CTX *c = SSL_CTX_new(TLS_method());
  if (!c) {
    detail = "OpenSSL could not make a context (out of memory?)";
    ec = std::make_error_code(std::errc::not_enough_memory);
    return nullptr;
  }
  // The settings outlive the callbacks that read them: the context keeps a copy.
  auto kept = std::make_shared<backend_settings>(settings);
  ssl_ctx_ptr ctx(c, [kept](SSL_CTX *p) { SSL_CTX_free(p); });
  SSL_CTX_set_min_proto_version(c, protocol(settings.min_version));
  SSL_CTX_set_max_proto_version(c, protocol(settings.max_version));
  SSL_CTX_set_cipher_list(c, tls12_suites);
  SSL_CTX_set1_groups_list(c, groups);
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                             SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Never SSL_OP_IGNORE_UNEXPECTED_EOF: an EOF without close_notify is truncation.
  SSL_CTX_clear_options(c, SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS); // idle connections hold no record buffers

  if (!trust(c, settings)) {
    ERR_clear_error();
    detail = "the trusted certificates could not be loaded";
    ec = error::no_system_ca_store;
    return nullptr;
  }
  if (settings.side == role::server || !settings.chain_pem.empty())
    if ((ec = identity(c, settings, detail)))
      return nullptr;

  int mode = SSL_VERIFY_NONE;
  if (settings.verify_peer) {
    mode = SSL_VERIFY_PEER;
    if (settings.side == role::server && settings.require_peer_certificate)
      mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  SSL_CTX_set_verify(c, mode, nullptr);

  if (settings.side == role::server) {
    if (!settings.tickets) { // no resumption at all, as on the Mbed TLS engine
      SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
      SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
      SSL_CTX_set_num_tickets(c, 0);
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
  } else if (!settings.alpn.empty()) {
    auto wire = alpn_wire(settings.alpn);
    SSL_CTX_set_alpn_protos(c, reinterpret_cast<const unsigned char *>(wire.data()),
                            static_cast<unsigned int>(wire.size()));
  }
  return ctx;
}

} // namespace tlsio::detail::openssl
