// The backends side by side (issue 14): what a build has, the version settings each takes,
// engines of the two talking to each other, and sessions that never cross backends.
#include "engine_pair.hpp"

#include <tlsio/error.hpp>
#include <tlsio/version.hpp>

#include <doctest/doctest.h>

#include <algorithm>

using namespace tlsio_test;
using tlsio::backend;
using tlsio::status;
using tlsio::tls_version;

namespace {

tlsio::context client_on(backend b) {
  tlsio::context ctx{tlsio::role::client, b};
  ctx.no_ca();
  ctx.add_certificate_authority(test_pki::shared().ca.certificate_pem());
  return ctx;
}

tlsio::context server_on(backend b) {
  tlsio::context ctx{tlsio::role::server, b};
  ctx.load_certificate_chain_pem(test_pki::shared().server_identity.chain_pem);
  ctx.load_private_key_pem(test_pki::shared().server_identity.private_key_pem);
  return ctx;
}

void require_handshake(engine_pair &p) {
  auto r = p.handshake();
  INFO("client: ", p.client.failure_detail(), " / server: ", p.server.failure_detail());
  REQUIRE(r.client.status == status::done);
  REQUIRE(r.server.status == status::done);
}

} // namespace

TEST_CASE("available_backends: the default first, each with its version") {
  auto all = tlsio::available_backends();
  REQUIRE(!all.empty());
  CHECK(all.front().id == tlsio::default_backend());
  CHECK(tlsio::engine_name() == all.front().name + " " + all.front().version);
  auto mbed =
      std::find_if(all.begin(), all.end(), [](auto &b) { return b.id == backend::mbedtls; });
  REQUIRE(mbed != all.end());
  CHECK(mbed->name == "Mbed TLS");
  CHECK(mbed->version.rfind("2.28", 0) == 0);
  CHECK(!mbed->tls1_3);
  auto ossl =
      std::find_if(all.begin(), all.end(), [](auto &b) { return b.id == backend::openssl; });
  CHECK((ossl != all.end()) == bool(TLSIO_HAS_OPENSSL));
  if (ossl != all.end()) {
    CHECK(ossl->name == "OpenSSL");
    CHECK(ossl->version.rfind("3.", 0) == 0);
    CHECK(ossl->tls1_3);
  }
  CHECK(TLSIO_HAS_TLS13 == TLSIO_HAS_OPENSSL);
}

TEST_CASE("versions: TLS 1.3 where the backend has it, a clear error where not") {
  tlsio::context mbed{tlsio::role::client, backend::mbedtls};
  CHECK(mbed.get_backend() == backend::mbedtls);
  CHECK(mbed.min_version() == tls_version::tls1_2);
  CHECK(mbed.max_version() == tls_version::tls1_2);
  std::error_code ec;
  mbed.set_max_version(tls_version::tls1_3, ec);
  CHECK(ec == tlsio::error::unsupported_version);
  CHECK(mbed.max_version() == tls_version::tls1_2); // unchanged
  CHECK_THROWS_AS(mbed.set_min_version(tls_version::tls1_3), std::system_error);
  mbed.set_max_version(tls_version::tls1_2, ec);
  CHECK(!ec);
#if TLSIO_HAS_OPENSSL
  tlsio::context ossl{tlsio::role::client, backend::openssl};
  CHECK(ossl.max_version() == tls_version::tls1_3);
  ossl.set_min_version(tls_version::tls1_3);
  ossl.set_max_version(tls_version::tls1_2, ec); // below the minimum
  CHECK(ec == tlsio::error::unsupported_version);
  CHECK(ossl.max_version() == tls_version::tls1_3);
  ossl.finalize();
  CHECK_THROWS_AS(ossl.set_max_version(tls_version::tls1_3), std::logic_error); // in use
#endif
}

#if TLSIO_HAS_OPENSSL

TEST_CASE("Mbed TLS and OpenSSL engines talk TLS 1.2 to each other, both ways") {
  for (auto [client_backend, server_backend] : {std::pair{backend::mbedtls, backend::openssl},
                                                std::pair{backend::openssl, backend::mbedtls}}) {
    CAPTURE(tlsio::backend_name(client_backend));
    auto server_ctx = server_on(server_backend);
    server_ctx.enable_session_tickets();
    auto client_ctx = client_on(client_backend);
    engine_pair p(client_ctx, server_ctx);
    p.chunk = random_chunks(11, 700);
    require_handshake(p);
    CHECK(p.client.protocol_version() == "TLSv1.2");
    CHECK(p.server.protocol_version() == "TLSv1.2");
    CHECK(!p.client.verification_result());
    auto data = std::string(100000, 'x');
    CHECK(p.send(p.client, p.to_server, p.server, data) == data);
    CHECK(p.send(p.server, p.to_client, p.client, "back") == "back");
    // The other backend's tickets resume too.
    auto saved = p.client_session();
    REQUIRE(saved);
    engine_pair again(client_ctx, server_ctx);
    again.client.set_session(*saved);
    require_handshake(again);
    CHECK(again.client.resumed());
    CHECK(again.server.resumed());
  }
}

TEST_CASE("an Mbed TLS client and a TLS 1.3-only OpenSSL server: the reason, not a bare alert") {
  auto server_ctx = server_on(backend::openssl);
  server_ctx.set_min_version(tls_version::tls1_3);
  engine_pair p(client_on(backend::mbedtls), server_ctx);
  auto r = p.handshake();
  CHECK(r.client.status == status::failed);
  CHECK(r.server.status == status::failed);
  CHECK_MESSAGE(p.client.failure_detail().find("TLS 1.3") != std::string::npos,
                p.client.failure_detail());
  // And the OpenSSL client reaches it.
  engine_pair q(client_on(backend::openssl), server_ctx);
  require_handshake(q);
  CHECK(q.client.protocol_version() == "TLSv1.3");
}

TEST_CASE("sessions never cross backends") {
  for (auto [made_on, offered_to] : {std::pair{backend::mbedtls, backend::openssl},
                                     std::pair{backend::openssl, backend::mbedtls}}) {
    CAPTURE(tlsio::backend_name(made_on));
    auto server_ctx = server_on(made_on);
    server_ctx.enable_session_tickets();
    engine_pair first(client_on(made_on), server_ctx);
    require_handshake(first);
    auto saved = first.client_session();
    REQUIRE(saved);
    engine_pair other(client_on(offered_to), server_on(offered_to));
    other.client.set_session(*saved);
    auto r = other.handshake();
    CHECK(r.client.error == tlsio::error::wrong_backend);
    CHECK(other.client.failure_detail().find("another TLS backend") != std::string::npos);
  }
}

TEST_CASE("OpenSSL: key exchange groups as configured") {
  auto server_ctx = server_on(backend::openssl);
  server_ctx.set_key_exchange_groups({tlsio::key_exchange_group::secp384r1});
  auto client_ctx = client_on(backend::openssl);
  client_ctx.set_key_exchange_groups({tlsio::key_exchange_group::x25519});
  engine_pair none(client_ctx, server_ctx);
  auto r = none.handshake();
  CHECK(r.server.status == status::failed);
  CHECK_MESSAGE(none.server.failure_detail().find("group") != std::string::npos,
                none.server.failure_detail());
  auto both = client_on(backend::openssl);
  both.set_key_exchange_groups(
      {tlsio::key_exchange_group::x25519, tlsio::key_exchange_group::secp384r1});
  engine_pair some(both, server_ctx);
  require_handshake(some);
}

TEST_CASE("OpenSSL: SNI virtual hosts choose the certificate") {
  const auto &pki = test_pki::shared();
  auto other = pki.ca.issue({.dns_names = {"other.test"}});
  auto server_ctx = server_on(backend::openssl);
  server_ctx.add_virtual_host({"other.test", "*.wild.test"}, other.chain_pem,
                              other.private_key_pem);
  for (std::string name : {"other.test", "a.wild.test", "localhost"}) {
    CAPTURE(name);
    engine_pair p(client_on(backend::openssl), server_ctx, name);
    auto r = p.handshake();
    if (name == "a.wild.test") { // the virtual host's certificate, which names other.test
      CHECK(r.client.error == tlsio::error::host_name_mismatch);
      continue;
    }
    require_handshake(p);
    REQUIRE(p.client.peer_certificate());
    bool virtual_host = p.client.peer_certificate()->pem.find(
                            other.certificate_pem.substr(30, 40)) != std::string::npos;
    CHECK(virtual_host == (name != "localhost"));
  }
}

#endif
