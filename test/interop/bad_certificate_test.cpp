// Certificates a tlsio client must refuse, each with its own reason (a tlsio::error value
// and a failure_detail() that names the problem), and client certificates a tlsio server
// must refuse. Most are served by a tlsio server; the few Mbed TLS will not present come
// from openssl s_server.
#include "interop.hpp"

#include "../engine_pair.hpp"

#include <tlsio/error.hpp>

#include <doctest/doctest.h>

using namespace interop;
namespace ti = tlsio::test_identity;

namespace {

using sys_clock = std::chrono::system_clock;

// A server context presenting chain_pem with key_pem.
tlsio::context serving(const std::string &chain_pem, const std::string &key_pem) {
  tlsio::context ctx{tlsio::role::server, tlsio_test::backend_under_test()};
  ctx.load_certificate_chain_pem(chain_pem);
  ctx.load_private_key_pem(key_pem);
  return ctx;
}
tlsio::context serving(const ti::identity &id) { return serving(id.chain_pem, id.private_key_pem); }

// The stream (on success) runs on io, which must outlive it.
connect_result connect_to(asio::io_context &io, unsigned short port, const std::string &host,
                          tlsio::connect_options options = {},
                          tlsio::context ctx = pki::ecdsa().client_context()) {
  auto c = run_bounded(io, try_connect(ctx, host, port, std::move(options)), 15s);
  if (c.ec)
    MESSAGE("refused: ", c.ec.message(), " / ", c.detail);
  return c;
}

// Connects to a tlsio server presenting ctx; returns the client's outcome.
connect_result against(tlsio::context server_ctx, const std::string &host = "localhost",
                       tlsio::connect_options options = {}) {
  tls_server server(std::move(server_ctx), echo_until_close());
  asio::io_context io;
  auto c = connect_to(io, server.port(), host, std::move(options));
  c.stream.reset();
  // The refused connection ends on the server too, with a reason.
  if (c.ec) {
    auto f = server.next_failure(10s);
    CHECK_MESSAGE(f, "the server reported no failure");
    if (f)
      MESSAGE("server side: ", f->detail);
  }
  return c;
}

// A server certificate without serverAuth, which Mbed TLS's own server refuses to present,
// so openssl s_server presents it.
connect_result against_client_only_server_certificate() {
  const auto &p = pki::ecdsa();
  auto client_only = p.intermediate.issue({.common_name = "localhost",
                                           .dns_names = {"localhost"},
                                           .extended_usage = ti::usage::client_only});
  temp_dir dir;
  auto peer = start_server([&](unsigned short port) {
    return std::vector<std::string>{"openssl",
                                    "s_server",
                                    "-quiet",
                                    "-accept",
                                    std::to_string(port),
                                    "-cert",
                                    dir.write("leaf.pem", client_only.certificate_pem).string(),
                                    "-cert_chain",
                                    p.intermediate_pem.string(),
                                    "-key",
                                    dir.write("key.pem", client_only.private_key_pem).string()};
  });
  asio::io_context io;
  auto c = connect_to(io, peer.port, "localhost");
  c.stream.reset();
  return c;
}

void check_refused(const connect_result &c, tlsio::error expected, const std::string &mention) {
  CHECK(c.ec == expected);
  CHECK_MESSAGE(c.detail.find(mention) != std::string::npos, c.detail);
  CHECK(!c.stream);
}

} // namespace

TEST_CASE("the tlsio client refuses bad server certificates, with their reason") {
  const auto &p = pki::ecdsa();
  const auto hour = std::chrono::hours(1);
  auto leaf = [&](ti::certificate_options o) { return p.intermediate.issue(o); };

  SUBCASE("expired") {
    auto c = against(serving(leaf({.dns_names = {"localhost"},
                                   .not_before = sys_clock::now() - 48 * hour,
                                   .not_after = sys_clock::now() - 24 * hour})));
    check_refused(c, tlsio::error::certificate_expired, "valid until");
  }
  SUBCASE("not yet valid") {
    auto c = against(serving(leaf({.dns_names = {"localhost"},
                                   .not_before = sys_clock::now() + 24 * hour,
                                   .not_after = sys_clock::now() + 48 * hour})));
    check_refused(c, tlsio::error::certificate_not_yet_valid, "valid from");
  }
  SUBCASE("for another host") {
    auto c =
        against(serving(leaf({.common_name = "other.example", .dns_names = {"other.example"}})));
    check_refused(c, tlsio::error::host_name_mismatch,
                  "expected localhost, certificate is for DNS:other.example");
  }
  SUBCASE("self-signed, made by the openssl command") {
    temp_dir dir;
    process req({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", (dir / "key.pem").string(), "-out",
                 (dir / "cert.pem").string(), "-days", "2", "-subj", "/CN=localhost", "-addext",
                 "subjectAltName=DNS:localhost,IP:127.0.0.1"});
    auto status = req.wait(20s);
    REQUIRE_MESSAGE((status && status->ok()), req.describe());
    auto c = against(serving(read_text(dir / "cert.pem"), read_text(dir / "key.pem")));
    check_refused(c, tlsio::error::untrusted_issuer, "'CN=localhost' was issued by 'CN=localhost'");
  }
  SUBCASE("from a root the client does not trust") {
    auto other = ti::authority::create("untrusted root");
    auto c = against(serving(other.issue({.dns_names = {"localhost"}})));
    check_refused(c, tlsio::error::untrusted_issuer, "untrusted root");
  }
  SUBCASE("without its intermediate (the server sends only the leaf)") {
    auto c = against(serving(p.server.certificate_pem, p.server.private_key_pem));
    check_refused(c, tlsio::error::untrusted_issuer, "tlsio interop intermediate");
  }
  SUBCASE("issued by an intermediate that is not a CA") {
    auto not_ca = p.root.issue_non_ca_intermediate({.common_name = "not a CA"});
    auto c = against(serving(not_ca.issue({.dns_names = {"localhost"}})));
    check_refused(c, tlsio::error::untrusted_issuer, "not a CA");
  }
  SUBCASE("a wildcard stretched over two labels") {
    auto wildcard =
        serving(leaf({.common_name = "*.example.test", .dns_names = {"*.example.test"}}));
    // One label is what a wildcard covers: the certificate itself is fine.
    auto ok = against(wildcard, "127.0.0.1", {.server_name = "a.example.test"});
    CHECK_MESSAGE(!ok.ec, ok.detail);
    auto c = against(wildcard, "127.0.0.1", {.server_name = "a.b.example.test"});
    check_refused(c, tlsio::error::host_name_mismatch, "expected a.b.example.test");
  }
  SUBCASE("with DNS names only, reached by IP address") {
    auto c = against(serving(leaf({.dns_names = {"localhost"}})), "127.0.0.1");
    check_refused(c, tlsio::error::host_name_mismatch, "expected 127.0.0.1");
  }
  SUBCASE("without subjectAltName (a Common Name only), served by Python's ssl") {
    auto cn_only = leaf({.common_name = "localhost"});
    temp_dir dir;
    process peer(python_peer({"server", "--cert", dir.write("chain.pem", cn_only.chain_pem),
                              "--key", dir.write("key.pem", cn_only.private_key_pem)}));
    asio::io_context io;
    auto c = connect_to(io, python_port(peer), "localhost");
    c.stream.reset();
    check_refused(c, tlsio::error::host_name_mismatch,
                  "has no subjectAltName, and its Common Name is not used to match host names");
  }
  SUBCASE("for clients only (no serverAuth), served by openssl s_server") {
    auto c = against_client_only_server_certificate();
    CHECK(c.ec); // the exact reason: see the error_reasons suite below
    CHECK(!c.stream);
  }
}

TEST_CASE("what openssl s_server sends that Mbed TLS alone would refuse, the client accepts") {
  const auto &p = pki::ecdsa();
  temp_dir dir;
  auto accepted = [](unsigned short port, tlsio::connect_options options = {}) {
    asio::io_context io;
    auto c = connect_to(io, port, "127.0.0.1", std::move(options));
    CHECK_MESSAGE(!c.ec, c.detail);
  };

  SUBCASE("intermediates out of order: [leaf, intermediate 1, intermediate 2]") {
    auto first = p.root.issue_intermediate({.common_name = "tlsio interop intermediate 1"});
    auto second = first.issue_intermediate({.common_name = "tlsio interop intermediate 2"});
    auto leaf = second.issue({.dns_names = {"localhost"}});
    auto cert = dir.write("leaf.pem", leaf.certificate_pem).string();
    // The leaf's issuer comes last; without -build_chain s_server sends the file's order.
    auto chain = dir.write("chain.pem", first.certificate_pem() + second.certificate_pem());
    auto key = dir.write("key.pem", leaf.private_key_pem).string();
    auto peer = start_server([&](unsigned short port) {
      return std::vector<std::string>{
          "openssl",     "s_server",     "-quiet", "-accept", std::to_string(port), "-cert", cert,
          "-cert_chain", chain.string(), "-key",   key};
    });
    accepted(peer.port, {.server_name = "localhost"});
  }
  SUBCASE("a server name with a trailing dot: SNI without it, verified as that name") {
    auto leaf = p.root.issue({.dns_names = {"localhost"}}); // -cert2 takes no chain
    auto cert = dir.write("leaf.pem", leaf.certificate_pem).string();
    auto key = dir.write("key.pem", leaf.private_key_pem).string();
    // s_server checks SNI only with a second certificate; -servername_fatal refuses any
    // SNI but "localhost" with a fatal alert.
    auto peer = start_server([&](unsigned short port) {
      return std::vector<std::string>{"openssl",
                                      "s_server",
                                      "-quiet",
                                      "-accept",
                                      std::to_string(port),
                                      "-cert",
                                      cert,
                                      "-key",
                                      key,
                                      "-cert2",
                                      cert,
                                      "-key2",
                                      key,
                                      "-servername",
                                      "localhost",
                                      "-servername_fatal"};
    });
    accepted(peer.port, {.server_name = "localhost."});
  }
}

TEST_CASE("a client with no host name to check refuses to connect, unless told to skip") {
  const auto &p = pki::ecdsa();
  tls_server server(p.server_context(), echo_until_close());
  asio::io_context io;
  auto handshake_without_name = [&](tlsio::context ctx) {
    tlsio::stream<> s(ctx, io);
    s.next_layer().connect({asio::ip::make_address("127.0.0.1"), server.port()});
    std::error_code ec;
    s.handshake(ec); // no set_server_name()
    return std::pair(ec, s.failure_detail());
  };

  auto [ec, detail] = handshake_without_name(p.client_context());
  MESSAGE("refused: ", detail);
  CHECK(ec == tlsio::error::no_host_name);
  CHECK(detail.find("skip verification explicitly") != std::string::npos);

  auto skipping = p.client_context();
  skipping.set_verify(tlsio::verify::insecure_skip);
  auto [skip_ec, skip_detail] = handshake_without_name(skipping);
  CHECK_MESSAGE(!skip_ec, skip_detail);
}

namespace {

tlsio::context requiring_client_certificates(const pki &p) {
  auto ctx = p.server_context();
  ctx.no_ca();
  ctx.add_certificate_authority(p.root.certificate_pem());
  ctx.set_client_certificate(tlsio::client_certificate::required);
  return ctx;
}

// A tlsio client with ctx against a tlsio server requiring client certificates; returns
// the server's failure (nullopt if it accepted).
std::optional<tlsio::handshake_failure> client_certificate_against_server(tlsio::context ctx) {
  const auto &p = pki::ecdsa();
  tls_server server(requiring_client_certificates(p), echo_until_close());
  asio::io_context io;
  auto c = connect_to(io, server.port(), "localhost", {}, std::move(ctx));
  if (!c.ec) {
    auto data = payload(100);
    std::string got;
    try {
      got = run_bounded(io, exchange(*c.stream, data));
    } catch (const std::exception &e) {
      // Under TLS 1.3 the client finishes before the server judges its certificate: the
      // refusal comes on its first read.
      MESSAGE("client: ", e.what());
    }
    if (got == data)
      return std::nullopt;
  }
  CHECK(c.elapsed < 5s);
  auto f = server.next_failure(10s);
  REQUIRE_MESSAGE(f, "the server reported no failure");
  MESSAGE("server: ", f->error.message(), " / ", f->detail);
  return f;
}

tlsio::context with_server_only_certificate(const pki &p) {
  auto server_only = p.intermediate.issue(
      {.common_name = "server only", .extended_usage = ti::usage::server_only});
  auto ctx = p.client_context();
  ctx.load_certificate_chain_pem(server_only.chain_pem);
  ctx.load_private_key_pem(server_only.private_key_pem);
  return ctx;
}

} // namespace

TEST_CASE("a tlsio server requiring client certificates refuses bad ones, with their reason") {
  const auto &p = pki::ecdsa();

  SUBCASE("a good one is accepted") {
    CHECK(!client_certificate_against_server(p.client_context_with_certificate()));
  }
  SUBCASE("none") {
    auto f = client_certificate_against_server(p.client_context());
    REQUIRE(f);
    CHECK(f->error == tlsio::error::no_peer_certificate);
  }
  SUBCASE("one from an untrusted root") {
    auto other = ti::authority::create("untrusted client root");
    auto stranger =
        other.issue({.common_name = "stranger", .extended_usage = ti::usage::client_only});
    auto ctx = p.client_context();
    ctx.load_certificate_chain_pem(stranger.chain_pem);
    ctx.load_private_key_pem(stranger.private_key_pem);
    auto f = client_certificate_against_server(ctx);
    REQUIRE(f);
    CHECK(f->error == tlsio::error::untrusted_issuer);
    CHECK(f->detail.find("untrusted client root") != std::string::npos);
  }
  SUBCASE("one for servers only (no clientAuth)") {
    auto f = client_certificate_against_server(with_server_only_certificate(p));
    REQUIRE(f); // the exact reason: see the error_reasons suite below
  }
  SUBCASE("an expired one") {
    auto expired = p.intermediate.issue({.common_name = "expired client",
                                         .not_before = sys_clock::now() - std::chrono::hours(48),
                                         .not_after = sys_clock::now() - std::chrono::hours(24),
                                         .extended_usage = ti::usage::client_only});
    auto ctx = p.client_context();
    ctx.load_certificate_chain_pem(expired.chain_pem);
    ctx.load_private_key_pem(expired.private_key_pem);
    auto f = client_certificate_against_server(ctx);
    REQUIRE(f);
    CHECK(f->error == tlsio::error::certificate_expired);
  }
}

// Reasons that Mbed TLS reports in roundabout ways, which the engine translates.
TEST_SUITE("error_reasons") {
  TEST_CASE("a server certificate without serverAuth is certificate_wrong_usage") {
    // Mbed TLS checks the extended key usage apart from the chain and only sets
    // MBEDTLS_X509_BADCERT_EXT_KEY_USAGE; detail::peer_verifier::judge keeps that
    // flag when it verifies the chain again, and names it.
    auto c = against_client_only_server_certificate();
    CHECK(c.ec == tlsio::error::certificate_wrong_usage);
  }

  TEST_CASE("a client certificate without clientAuth is certificate_wrong_usage") {
    auto f = client_certificate_against_server(with_server_only_certificate(pki::ecdsa()));
    REQUIRE(f);
    CHECK(f->error == tlsio::error::certificate_wrong_usage);
  }
}
