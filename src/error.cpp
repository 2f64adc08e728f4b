#include "engine_error.hpp"

#include <tlsio/error.hpp>

#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509.h>

#include <string_view>

namespace tlsio {
namespace {

class tlsio_category final : public std::error_category {
public:
  const char *name() const noexcept override { return "tlsio"; }
  std::string message(int value) const override;
};

std::string tlsio_category::message(int value) const {
  switch (static_cast<error>(value)) {
  case error::stream_truncated:
    return "the peer closed the connection without close_notify (data may be truncated)";
  case error::handshake_timeout:
    return "the handshake did not complete in time";
  case error::not_connected:
    return "not connected: the handshake has not completed, or the connection was shut down";
  case error::no_host_name:
    return "no host name to verify the server certificate against "
           "(set a server name, or skip verification explicitly)";
  case error::no_system_ca_store:
    return "no system CA certificate store was found (install ca-certificates, "
           "set SSL_CERT_FILE, or give a CA bundle)";
  case error::timed_out:
    return "the operation did not complete before its deadline";
  case error::certificate_expired:
    return "certificate expired";
  case error::certificate_not_yet_valid:
    return "certificate not yet valid";
  case error::host_name_mismatch:
    return "host name mismatch: the certificate does not name the host";
  case error::untrusted_issuer:
    return "certificate not trusted: unknown or untrusted issuer";
  case error::certificate_revoked:
    return "certificate revoked";
  case error::certificate_wrong_usage:
    return "certificate not valid for this use (key usage or extended key usage)";
  case error::certificate_bad_signature:
    return "certificate signed with an unacceptable algorithm or key";
  case error::certificate_verify_failed:
    return "certificate verification failed";
  case error::no_peer_certificate:
    return "the peer sent no certificate";
  case error::private_key_password_required:
    return "the private key is encrypted and needs a password";
  case error::private_key_wrong_password:
    return "wrong password for the private key";
  case error::private_key_mismatch:
    return "the private key does not match the certificate";
  case error::no_certificate:
    return "no certificate found in the given data";
  case error::no_client_ca:
    return "the server asks for client certificates but trusts no CA for them (give the CA "
           "that issues them with set_ca_bundle() or add_certificate_authority(); the system "
           "store is used for clients only with an explicit use_system_ca())";
  case error::invalid_alpn:
    return "invalid ALPN protocol list (each name must be 1 to 255 bytes, the whole list at "
           "most 65535 bytes)";
  case error::key_log_symlink:
    return "the key log file is a symbolic link, which is refused: name the file itself";
  case error::key_log_not_private:
    return "the key log file is not private: it must be a regular file owned by this user, "
           "with no access for group or others (chmod 600), or not exist yet";
  case error::invalid_port:
    return "invalid port: a port number is 0 to 65535";
  case error::wrong_role:
    return "this needs a context of the other role (a server's for an acceptor, a client's "
           "for connecting)";
  case error::backend_unavailable:
    return "this TLS backend is not in this build of tlsio (see tlsio::available_backends())";
  case error::unsupported_version:
    return "the TLS backend does not speak this protocol version (TLS 1.3 needs the OpenSSL "
           "backend), or the minimum version is above the maximum";
  case error::wrong_backend:
    return "the session was made by another TLS backend; sessions never cross backends";
  case error::message_too_large:
    return "the message does not fit in one DTLS record at the current MTU (see "
           "max_message_size()); nothing was sent";
  case error::message_truncated:
    return "the message was longer than the receive buffer; its end was discarded";
  case error::idle_timeout:
    return "the peer sent nothing for longer than the idle timeout; the association has ended";
  case error::peer_reconnected:
    return "the peer's address started a new DTLS handshake (it restarted); the old "
           "association has ended";
  case error::dtls_unavailable:
    return "DTLS needs a context on the Mbed TLS backend: this backend has no DTLS in tlsio "
           "(see backend_info::dtls in tlsio::available_backends())";
  case error::invalid_server_name:
    return "invalid server name: it is empty or has an empty label (a leading dot or two dots "
           "in a row); give a host name such as example.com or an IP address";
  }
  return "unknown tlsio error";
}

// Mbed TLS's own texts read like "SSL - The connection indicated an EOF"; the most common
// ones get a sentence that says what happened from the caller's side.
std::string_view friendly_message(int code) {
  switch (code) {
  case MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN:
  case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
    return "no cipher suite in common with the peer";
  case MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION:
    return "the peer does not speak TLS 1.2";
  case MBEDTLS_ERR_SSL_INVALID_RECORD:
    return "the peer sent data that is not a valid TLS record";
  case MBEDTLS_ERR_SSL_INVALID_MAC:
    return "a TLS record failed authentication (corrupted or tampered with)";
  case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
    return "the peer ended the connection with a fatal alert";
  case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
    return "the peer sent an unexpected TLS message";
  case MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE:
    return "the peer used a TLS feature Mbed TLS 2.28 lacks (such as a handshake message "
           "split across records)";
  case MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO:
    return "malformed or unacceptable ClientHello (not TLS, or no TLS 1.2)";
  case MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO:
    return "malformed or unacceptable ServerHello";
  case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
  case MBEDTLS_ERR_SSL_CERTIFICATE_REQUIRED:
    return "the peer sent no certificate, but one is required";
  case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
    return "the peer closed the TLS session (close_notify)";
  case MBEDTLS_ERR_SSL_CONN_EOF:
    return "the connection closed in the middle of the TLS exchange";
  case MBEDTLS_ERR_SSL_ALLOC_FAILED:
    return "out of memory in the TLS engine";
  case MBEDTLS_ERR_SSL_PRIVATE_KEY_REQUIRED:
    return "a certificate was configured without its private key";
  case MBEDTLS_ERR_SSL_CA_CHAIN_REQUIRED:
    return "no trusted CA certificates are configured";
  case MBEDTLS_ERR_SSL_BAD_CONFIG:
    return "the TLS configuration is inconsistent";
  case MBEDTLS_ERR_SSL_PK_TYPE_MISMATCH:
    return "the certificate's key type does not fit the negotiated cipher suite";
  case MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE:
    return "the peer sent a malformed or unusable certificate";
  case MBEDTLS_ERR_SSL_BAD_HS_FINISHED:
    return "the handshake's Finished message did not verify";
  default:
    return {};
  }
}

class engine_category_impl final : public std::error_category {
public:
  const char *name() const noexcept override { return "tlsio.engine"; }
  std::string message(int value) const override {
    if (auto text = friendly_message(value); !text.empty())
      return std::string(text);
    char buffer[160];
    mbedtls_strerror(value, buffer, sizeof buffer);
    std::string text = buffer;
    // Drop the module prefix ("SSL - ", "X509 - ") and lower-case the first letter.
    if (auto dash = text.find(" - "); dash != std::string::npos && dash < 10)
      text.erase(0, dash + 3);
    if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z' && (text.size() < 2 || text[1] > 'Z'))
      text[0] = static_cast<char>(text[0] - 'A' + 'a');
    return text;
  }
};

} // namespace

const std::error_category &error_category() noexcept {
  static const tlsio_category category;
  return category;
}

const std::error_category &engine_category() noexcept {
  static const engine_category_impl category;
  return category;
}

namespace detail {

std::error_code engine_error(int code) noexcept {
  switch (code) {
  case 0:
    return {};
  case MBEDTLS_ERR_PK_PASSWORD_REQUIRED:
    return error::private_key_password_required;
  case MBEDTLS_ERR_PK_PASSWORD_MISMATCH:
    return error::private_key_wrong_password;
  case MBEDTLS_ERR_SSL_CONN_EOF:
    return error::stream_truncated;
  case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
  case MBEDTLS_ERR_SSL_CERTIFICATE_REQUIRED:
    return error::no_peer_certificate;
  default:
    return {code, engine_category()};
  }
}

std::error_code verification_error(std::uint32_t flags) noexcept {
  // Ordered by what a person should fix first.
  struct reason {
    std::uint32_t flag;
    error code;
  };
  static constexpr reason reasons[] = {
      {MBEDTLS_X509_BADCERT_MISSING, error::no_peer_certificate},
      {MBEDTLS_X509_BADCERT_NOT_TRUSTED, error::untrusted_issuer},
      {MBEDTLS_X509_BADCERT_EXPIRED, error::certificate_expired},
      {MBEDTLS_X509_BADCERT_FUTURE, error::certificate_not_yet_valid},
      {MBEDTLS_X509_BADCERT_CN_MISMATCH, error::host_name_mismatch},
      {MBEDTLS_X509_BADCERT_REVOKED, error::certificate_revoked},
      {MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE |
           MBEDTLS_X509_BADCERT_NS_CERT_TYPE,
       error::certificate_wrong_usage},
      {MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK | MBEDTLS_X509_BADCERT_BAD_KEY,
       error::certificate_bad_signature},
  };
  if (flags == 0)
    return {};
  for (const auto &r : reasons)
    if (flags & r.flag)
      return r.code;
  return error::certificate_verify_failed;
}

} // namespace detail
#if !TLSIO_WITH_OPENSSL
// A build without the OpenSSL backend has no codes of it, but the category exists.
const std::error_category &openssl_category() noexcept {
  struct absent final : std::error_category {
    const char *name() const noexcept override { return "tlsio.openssl"; }
    std::string message(int value) const override {
      return "OpenSSL error " + std::to_string(value);
    }
  };
  static const absent instance;
  return instance;
}
#endif

} // namespace tlsio
