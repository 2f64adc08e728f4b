// The engine's verdict on the peer's certificate chain.
#include "../chain_order.hpp"
#include "../engine_error.hpp"
#include "mbedtls_engine.hpp"

#include <tlsio/error.hpp>

#include <mbedtls/ssl_internal.h>

#include <algorithm>

namespace tlsio::detail {
namespace {

// What Mbed TLS checks beside the chain (the leaf's usage, its curve), which verifying the
// chain again does not repeat.
constexpr std::uint32_t checks_outside_chain =
    MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE |
    MBEDTLS_X509_BADCERT_NS_CERT_TYPE | MBEDTLS_X509_BADCERT_BAD_KEY;

// The alert Mbed TLS itself sends for these flags, so that peers see what they saw before.
unsigned char alert_for(std::uint32_t flags) {
  if (flags & MBEDTLS_X509_BADCERT_OTHER)
    return MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED;
  if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
    return MBEDTLS_SSL_ALERT_MSG_BAD_CERT;
  if (flags & (MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE |
               MBEDTLS_X509_BADCERT_NS_CERT_TYPE | MBEDTLS_X509_BADCERT_BAD_PK |
               MBEDTLS_X509_BADCERT_BAD_KEY))
    return MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT;
  if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
    return MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED;
  if (flags & MBEDTLS_X509_BADCERT_REVOKED)
    return MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED;
  if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
    return MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA;
  return MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN;
}

} // namespace

int mbedtls_engine::verify_certificate(void *self, mbedtls_x509_crt *crt, int depth,
                                       std::uint32_t *flags) {
  auto &e = *static_cast<mbedtls_engine *>(self);
  bool names_host = depth == 0 && e.context_->role_ == role::client && !e.server_name_.empty();
  // Mbed TLS 2.28 matches names as DNS names only; an IP literal is checked here instead.
  if (names_host && e.server_ip_) {
    auto addresses = detail::certificate_ip_addresses(*crt);
    if (std::find(addresses.begin(), addresses.end(), *e.server_ip_) == addresses.end())
      *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
  }
  // Mbed TLS 2.28 falls back to the Common Name of a leaf without subjectAltName.
  if (names_host && !detail::has_subject_alt_name(*crt))
    *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
  if (*flags == 0)
    return 0;
  auto problem = problem_with(*crt);
  if (*flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
    problem.name_mismatch = name_mismatch_reason(*crt, e.server_name_, e.server_ip_);
  e.certificate_problems_.push_back({*flags, std::move(problem)});
  return 0;
}

std::string mbedtls_engine::describe_verification_failure(std::uint32_t flags) const {
  auto code = detail::verification_error(flags);
  for (const auto &p : certificate_problems_)
    if (detail::verification_error(p.flags) == code)
      return verification_sentence(code, p.problem);
  return code.message();
}

int mbedtls_engine::verify_in_issuer_order(const mbedtls_x509_crt &sent, std::uint32_t &flags) {
  detail::x509_crt ordered;
  if (int ret = detail::copy_in_issuer_order(sent, *ordered.get()); ret != 0)
    return ret;
  // The messages must describe this verdict, not the first one.
  certificate_problems_.clear();
  std::uint32_t result = 0;
  // Only our CAs are trust anchors: the peer's certificates are only the chain to them.
  const auto &conf = *ssl_->conf;
  int ret = mbedtls_x509_crt_verify_with_profile(ordered.get(), conf.ca_chain, conf.ca_crl,
                                                 conf.cert_profile, ssl_->hostname, &result,
                                                 &mbedtls_engine::verify_certificate, this);
  if (ret != 0 && ret != MBEDTLS_ERR_X509_CERT_VERIFY_FAILED)
    return ret;
  flags = result | (flags & checks_outside_chain);
  return 0;
}

step_result mbedtls_engine::check_peer_certificate() {
  if (!context_->verifies_peer())
    return {status::done, 0, {}};
  auto &session = *ssl_->session_negotiate;
  std::uint32_t flags = session.verify_result;
  if (session.peer_cert == nullptr) { // a client that has no certificate to send
    verify_result_ = flags;
    bool required = context_->role_ == role::client ||
                    context_->client_certificate_ == client_certificate::required;
    return required ? fail(MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE) : step_result{};
  }
  if (flags != 0) {
    if (int ret = verify_in_issuer_order(*session.peer_cert, flags); ret != 0) {
      mbedtls_ssl_send_alert_message(ssl_.get(), MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                     MBEDTLS_SSL_ALERT_MSG_INTERNAL_ERROR);
      return fail(ret);
    }
  }
  // In the session too, so that resuming it reports this verdict.
  verify_result_ = session.verify_result = flags;
  if (flags == 0)
    return {status::done, 0, {}};
  mbedtls_ssl_send_alert_message(ssl_.get(), MBEDTLS_SSL_ALERT_LEVEL_FATAL, alert_for(flags));
  return fail(detail::verification_error(flags), describe_verification_failure(flags));
}

std::uint32_t mbedtls_engine::verify_flags() const {
  return verify_result_ ? *verify_result_ : mbedtls_ssl_get_verify_result(ssl_.get());
}

} // namespace tlsio::detail
