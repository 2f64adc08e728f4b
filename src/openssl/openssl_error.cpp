#include "openssl_error.hpp"

#include "../alert_for_error.hpp"

#include <tlsio/error.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

namespace tlsio::detail::openssl {
namespace {

// The failures people meet most, in the words the Mbed TLS engine uses for them.
const char *plain_message(int reason) {
  switch (reason) {
  case SSL_R_UNSUPPORTED_PROTOCOL:
    return "no TLS version in common with the peer (it offers only versions this side does "
           "not allow: older ones, or TLS 1.2 where this side requires TLS 1.3)";
  case SSL_R_WRONG_VERSION_NUMBER:
  case SSL_R_UNKNOWN_PROTOCOL:
  case SSL_R_HTTP_REQUEST:
    return "the peer does not speak TLS 1.2 or 1.3 (not TLS at all, or an older version)";
  case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
    return "a record failed authentication (bad record MAC): it was changed on the way, or "
           "the peer's keys differ";
  case SSL_R_PACKET_LENGTH_TOO_LONG:
  case SSL_R_ENCRYPTED_LENGTH_TOO_LONG:
  case SSL_R_DATA_LENGTH_TOO_LONG:
    return "the peer sent a record longer than TLS allows";
  case SSL_R_NO_SHARED_CIPHER:
    return "no cipher suite in common with the peer";
  case SSL_R_NO_SUITABLE_KEY_SHARE:
  case SSL_R_NO_SHARED_GROUPS:
    return "no key exchange group in common with the peer";
  case SSL_R_NO_APPLICATION_PROTOCOL:
    return "no application protocol (ALPN) in common with the peer";
  default:
    return nullptr;
  }
}

// The peer's fatal alerts arrive as SSL reasons SSL_AD_REASON_OFFSET + description. Other
// reasons above the offset are OpenSSL's common ones with their flags (ERR_R_INTERNAL_ERROR
// is 0xC0103), not alerts.
bool is_alert_reason(int reason) {
  return reason > SSL_AD_REASON_OFFSET && reason <= SSL_AD_REASON_OFFSET + 255;
}

// A code of another library than libssl keeps that library in its value (ERR_PACK's bits
// from 23 on), so that its reason is not read as an SSL one.
bool names_library(int value) { return (static_cast<unsigned>(value) >> 23) != 0; }

struct category final : std::error_category {
  const char *name() const noexcept override { return "tlsio.openssl"; }
  std::string message(int reason) const override {
    if (const char *plain = plain_message(reason))
      return plain;
    if (is_alert_reason(reason)) {
      auto alert = static_cast<unsigned char>(reason - SSL_AD_REASON_OFFSET);
      return std::string("the peer refused with a fatal alert: ") + alert_name(alert);
    }
    auto packed = names_library(reason) ? static_cast<unsigned long>(reason)
                                        : ERR_PACK(ERR_LIB_SSL, 0, reason);
    if (const char *text = ERR_reason_error_string(packed)) {
      const char *library = names_library(reason) ? ERR_lib_error_string(packed) : nullptr;
      return library ? std::string(library) + ": " + text : std::string(text);
    }
    char text[256];
    ERR_error_string_n(packed, text, sizeof text);
    return text;
  }
};

} // namespace

const std::error_category &openssl_category() noexcept {
  static const category instance;
  return instance;
}

int received_alert(std::error_code ec) noexcept {
  if (ec.category() != openssl_category() || !is_alert_reason(ec.value()))
    return -1;
  return ec.value() - SSL_AD_REASON_OFFSET;
}

std::error_code verification_error(long result) noexcept {
  switch (result) {
  case X509_V_OK:
    return {};
  case X509_V_ERR_CERT_HAS_EXPIRED:
    return error::certificate_expired;
  case X509_V_ERR_CERT_NOT_YET_VALID:
    return error::certificate_not_yet_valid;
  case X509_V_ERR_HOSTNAME_MISMATCH:
  case X509_V_ERR_IP_ADDRESS_MISMATCH:
    return error::host_name_mismatch;
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
  case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
  case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
  case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
  case X509_V_ERR_CERT_UNTRUSTED:
  case X509_V_ERR_CERT_SIGNATURE_FAILURE:
  case X509_V_ERR_INVALID_CA: // issued by a certificate that is not a CA
  case X509_V_ERR_PATH_LENGTH_EXCEEDED:
    return error::untrusted_issuer;
  case X509_V_ERR_CERT_REVOKED:
    return error::certificate_revoked;
  case X509_V_ERR_INVALID_PURPOSE:
    return error::certificate_wrong_usage;
  case X509_V_ERR_EE_KEY_TOO_SMALL:
  case X509_V_ERR_CA_KEY_TOO_SMALL:
  case X509_V_ERR_CA_MD_TOO_WEAK:
    return error::certificate_bad_signature;
  default:
    return error::certificate_verify_failed;
  }
}

std::error_code take_error(std::string &detail) {
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  int reason = ERR_GET_REASON(e);
  if (e == 0 || reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
    detail = "the peer closed the connection without close_notify";
    return error::stream_truncated;
  }
  if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    detail = "the client sent no certificate, and this server requires one";
    return error::no_peer_certificate;
  }
  int value = ERR_GET_LIB(e) == ERR_LIB_SSL ? reason : static_cast<int>(e & 0x7fffffffUL);
  std::error_code ec(value, openssl_category());
  detail = ec.message();
  return ec;
}

} // namespace tlsio::detail::openssl

const std::error_category &tlsio::openssl_category() noexcept {
  return detail::openssl::openssl_category();
}
