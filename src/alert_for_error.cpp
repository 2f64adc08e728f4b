#include "alert_for_error.hpp"

#include <mbedtls/ssl.h>

namespace tlsio::detail {

namespace {

constexpr std::size_t aead_tag_size = 16;    // GCM and ChaCha20-Poly1305, the profile's
constexpr std::size_t max_plaintext = 16384; // RFC 5246 §6.2.1

// MBEDTLS_ERR_SSL_INVALID_RECORD: a record that its type does not allow (a ChangeCipherSpec
// of two bytes, say); a record longer than its plaintext may be (RFC 5246 §6.2.1); for an
// encrypted one also a record too short to hold its tag (a decryption failure, §6.2.3.3).
unsigned char invalid_record(const failed_input &input) {
  if (input.encrypted && input.record_length && *input.record_length < aead_tag_size)
    return MBEDTLS_SSL_ALERT_MSG_BAD_RECORD_MAC;
  if (input.record_length && *input.record_length > max_plaintext)
    return MBEDTLS_SSL_ALERT_MSG_RECORD_OVERFLOW;
  return MBEDTLS_SSL_ALERT_MSG_UNEXPECTED_MESSAGE;
}

// MBEDTLS_ERR_SSL_BAD_HS_CLIENT_KEY_EXCHANGE_RP: the public value does not read as a point.
// If its length agrees with the message, it is the value that is wrong (a compressed or
// hybrid point, say): illegal_parameter; else the message does not parse.
unsigned char unreadable_public_value(std::span<const unsigned char> message) {
  constexpr std::size_t header = 4; // msg_type, length
  bool framed = message.size() > header && header + 1 + message[header] == message.size();
  return framed ? MBEDTLS_SSL_ALERT_MSG_ILLEGAL_PARAMETER : MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR;
}

} // namespace

std::optional<unsigned char> fatal_alert_for(int mbedtls_code, const failed_input &input) noexcept {
  switch (mbedtls_code) {
  case MBEDTLS_ERR_SSL_INVALID_RECORD:
    return invalid_record(input);
  case MBEDTLS_ERR_SSL_BAD_HS_CLIENT_KEY_EXCHANGE_RP:
    return unreadable_public_value(input.handshake_message);
  // A message or record that does not parse.
  case MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO:
  case MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO:
  case MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE:
  case MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE_REQUEST:
  case MBEDTLS_ERR_SSL_BAD_HS_SERVER_KEY_EXCHANGE:
  case MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO_DONE:
  case MBEDTLS_ERR_SSL_BAD_HS_CLIENT_KEY_EXCHANGE:
  case MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE_VERIFY:
  case MBEDTLS_ERR_SSL_BAD_HS_FINISHED:
  case MBEDTLS_ERR_SSL_BAD_HS_NEW_SESSION_TICKET:
    return MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR;
  // A message that reads but holds a value that cannot be: a point not on the curve.
  case MBEDTLS_ERR_SSL_BAD_HS_CLIENT_KEY_EXCHANGE_CS:
    return MBEDTLS_SSL_ALERT_MSG_ILLEGAL_PARAMETER;
  // A message or record where none of its kind may come: a two-byte ChangeCipherSpec, say.
  case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
  case MBEDTLS_ERR_SSL_BAD_HS_CHANGE_CIPHER_SPEC:
    return MBEDTLS_SSL_ALERT_MSG_UNEXPECTED_MESSAGE;
  case MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION:
    return MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION;
  case MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN:
  case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
  case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
  case MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE:
    return MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE;
  case MBEDTLS_ERR_SSL_INVALID_MAC:
    return MBEDTLS_SSL_ALERT_MSG_BAD_RECORD_MAC;
  case MBEDTLS_ERR_SSL_BAD_INPUT_DATA: // Mbed TLS's answer to a record longer than TLS allows
    return MBEDTLS_SSL_ALERT_MSG_RECORD_OVERFLOW;
  default:
    return std::nullopt;
  }
}

const char *alert_name(unsigned char description) noexcept {
  switch (description) {
  case 10:
    return "unexpected_message";
  case 20:
    return "bad_record_mac";
  case 22:
    return "record_overflow";
  case 40:
    return "handshake_failure";
  case 42:
    return "bad_certificate";
  case 43:
    return "unsupported_certificate";
  case 44:
    return "certificate_revoked";
  case 45:
    return "certificate_expired";
  case 46:
    return "certificate_unknown";
  case 47:
    return "illegal_parameter";
  case 48:
    return "unknown_ca";
  case 49:
    return "access_denied";
  case 50:
    return "decode_error";
  case 51:
    return "decrypt_error";
  case 70:
    return "protocol_version";
  case 71:
    return "insufficient_security";
  case 80:
    return "internal_error";
  case 86:
    return "inappropriate_fallback";
  case 90:
    return "user_canceled";
  case 109:
    return "missing_extension";
  case 112:
    return "unrecognized_name";
  case 116:
    return "certificate_required";
  case 120:
    return "no_application_protocol";
  default:
    return "unknown alert";
  }
}

} // namespace tlsio::detail
