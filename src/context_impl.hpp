// The shared state behind tlsio::context (internal).
#pragma once

#include "mbed_object.hpp"

#include <tlsio/context.hpp>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

namespace tlsio {

struct context::impl {
  explicit impl(role r);

  /// Makes the configuration final and ready for connections; runs once. Errors that only
  /// matter once connecting (no system CA store) are kept and reported by each handshake.
  const std::error_code &prepare();

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
  std::chrono::milliseconds handshake_timeout_{std::chrono::seconds(10)};

  std::once_flag prepared_;
  std::error_code prepare_error_;
  std::atomic<bool> in_use_{false};

private:
  std::error_code load_system_ca();
  std::error_code apply_identity();
};

} // namespace tlsio
