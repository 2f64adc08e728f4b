#include "context_impl.hpp"

#include "ca_store.hpp"
#include "engine_error.hpp"
#include "peer_name.hpp"

#include <tlsio/error.hpp>

#include <mbedtls/ecp.h>
#include <mbedtls/ssl_ciphersuites.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <sstream>
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

void throw_if(const std::error_code &ec, const std::string &what) {
  if (ec)
    throw std::system_error(ec, what);
}

std::string quoted(const std::filesystem::path &path) {
  std::string text = "'";
  text += path.string(); // not a chain of operator+: GCC 12 warns falsely (-Wrestrict) on it
  text += "'";
  return text;
}

std::optional<std::string> read_file(const std::filesystem::path &path, std::error_code &ec) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ec = std::error_code(errno ? errno : ENOENT, std::generic_category());
    return std::nullopt;
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return std::move(contents).str();
}

// Mbed TLS tells PEM from DER by a terminating NUL counted in the length.
std::size_t parse_length(std::string_view data) {
  return data.find("-----BEGIN ") != std::string_view::npos ? data.size() + 1 : data.size();
}

std::error_code parse_certificates(mbedtls_x509_crt *chain, const std::string &data) {
  int ret = mbedtls_x509_crt_parse(chain, reinterpret_cast<const unsigned char *>(data.c_str()),
                                   parse_length(data));
  if (ret < 0)
    return detail::engine_error(ret);
  if (ret > 0 || chain->version == 0)
    return error::no_certificate; // some blocks were not certificates, or there were none
  return {};
}

std::error_code parse_key(mbedtls_pk_context *key, std::string_view pem,
                          std::optional<std::string_view> password) {
  std::string data(pem);
  int ret = mbedtls_pk_parse_key(
      key, reinterpret_cast<const unsigned char *>(data.c_str()), parse_length(data),
      password ? reinterpret_cast<const unsigned char *>(password->data()) : nullptr,
      password ? password->size() : 0);
  // Mbed TLS spots a wrong password by whether the decrypted bytes look like DER; about
  // one wrong password in 500 passes that test and then fails as a malformed key.
  if (ret != 0 && password && data.find("ENCRYPTED") != std::string::npos)
    ret = MBEDTLS_ERR_PK_PASSWORD_MISMATCH;
  return detail::engine_error(ret);
}

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

std::error_code context::impl::load_trust() {
  if (!verifies_peer())
    return {};
  // A server never checks client certificates against the web PKI unless told to: any
  // public CA's certificate with clientAuth would pass.
  bool system = ca_source_ == ca_source::system && (role_ == role::client || ca_source_chosen_);
  if (system) {
    if (auto ec = load_system_ca())
      return ec;
  } else if (ca_source_ == ca_source::bundle) {
    parse_certificates(ca_chain_.get(), ca_bundle_);
  }
  for (const auto &pem : added_authorities_)
    parse_certificates(ca_chain_.get(), pem);
  if (role_ == role::server && ca_chain_->version == 0)
    return error::no_client_ca;
  return {};
}

std::error_code context::impl::load_system_ca() {
  const auto &store = detail::system_ca_store();
  if (!store)
    return error::no_system_ca_store;
  std::error_code ec;
  int ret = std::filesystem::is_directory(*store, ec)
                ? mbedtls_x509_crt_parse_path(ca_chain_.get(), store->c_str())
                : mbedtls_x509_crt_parse_file(ca_chain_.get(), store->c_str());
  // A positive result counts certificates that did not parse; the rest are usable.
  if (ret < 0 || ca_chain_->version == 0)
    return error::no_system_ca_store;
  return {};
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

std::error_code context::impl::apply_identity(mbedtls_ssl_config *conf) {
  if (has_own_chain_ != has_own_key_)
    return error::no_certificate;
  if (has_own_chain_)
    return detail::engine_error(mbedtls_ssl_conf_own_cert(conf, own_chain_.get(), own_key_.get()));
  if (role_ == role::client)
    return {};
  if (virtual_hosts_.empty())
    return error::no_certificate;
  auto &first = *virtual_hosts_.front();
  return detail::engine_error(mbedtls_ssl_conf_own_cert(conf, first.chain.get(), first.key.get()));
}

int context::impl::select_virtual_host(void *self, mbedtls_ssl_context *ssl,
                                       const unsigned char *name, std::size_t length) {
  std::string_view requested(reinterpret_cast<const char *>(name), length);
  for (auto &host : static_cast<impl *>(self)->virtual_hosts_)
    for (const auto &pattern : host->names)
      if (detail::virtual_host_matches(pattern, requested))
        return mbedtls_ssl_set_hs_own_cert(ssl, host->chain.get(), host->key.get());
  return 0; // unknown names get the default certificate
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
  throw_if(ec, "setting the minimum TLS version");
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
  throw_if(ec, "setting the maximum TLS version");
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

void context::use_system_ca() {
  check_mutable();
  impl_->ca_source_ = ca_source::system;
  impl_->ca_bundle_.clear();
  impl_->ca_source_chosen_ = true;
}

void context::set_ca_bundle(const std::filesystem::path &path) {
  std::error_code ec;
  set_ca_bundle(path, ec);
  throw_if(ec, "loading CA bundle " + quoted(path));
}

void context::set_ca_bundle(const std::filesystem::path &path, std::error_code &ec) {
  check_mutable();
  ec.clear();
  auto data = read_file(path, ec);
  if (!data)
    return;
  detail::x509_crt check;
  if ((ec = parse_certificates(check.get(), *data)))
    return;
  impl_->ca_bundle_ = std::move(*data);
  impl_->ca_source_ = ca_source::bundle;
  impl_->ca_source_chosen_ = true;
}

void context::no_ca() {
  check_mutable();
  impl_->ca_source_ = ca_source::none;
  impl_->ca_bundle_.clear();
  impl_->ca_source_chosen_ = true;
}

void context::add_certificate_authority(std::string_view pem) {
  std::error_code ec;
  add_certificate_authority(pem, ec);
  throw_if(ec, "adding a certificate authority");
}

void context::add_certificate_authority(std::string_view pem, std::error_code &ec) {
  check_mutable();
  std::string data(pem);
  detail::x509_crt check;
  if ((ec = parse_certificates(check.get(), data)))
    return;
  impl_->added_authorities_.push_back(std::move(data));
}

ca_source context::get_ca_source() const noexcept { return impl_->ca_source_; }

std::error_code context::finalize() const { return impl_->prepare(); }

std::optional<std::filesystem::path> context::system_ca_location() {
  return detail::system_ca_store();
}

void context::load_certificate_chain(const std::filesystem::path &path) {
  std::error_code ec;
  load_certificate_chain(path, ec);
  throw_if(ec, "loading certificate chain " + quoted(path));
}

void context::load_certificate_chain(const std::filesystem::path &path, std::error_code &ec) {
  ec.clear();
  check_mutable();
  if (auto data = read_file(path, ec))
    load_certificate_chain_pem(*data, ec);
}

void context::load_certificate_chain_pem(std::string_view pem) {
  std::error_code ec;
  load_certificate_chain_pem(pem, ec);
  throw_if(ec, "loading a certificate chain");
}

void context::load_certificate_chain_pem(std::string_view pem, std::error_code &ec) {
  check_mutable();
  std::string data(pem);
  detail::x509_crt check;
  if ((ec = parse_certificates(check.get(), data)))
    return;
  bool first = !impl_->has_own_chain_;
  if (first && impl_->has_own_key_ &&
      mbedtls_pk_check_pair(&check->pk, impl_->own_key_.get()) != 0) {
    ec = error::private_key_mismatch;
    return;
  }
  parse_certificates(impl_->own_chain_.get(), data);
  impl_->has_own_chain_ = true;
}

void context::load_private_key(const std::filesystem::path &path,
                               std::optional<std::string_view> password) {
  std::error_code ec;
  load_private_key(path, password, ec);
  throw_if(ec, "loading private key " + quoted(path));
}

void context::load_private_key(const std::filesystem::path &path,
                               std::optional<std::string_view> password, std::error_code &ec) {
  ec.clear();
  check_mutable();
  if (auto data = read_file(path, ec))
    load_private_key_pem(*data, password, ec);
}

void context::load_private_key_pem(std::string_view pem, std::optional<std::string_view> password) {
  std::error_code ec;
  load_private_key_pem(pem, password, ec);
  throw_if(ec, "loading a private key");
}

void context::load_private_key_pem(std::string_view pem, std::optional<std::string_view> password,
                                   std::error_code &ec) {
  check_mutable();
  detail::pk_context key;
  if ((ec = parse_key(key.get(), pem, password)))
    return;
  if (impl_->has_own_chain_ && mbedtls_pk_check_pair(&impl_->own_chain_->pk, key.get()) != 0) {
    ec = error::private_key_mismatch;
    return;
  }
  std::swap(*impl_->own_key_.get(), *key.get());
  impl_->has_own_key_ = true;
}

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

void context::enable_session_tickets(std::chrono::seconds lifetime) {
  check_mutable();
  auto &i = *impl_;
  i.ticket_lifetime_ = lifetime;
  if (i.backend_ != tlsio::backend::mbedtls)
    return; // the backend sets up its own keys at prepare()
  // A second call replaces the first's keys, which would otherwise leak.
  mbedtls_ssl_ticket_free(i.tickets_.get());
  mbedtls_ssl_ticket_init(i.tickets_.get());
  int ret = mbedtls_ssl_ticket_setup(i.tickets_.get(), detail::fork_safe_random::generate,
                                     &i.random_, MBEDTLS_CIPHER_AES_256_GCM,
                                     static_cast<std::uint32_t>(lifetime.count()));
  if (ret != 0)
    throw std::system_error(detail::engine_error(ret), "setting up session tickets");
  // prepare() hands the keys to the configurations (impl::configure).
}

void context::set_alpn(std::vector<std::string> protocols, alpn_mismatch on_mismatch) {
  std::error_code ec;
  set_alpn(std::move(protocols), on_mismatch, ec);
  throw_if(ec, "setting ALPN protocols");
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

void context::add_virtual_host(const std::vector<std::string> &names, std::string_view chain_pem,
                               std::string_view key_pem, std::optional<std::string_view> password) {
  check_mutable();
  auto host = std::make_unique<impl::virtual_host>();
  host->names = names;
  std::error_code ec = parse_certificates(host->chain.get(), std::string(chain_pem));
  if (!ec)
    ec = parse_key(host->key.get(), key_pem, password);
  if (!ec && mbedtls_pk_check_pair(&host->chain->pk, host->key.get()) != 0)
    ec = error::private_key_mismatch;
  throw_if(ec, "adding a virtual host");
  impl_->virtual_hosts_.push_back(std::move(host));
}

void context::enable_session_cache(std::size_t capacity) {
  check_mutable();
  impl_->session_cache_.emplace(capacity);
}

std::optional<session> context::cached_session(std::string_view server) const {
  if (!impl_->session_cache_)
    return std::nullopt;
  auto found = impl_->session_cache_->find(
      server, [](const std::shared_ptr<const session::impl> &s) { return s->resumable->load(); });
  return found ? std::optional<session>(session(*found)) : std::nullopt;
}

void context::cache_session(std::string_view server, const session &s) const {
  if (impl_->session_cache_)
    impl_->session_cache_->insert(server, s.shared());
}

void context::set_handshake_timeout(std::chrono::milliseconds timeout) {
  check_mutable();
  impl_->handshake_timeout_ = timeout;
}

std::chrono::milliseconds context::handshake_timeout() const noexcept {
  return impl_->handshake_timeout_;
}

} // namespace tlsio
