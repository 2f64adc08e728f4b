// The shared state behind tlsio::context (internal).
#pragma once

#include "fork_safe_random.hpp"
#include "key_log.hpp"
#include "mbed_object.hpp"
#include "session_cache.hpp"

#include <tlsio/context.hpp>
#include <tlsio/engine.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

// OpenSSL's types, named without its headers (a build without OpenSSL has none).
struct ssl_ctx_st;
struct ssl_session_st;

namespace tlsio {

struct session::impl {
  tlsio::backend backend = tlsio::backend::mbedtls;
  detail::ssl_session value;                     // Mbed TLS's
  std::shared_ptr<ssl_session_st> openssl_value; // OpenSSL's
  /// The server name the session was made for, in canonical form.
  std::string server_name;
  /// The context whose trust settings verified it (or chose not to); it resumes with no
  /// other, so a session never skips a stricter context's checks.
  std::weak_ptr<const context::impl> origin;
  /// Cleared by a fatal failure on any connection that made or resumed it (RFC 5246
  /// §7.2.2); shared by every copy of one TLS session, including those that resumed it.
  std::shared_ptr<std::atomic<bool>> resumable = std::make_shared<std::atomic<bool>>(true);
  /// A TLS 1.3 ticket: clients SHOULD NOT offer one twice (RFC 8446 §C.4), so the session
  /// cache hands it out once, and an engine offers it only if no engine has.
  bool single_use = false;
  /// Set by the first engine that offers the session.
  mutable std::atomic<bool> offered{false};
  /// Made over DTLS: only a DTLS engine offers it, and a DTLS engine offers nothing else.
  bool datagram = false;
};

namespace detail {
/// For the library's parts that are not the engines (the DTLS acceptor).
struct context_access {
  static const std::shared_ptr<context::impl> &of(const context &c) noexcept { return c.impl_; }
};
} // namespace detail

struct context::impl {
  impl(role r, tlsio::backend b);

  /// Makes the configuration final and ready for connections; runs once. Errors that only
  /// matter once connecting (no system CA store) are kept and reported by each handshake.
  const std::error_code &prepare();
  /// Whether connections verify the peer's certificate: a client unless told to skip, a
  /// server that asks for client certificates.
  bool verifies_peer() const noexcept;

  role role_;
  tlsio::backend backend_;
  tls_version min_version_ = tls_version::tls1_2;
  tls_version max_version_ = tls_version::tls1_2;
  detail::fork_safe_random random_; // all randomness goes through it, never the DRBG itself
  detail::ssl_config config_;

  ca_source ca_source_ = ca_source::system;
  bool ca_source_chosen_ = false;              // set by use_system_ca, set_ca_bundle, no_ca
  std::string ca_bundle_;                      // what set_ca_bundle read (PEM or DER)
  std::vector<std::string> added_authorities_; // what add_certificate_authority gave
  detail::x509_crt ca_chain_;                  // all of the above, built by prepare()
  detail::x509_crt own_chain_;                 // this side's leaf, then intermediates
  detail::pk_context own_key_;
  bool has_own_chain_ = false;
  bool has_own_key_ = false;

  verify verify_ = verify::peer;
  client_certificate client_certificate_ = client_certificate::none;
  std::vector<mbedtls_ecp_group_id> groups_;     // what Mbed TLS reads, ending in NONE
  std::vector<key_exchange_group> group_choice_; // as set_key_exchange_groups() gave it
  detail::ssl_ticket tickets_;
  // DTLS's own keys: a ticket records no transport, so one issued over TLS must not open a
  // DTLS session, nor the reverse.
  detail::ssl_ticket dtls_tickets_;
  std::optional<std::chrono::seconds> ticket_lifetime_; // set by enable_session_tickets()
  std::vector<std::string> alpn_;
  std::vector<const char *> alpn_list_; // what Mbed TLS reads: alpn_ as C strings + nullptr
  alpn_mismatch alpn_mismatch_ = alpn_mismatch::fail;
  // For alpn_mismatch::proceed: the same settings without ALPN, for a connection whose
  // client offers nothing we speak. A shallow copy of config_: it owns nothing and is
  // never freed.
  mbedtls_ssl_config config_without_alpn_{};

  struct virtual_host {
    std::vector<std::string> names;
    detail::x509_crt chain;
    detail::pk_context key;
  };
  std::vector<std::unique_ptr<virtual_host>> virtual_hosts_;
  static int select_virtual_host(void *self, mbedtls_ssl_context *ssl, const unsigned char *name,
                                 std::size_t length);

  std::optional<detail::session_cache<std::shared_ptr<const session::impl>>> session_cache_;
  std::chrono::milliseconds handshake_timeout_{std::chrono::seconds(10)};
  std::unique_ptr<detail::key_log_file> key_log_; // only if the application asked for one

  // The OpenSSL backend's SSL_CTX, made by prepare() from the settings above.
  std::shared_ptr<ssl_ctx_st> openssl_context_;
  std::string prepare_detail_; // a sentence for prepare_error_, where there is more to say

  std::once_flag prepared_;
  std::error_code prepare_error_;

  /// prepare(), then the DTLS configuration from the same settings (src/mbedtls/
  /// dtls_config.cpp); runs once, on the first dtls::engine. The result is prepare()'s
  /// error, or this one's.
  const std::error_code &prepare_dtls();
  detail::ssl_config dtls_config_;
  // Server: the key of HelloVerifyRequest cookies (RFC 6347 §4.2.1), one per context;
  // Mbed TLS locks it, so the context's engines may use it from any thread.
  detail::ssl_cookie cookies_;
  std::once_flag dtls_prepared_;
  std::error_code dtls_error_;
  std::atomic<bool> in_use_{false};

  /// Mbed TLS's defaults for this role over `transport` (MBEDTLS_SSL_TRANSPORT_STREAM or
  /// _DATAGRAM), then what holds from construction on: randomness, version floor, suites,
  /// groups, no renegotiation. 0 or an Mbed TLS error.
  int set_defaults(mbedtls_ssl_config *conf, int transport);
  /// What prepare() adds once trust is loaded: this side's certificate, verification, CAs,
  /// virtual hosts, key log, ticket keys (all but ALPN). For the stream's configuration and
  /// the datagram one alike, so that both follow the same rules.
  std::error_code configure(mbedtls_ssl_config *conf);

private:
  std::error_code load_trust();
  std::error_code load_system_ca();
  std::error_code apply_identity(mbedtls_ssl_config *conf);
  std::error_code prepare_openssl();
};

namespace detail {
/// Throws std::system_error(ec, what) if ec is set: the throwing forms of the setters.
inline void throw_if(const std::error_code &ec, const std::string &what) {
  if (ec)
    throw std::system_error(ec, what);
}
} // namespace detail

} // namespace tlsio
