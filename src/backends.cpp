// Which backends this build has, and the engine for a context's backend.
#include "engine_impl.hpp"
#include "mbedtls/mbedtls_engine.hpp"
#if TLSIO_WITH_OPENSSL
#include "openssl/openssl_engine.hpp"
#endif

#include <tlsio/backend.hpp>
#include <tlsio/version.hpp>

namespace tlsio {

std::unique_ptr<engine::impl> make_engine(std::shared_ptr<context::impl> ctx) {
#if TLSIO_WITH_OPENSSL
  if (ctx->backend_ == backend::openssl)
    return std::make_unique<detail::openssl_engine>(std::move(ctx));
#endif
  return std::make_unique<detail::mbedtls_engine>(std::move(ctx));
}

backend default_backend() noexcept {
#if TLSIO_DEFAULT_BACKEND_OPENSSL
  return backend::openssl;
#else
  return backend::mbedtls;
#endif
}

const char *backend_name(backend b) noexcept {
  return b == backend::openssl ? "OpenSSL" : "Mbed TLS";
}

std::vector<backend_info> available_backends() {
  std::vector<backend_info> all;
  all.push_back(
      {backend::mbedtls, backend_name(backend::mbedtls), detail::mbedtls_version(), false, true});
#if TLSIO_WITH_OPENSSL
  all.push_back(
      {backend::openssl, backend_name(backend::openssl), detail::openssl_version(), true, false});
#endif
  if (all.back().id == default_backend())
    std::swap(all.front(), all.back());
  return all;
}

std::string engine_name() {
  for (const auto &b : available_backends())
    if (b.id == default_backend())
      return b.name + " " + b.version;
  return {};
}

} // namespace tlsio
