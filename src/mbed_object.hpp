// Owning wrappers for Mbed TLS's init/free structures (internal).
#pragma once

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cookie.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

namespace tlsio::detail {

// Mbed TLS structures hold pointers into themselves, so they never move or copy.
template <class T, void (*Init)(T *), void (*Free)(T *)> class mbed_object {
public:
  mbed_object() noexcept { Init(&value_); }
  ~mbed_object() { Free(&value_); }
  mbed_object(const mbed_object &) = delete;
  mbed_object &operator=(const mbed_object &) = delete;

  T *get() noexcept { return &value_; }
  const T *get() const noexcept { return &value_; }
  T *operator->() noexcept { return &value_; }
  const T *operator->() const noexcept { return &value_; }

private:
  T value_;
};

using ssl_config =
    mbed_object<mbedtls_ssl_config, mbedtls_ssl_config_init, mbedtls_ssl_config_free>;
using ssl_context = mbed_object<mbedtls_ssl_context, mbedtls_ssl_init, mbedtls_ssl_free>;
using x509_crt = mbed_object<mbedtls_x509_crt, mbedtls_x509_crt_init, mbedtls_x509_crt_free>;
using pk_context = mbed_object<mbedtls_pk_context, mbedtls_pk_init, mbedtls_pk_free>;
using entropy = mbed_object<mbedtls_entropy_context, mbedtls_entropy_init, mbedtls_entropy_free>;
using ctr_drbg =
    mbed_object<mbedtls_ctr_drbg_context, mbedtls_ctr_drbg_init, mbedtls_ctr_drbg_free>;
using ssl_ticket =
    mbed_object<mbedtls_ssl_ticket_context, mbedtls_ssl_ticket_init, mbedtls_ssl_ticket_free>;
using ssl_cookie =
    mbed_object<mbedtls_ssl_cookie_ctx, mbedtls_ssl_cookie_init, mbedtls_ssl_cookie_free>;
using ssl_session =
    mbed_object<mbedtls_ssl_session, mbedtls_ssl_session_init, mbedtls_ssl_session_free>;

} // namespace tlsio::detail
