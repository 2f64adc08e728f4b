#include "ticket_keys.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>

namespace tlsio::detail::openssl {
namespace {

// AES-256-CBC with HMAC-SHA256, the construction OpenSSL's own ticket keys use.
bool set_up(const std::array<unsigned char, 32> &cipher_key,
            const std::array<unsigned char, 32> &mac_key, unsigned char *iv, EVP_CIPHER_CTX *ctx,
            EVP_MAC_CTX *mac, bool encrypt) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(
          OSSL_MAC_PARAM_KEY, const_cast<unsigned char *>(mac_key.data()), mac_key.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  int ok = encrypt ? EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), nullptr, cipher_key.data(), iv)
                   : EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), nullptr, cipher_key.data(), iv);
  return ok == 1 && EVP_MAC_CTX_set_params(mac, params) == 1;
}

} // namespace

bool ticket_keys::rotate(std::chrono::steady_clock::time_point now) {
  if (current_ && now - current_->made < lifetime_)
    return true;
  key fresh;
  if (RAND_priv_bytes(fresh.name.data(), static_cast<int>(fresh.name.size())) != 1 ||
      RAND_priv_bytes(fresh.cipher.data(), static_cast<int>(fresh.cipher.size())) != 1 ||
      RAND_priv_bytes(fresh.mac.data(), static_cast<int>(fresh.mac.size())) != 1)
    return false;
  fresh.made = now;
  previous_ = current_;
  current_ = fresh;
  return true;
}

int ticket_keys::use(unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *ctx,
                     EVP_MAC_CTX *mac, bool encrypt) {
  std::lock_guard lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  if (!rotate(now))
    return -1;
  if (encrypt) {
    int iv_length = EVP_CIPHER_get_iv_length(EVP_aes_256_cbc());
    if (RAND_bytes(iv, iv_length) != 1)
      return -1;
    std::copy(current_->name.begin(), current_->name.end(), name);
    return set_up(current_->cipher, current_->mac, iv, ctx, mac, true) ? 1 : -1;
  }
  for (const auto *k : {&current_, &previous_}) {
    // A key more than two lifetimes old protects nothing any more.
    if (!*k || !std::equal((*k)->name.begin(), (*k)->name.end(), name) ||
        now - (*k)->made >= 2 * lifetime_)
      continue;
    // 2: renew. Every resumption gets a fresh ticket, as on the Mbed TLS backend; under
    // TLS 1.3 a ticket is for one use (RFC 8446 §C.4), and OpenSSL sends none otherwise.
    return set_up((*k)->cipher, (*k)->mac, iv, ctx, mac, false) ? 2 : -1;
  }
  return 0;
}

} // namespace tlsio::detail::openssl
