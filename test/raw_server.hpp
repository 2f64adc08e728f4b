// A bare Mbed TLS server for what a tlsio engine never sends: empty records, warning
// alerts, a HelloRequest (test helper).
#pragma once

#include "engine_pair.hpp"

#include <doctest/doctest.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>

#include <cstring>
#include <initializer_list>
#include <string_view>

namespace tlsio_test {

/// A bare Mbed TLS server with the test identity; its wires are filled and drained by hand.
struct raw_server {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_x509_crt chain;
  mbedtls_pk_context key;
  mbedtls_ssl_config config;
  mbedtls_ssl_context ssl;
  wire to_client, to_server;

  explicit raw_server(bool renegotiation = false) {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_x509_crt_init(&chain);
    mbedtls_pk_init(&key);
    mbedtls_ssl_config_init(&config);
    mbedtls_ssl_init(&ssl);
    const auto &id = test_pki::shared().server_identity;
    auto pem = [](const std::string &s) {
      return reinterpret_cast<const unsigned char *>(s.c_str());
    };
    REQUIRE(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, nullptr, 0) == 0);
    REQUIRE(mbedtls_x509_crt_parse(&chain, pem(id.chain_pem), id.chain_pem.size() + 1) == 0);
    REQUIRE(mbedtls_pk_parse_key(&key, pem(id.private_key_pem), id.private_key_pem.size() + 1,
                                 nullptr, 0) == 0);
    REQUIRE(mbedtls_ssl_config_defaults(&config, MBEDTLS_SSL_IS_SERVER,
                                        MBEDTLS_SSL_TRANSPORT_STREAM,
                                        MBEDTLS_SSL_PRESET_DEFAULT) == 0);
    mbedtls_ssl_conf_rng(&config, mbedtls_ctr_drbg_random, &drbg);
    REQUIRE(mbedtls_ssl_conf_own_cert(&config, &chain, &key) == 0);
    mbedtls_ssl_conf_renegotiation(&config, renegotiation ? MBEDTLS_SSL_RENEGOTIATION_ENABLED
                                                          : MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    REQUIRE(mbedtls_ssl_setup(&ssl, &config) == 0);
    mbedtls_ssl_set_bio(&ssl, this, &send, &receive, nullptr);
  }
  ~raw_server() {
    mbedtls_ssl_free(&ssl);
    mbedtls_ssl_config_free(&config);
    mbedtls_pk_free(&key);
    mbedtls_x509_crt_free(&chain);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
  raw_server(const raw_server &) = delete;
  raw_server &operator=(const raw_server &) = delete;

  static int send(void *self, const unsigned char *data, std::size_t size) {
    auto &out = static_cast<raw_server *>(self)->to_client.bytes;
    out.insert(out.end(), reinterpret_cast<const std::byte *>(data),
               reinterpret_cast<const std::byte *>(data) + size);
    return static_cast<int>(size);
  }
  static int receive(void *self, unsigned char *data, std::size_t size) {
    auto &in = static_cast<raw_server *>(self)->to_server.bytes;
    std::size_t n = std::min(size, in.size());
    if (n == 0)
      return MBEDTLS_ERR_SSL_WANT_READ;
    std::memcpy(data, in.data(), n);
    in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
    return static_cast<int>(n);
  }

  void handshake_with(tlsio::engine &client) {
    for (int round = 0; round < 10; ++round) {
      auto c = client.handshake();
      to_server.take_from(client);
      int s = mbedtls_ssl_handshake(&ssl);
      to_client.deliver_to(client, to_client.bytes.size());
      if (c.status == tlsio::status::done && s == 0)
        return;
      REQUIRE(c.status != tlsio::status::failed);
      REQUIRE((s == 0 || s == MBEDTLS_ERR_SSL_WANT_READ));
    }
    FAIL("the handshake does not finish");
  }
  /// One application data record per piece: an empty piece makes an empty record.
  void send_records(std::initializer_list<std::string_view> pieces) {
    for (auto piece : pieces)
      REQUIRE(mbedtls_ssl_write(&ssl, reinterpret_cast<const unsigned char *>(piece.data()),
                                piece.size()) == static_cast<int>(piece.size()));
  }
  void send_warning(unsigned char alert) {
    REQUIRE(mbedtls_ssl_send_alert_message(&ssl, MBEDTLS_SSL_ALERT_LEVEL_WARNING, alert) == 0);
  }
};

} // namespace tlsio_test
