// Session ticket keys for the OpenSSL backend that rotate as the Mbed TLS backend's do
// (internal): a new key every lifetime, the one before still accepted (its tickets are
// renewed), older ones refused, so no key protects tickets for longer than two lifetimes.
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <mutex>
#include <optional>

namespace tlsio::detail::openssl {

class ticket_keys {
public:
  explicit ticket_keys(std::chrono::seconds lifetime) : lifetime_(lifetime) {}

  /// What SSL_CTX_set_tlsext_ticket_key_evp_cb asks (see its manual): with encrypt, sets up
  /// ctx and mac with the current key and returns 1; else finds name's key, sets them up
  /// for it and returns 2 (take it, and issue a fresh ticket), or 0 for an unknown or
  /// expired key (a full handshake follows), -1 on an error. Thread-safe.
  int use(unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *ctx, EVP_MAC_CTX *mac,
          bool encrypt);

private:
  struct key {
    std::array<unsigned char, 16> name;
    std::array<unsigned char, 32> cipher, mac;
    std::chrono::steady_clock::time_point made;
  };
  /// Makes a new current key once the current one is a lifetime old.
  bool rotate(std::chrono::steady_clock::time_point now);

  std::chrono::seconds lifetime_;
  std::mutex mutex_;
  std::optional<key> current_, previous_;
};

} // namespace tlsio::detail::openssl
