// tlsio::context's trust anchors and its own certificate chain and key.
#include "context_impl.hpp"

#include "ca_store.hpp"
#include "engine_error.hpp"
#include "pem_loading.hpp"

#include <tlsio/error.hpp>

namespace tlsio {

using detail::throw_if;

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
    detail::parse_certificates(ca_chain_.get(), ca_bundle_);
  }
  for (const auto &pem : added_authorities_)
    detail::parse_certificates(ca_chain_.get(), pem);
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

void context::use_system_ca() {
  check_mutable();
  impl_->ca_source_ = ca_source::system;
  impl_->ca_bundle_.clear();
  impl_->ca_source_chosen_ = true;
}

void context::set_ca_bundle(const std::filesystem::path &path) {
  std::error_code ec;
  set_ca_bundle(path, ec);
  throw_if(ec, "loading CA bundle " + detail::quoted(path));
}

void context::set_ca_bundle(const std::filesystem::path &path, std::error_code &ec) {
  check_mutable();
  ec.clear();
  auto data = detail::read_file(path, ec);
  if (!data)
    return;
  detail::x509_crt check;
  if ((ec = detail::parse_certificates(check.get(), *data)))
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
  if ((ec = detail::parse_certificates(check.get(), data)))
    return;
  impl_->added_authorities_.push_back(std::move(data));
}

ca_source context::get_ca_source() const noexcept { return impl_->ca_source_; }

std::optional<std::filesystem::path> context::system_ca_location() {
  return detail::system_ca_store();
}

void context::load_certificate_chain(const std::filesystem::path &path) {
  std::error_code ec;
  load_certificate_chain(path, ec);
  throw_if(ec, "loading certificate chain " + detail::quoted(path));
}

void context::load_certificate_chain(const std::filesystem::path &path, std::error_code &ec) {
  ec.clear();
  check_mutable();
  if (auto data = detail::read_file(path, ec))
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
  if ((ec = detail::parse_certificates(check.get(), data)))
    return;
  bool first = !impl_->has_own_chain_;
  if (first && impl_->has_own_key_ &&
      mbedtls_pk_check_pair(&check->pk, impl_->own_key_.get()) != 0) {
    ec = error::private_key_mismatch;
    return;
  }
  detail::parse_certificates(impl_->own_chain_.get(), data);
  impl_->has_own_chain_ = true;
}

void context::load_private_key(const std::filesystem::path &path,
                               std::optional<std::string_view> password) {
  std::error_code ec;
  load_private_key(path, password, ec);
  throw_if(ec, "loading private key " + detail::quoted(path));
}

void context::load_private_key(const std::filesystem::path &path,
                               std::optional<std::string_view> password, std::error_code &ec) {
  ec.clear();
  check_mutable();
  if (auto data = detail::read_file(path, ec))
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
  if ((ec = detail::parse_key(key.get(), pem, password)))
    return;
  if (impl_->has_own_chain_ && mbedtls_pk_check_pair(&impl_->own_chain_->pk, key.get()) != 0) {
    ec = error::private_key_mismatch;
    return;
  }
  std::swap(*impl_->own_key_.get(), *key.get());
  impl_->has_own_key_ = true;
}

} // namespace tlsio
