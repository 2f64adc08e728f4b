#include "context_impl.hpp"

#include "ca_store.hpp"
#include "engine_error.hpp"
#include "peer_name.hpp"

#include <tlsio/error.hpp>

#include <mbedtls/ecp.h>
#include <mbedtls/ssl_ciphersuites.h>

#include <algorithm>
#include <stdexcept>

namespace tlsio {
namespace {

// ECDHE with AEAD only: forward secrecy, and none of the CBC, RC4 or 3DES suites that
// Debian's build of Mbed TLS would otherwise offer.
constexpr int cipher_suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};

constexpr mbedtls_ecp_group_id key_exchange_groups[] = {
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_NONE,
};

} // namespace

// --- impl ---------------------------------------------------------------------------------

context::impl::impl(role r, tlsio::backend b) : role_(r), backend_(b) {
#if !TLSIO_WITH_OPENSSL
  if (b == tlsio::backend::openssl)
    throw std::system_error(error::backend_unavailable, "making a context for OpenSSL");
#endif
  if (b == tlsio::backend::openssl)
    max_version_ = tls_version::tls1_3;
  if (int ret = set_defaults(config_.get(), MBEDTLS_SSL_TRANSPORT_STREAM); ret != 0)
    throw std::system_error(detail::engine_error(ret), "configuring TLS");
}

int context::impl::set_defaults(mbedtls_ssl_config *conf, int transport) {
  int ret = mbedtls_ssl_config_defaults(
      conf, role_ == role::client ? MBEDTLS_SSL_IS_CLIENT : MBEDTLS_SSL_IS_SERVER, transport,
      MBEDTLS_SSL_PRESET_DEFAULT);
  if (ret != 0)
    return ret;
  mbedtls_ssl_conf_rng(conf, detail::fork_safe_random::generate, &random_);
  // Debian's build allows TLS 1.0 and 1.1; 1.2 is the floor (and the ceiling of 2.28). Over
  // datagrams the same numbers mean DTLS 1.2.
  mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_ciphersuites(conf, cipher_suites);
  mbedtls_ssl_conf_curves(conf, groups_.empty() ? key_exchange_groups : groups_.data());
  mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
  return 0;
}

const std::error_code &context::impl::prepare() {
  std::call_once(prepared_, [this] {
    in_use_ = true;
    prepare_error_ = configure(config_.get());
    if (!prepare_error_)
      prepare_error_ = load_trust();
    config_without_alpn_ = *config_.get();
    if (!alpn_.empty()) {
      for (const auto &p : alpn_)
        alpn_list_.push_back(p.c_str());
      alpn_list_.push_back(nullptr);
      mbedtls_ssl_conf_alpn_protocols(config_.get(), alpn_list_.data());
    }
    if (!prepare_error_ && backend_ == tlsio::backend::openssl)
      prepare_error_ = prepare_openssl();
  });
  return prepare_error_;
}

bool context::impl::verifies_peer() const noexcept {
  return role_ == role::client ? verify_ == verify::peer
                               : client_certificate_ != client_certificate::none;
}

std::error_code context::impl::configure(mbedtls_ssl_config *conf) {
  auto ec = apply_identity(conf);
  // Mbed TLS only checks and goes on: the engine decides, after verifying again with the
  // intermediates in issuer order (detail::peer_verifier).
  mbedtls_ssl_conf_authmode(conf, verifies_peer() ? MBEDTLS_SSL_VERIFY_OPTIONAL
                                                  : MBEDTLS_SSL_VERIFY_NONE);
  mbedtls_ssl_conf_ca_chain(conf, ca_chain_.get(), nullptr);
  if (!virtual_hosts_.empty())
    mbedtls_ssl_conf_sni(conf, &impl::select_virtual_host, this);
  if (key_log_)
    key_log_->attach(conf);
  if (ticket_lifetime_ && backend_ == tlsio::backend::mbedtls)
    mbedtls_ssl_conf_session_tickets_cb(conf, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse,
                                        tickets_.get());
  return ec;
}

#if !TLSIO_WITH_OPENSSL
std::error_code context::impl::prepare_openssl() { return error::backend_unavailable; }
#endif

// --- context ------------------------------------------------------------------------------

context::context(role r, tlsio::backend b) : impl_(std::make_shared<impl>(r, b)) {}

role context::get_role() const noexcept { return impl_->role_; }

tlsio::backend context::get_backend() const noexcept { return impl_->backend_; }

void context::set_min_version(tls_version v) {
  std::error_code ec;
  set_min_version(v, ec);
  detail::throw_if(ec, "setting the minimum TLS version");
}

void context::set_min_version(tls_version v, std::error_code &ec) {
  check_mutable();
  ec.clear();
  if (v > impl_->max_version_)
    ec = error::unsupported_version;
  else
    impl_->min_version_ = v;
}

void context::set_max_version(tls_version v) {
  std::error_code ec;
  set_max_version(v, ec);
  detail::throw_if(ec, "setting the maximum TLS version");
}

void context::set_max_version(tls_version v, std::error_code &ec) {
  check_mutable();
  ec.clear();
  bool spoken = v == tls_version::tls1_2 || impl_->backend_ == tlsio::backend::openssl;
  if (!spoken || v < impl_->min_version_)
    ec = error::unsupported_version;
  else
    impl_->max_version_ = v;
}

tls_version context::min_version() const noexcept { return impl_->min_version_; }
tls_version context::max_version() const noexcept { return impl_->max_version_; }

void context::check_mutable() const {
  if (impl_->in_use_)
    throw std::logic_error("tlsio::context: configuration cannot change once connections use it");
}

std::error_code context::finalize() const { return impl_->prepare(); }

void context::set_verify(verify mode) {
  check_mutable();
  impl_->verify_ = mode;
}

verify context::get_verify() const noexcept { return impl_->verify_; }

void context::set_client_certificate(client_certificate mode) {
  check_mutable();
  impl_->client_certificate_ = mode;
}

void context::set_key_exchange_groups(const std::vector<key_exchange_group> &groups) {
  check_mutable();
  impl_->group_choice_ = groups;
  auto &ids = impl_->groups_;
  ids.clear();
  for (auto g : groups) {
    switch (g) {
    case key_exchange_group::x25519:
      ids.push_back(MBEDTLS_ECP_DP_CURVE25519);
      break;
    case key_exchange_group::secp256r1:
      ids.push_back(MBEDTLS_ECP_DP_SECP256R1);
      break;
    case key_exchange_group::secp384r1:
      ids.push_back(MBEDTLS_ECP_DP_SECP384R1);
      break;
    }
  }
  ids.push_back(MBEDTLS_ECP_DP_NONE);
  mbedtls_ssl_conf_curves(impl_->config_.get(), ids.data());
}

void context::set_alpn(std::vector<std::string> protocols, alpn_mismatch on_mismatch) {
  std::error_code ec;
  set_alpn(std::move(protocols), on_mismatch, ec);
  detail::throw_if(ec, "setting ALPN protocols");
}

void context::set_alpn(std::vector<std::string> protocols, alpn_mismatch on_mismatch,
                       std::error_code &ec) {
  check_mutable();
  ec.clear();
  std::size_t list_size = 0;
  for (const auto &p : protocols) {
    list_size += 1 + p.size();
    // Mbed TLS takes the names as C strings, so a NUL inside one would cut it short.
    if (p.empty() || p.size() > 255 || p.find('\0') != std::string::npos) {
      ec = error::invalid_alpn;
      return;
    }
  }
  if (list_size > 65535) {
    ec = error::invalid_alpn;
    return;
  }
  impl_->alpn_ = std::move(protocols);
  impl_->alpn_mismatch_ = on_mismatch;
}

void context::set_handshake_timeout(std::chrono::milliseconds timeout) {
  check_mutable();
  impl_->handshake_timeout_ = timeout;
}

std::chrono::milliseconds context::handshake_timeout() const noexcept {
  return impl_->handshake_timeout_;
}

} // namespace tlsio
