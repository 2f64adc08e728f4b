// The shared state behind tlsio::context (internal).
#pragma once

#include "mbed_object.hpp"

#include <tlsio/context.hpp>
#include <tlsio/engine.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tlsio {

struct session::impl {
  detail::ssl_session value;
};

struct context::impl {
  explicit impl(role r);

  /// Makes the configuration final and ready for connections; runs once. Errors that only
  /// matter once connecting (no system CA store) are kept and reported by each handshake.
  const std::error_code &prepare();
  /// Whether connections verify the peer's certificate: a client unless told to skip, a
  /// server that asks for client certificates.
  bool verifies_peer() const noexcept;

  role role_;
  detail::entropy entropy_;
  detail::ctr_drbg drbg_;
  detail::ssl_config config_;

  ca_source ca_source_ = ca_source::system;
  detail::x509_crt ca_chain_;  // what set_ca_bundle/add_certificate_authority loaded
  detail::x509_crt own_chain_; // this side's leaf, then intermediates
  detail::pk_context own_key_;
  bool has_own_chain_ = false;
  bool has_own_key_ = false;

  verify verify_ = verify::peer;
  client_certificate client_certificate_ = client_certificate::none;
  std::vector<mbedtls_ecp_group_id> groups_; // what Mbed TLS reads, ending in NONE
  detail::ssl_ticket tickets_;
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

  bool session_cache_enabled_ = false;
  mutable std::mutex session_cache_mutex_;
  std::map<std::string, std::shared_ptr<const session::impl>, std::less<>> session_cache_;
  std::chrono::milliseconds handshake_timeout_{std::chrono::seconds(10)};

  std::once_flag prepared_;
  std::error_code prepare_error_;
  std::atomic<bool> in_use_{false};

private:
  std::error_code load_system_ca();
  std::error_code apply_identity();
};

} // namespace tlsio
