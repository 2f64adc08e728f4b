// The verdict on the peer's certificate chain (peer_verifier.hpp).
#include "peer_verifier.hpp"

#include "../chain_order.hpp"
#include "../engine_error.hpp"

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

void peer_verifier::attach(mbedtls_ssl_context &ssl) {
  mbedtls_ssl_set_verify(&ssl, &peer_verifier::verify_certificate, this);
}

int peer_verifier::verify_certificate(void *self, mbedtls_x509_crt *crt, int depth,
                                      std::uint32_t *flags) {
  auto &v = *static_cast<peer_verifier *>(self);
  bool names_host = depth == 0 && v.context_.role_ == role::client && !v.name_.empty();
  // Mbed TLS 2.28 matches names as DNS names only; an IP literal is checked here instead.
  if (names_host && v.ip_) {
    auto addresses = detail::certificate_ip_addresses(*crt);
    if (std::find(addresses.begin(), addresses.end(), *v.ip_) == addresses.end())
      *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
  }
  // Mbed TLS 2.28 falls back to the Common Name of a leaf without subjectAltName.
  if (names_host && !detail::has_subject_alt_name(*crt))
    *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
  if (*flags == 0)
    return 0;
  auto problem = problem_with(*crt);
  if (*flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
    problem.name_mismatch = name_mismatch_reason(*crt, v.name_, v.ip_);
  v.problems_.push_back({*flags, std::move(problem)});
  return 0;
}

std::string peer_verifier::describe_failure(std::uint32_t flags) const {
  auto code = detail::verification_error(flags);
  for (const auto &p : problems_)
    if (detail::verification_error(p.flags) == code)
      return verification_sentence(code, p.problem);
  return code.message();
}

int peer_verifier::verify_in_issuer_order(mbedtls_ssl_context &ssl, const mbedtls_x509_crt &sent,
                                          std::uint32_t &flags) {
  detail::x509_crt ordered;
  if (int ret = detail::copy_in_issuer_order(sent, *ordered.get()); ret != 0)
    return ret;
  // The messages must describe this verdict, not the first one.
  problems_.clear();
  std::uint32_t result = 0;
  // Only our CAs are trust anchors: the peer's certificates are only the chain to them.
  const auto &conf = *ssl.conf;
  int ret = mbedtls_x509_crt_verify_with_profile(ordered.get(), conf.ca_chain, conf.ca_crl,
                                                 conf.cert_profile, ssl.hostname, &result,
                                                 &peer_verifier::verify_certificate, this);
  if (ret != 0 && ret != MBEDTLS_ERR_X509_CERT_VERIFY_FAILED)
    return ret;
  flags = result | (flags & checks_outside_chain);
  return 0;
}

peer_verifier::verdict peer_verifier::judge(mbedtls_ssl_context &ssl) {
  if (!context_.verifies_peer())
    return {};
  auto &session = *ssl.session_negotiate;
  std::uint32_t flags = session.verify_result;
  if (session.peer_cert == nullptr) { // a client that has no certificate to send
    result_ = flags;
    bool required = context_.role_ == role::client ||
                    context_.client_certificate_ == client_certificate::required;
    return required ? verdict{{}, {}, MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE} : verdict{};
  }
  if (flags != 0) {
    if (int ret = verify_in_issuer_order(ssl, *session.peer_cert, flags); ret != 0) {
      mbedtls_ssl_send_alert_message(&ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                     MBEDTLS_SSL_ALERT_MSG_INTERNAL_ERROR);
      return {{}, {}, ret};
    }
  }
  // In the session too, so that resuming it reports this verdict.
  result_ = session.verify_result = flags;
  if (flags == 0)
    return {};
  mbedtls_ssl_send_alert_message(&ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL, alert_for(flags));
  return {detail::verification_error(flags), describe_failure(flags), 0};
}

std::uint32_t peer_verifier::flags(const mbedtls_ssl_context &ssl) const {
  return result_ ? *result_ : mbedtls_ssl_get_verify_result(&ssl);
}

std::error_code peer_verifier::result(const mbedtls_ssl_context &ssl) const noexcept {
  auto f = flags(ssl);
  if (f == static_cast<std::uint32_t>(-1) || (f & MBEDTLS_X509_BADCERT_SKIP_VERIFY))
    return {};
  return detail::verification_error(f);
}

} // namespace tlsio::detail
