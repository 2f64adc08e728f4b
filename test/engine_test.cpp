// Two engines back to back in memory: no sockets, no event loop.
#include "engine_pair.hpp"
#include "raw_server.hpp"

#include <tlsio/error.hpp>

#include <doctest/doctest.h>

#include <thread>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>

#include <array>
#include <chrono>
#include <cstring>
#include <random>

using namespace tlsio_test;
using tlsio::status;
namespace ti = tlsio::test_identity;

namespace {

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

void require_handshake(engine_pair &p) {
  auto r = p.handshake();
  INFO("client: ", r.client.error.message(), " / ", p.client.failure_detail());
  INFO("server: ", r.server.error.message(), " / ", p.server.failure_detail());
  REQUIRE(r.client.status == status::done);
  REQUIRE(r.server.status == status::done);
}

void exchange_all_sizes(engine_pair &p) {
  for (std::size_t n : {0u, 1u, 16383u, 16384u, 16385u, 1u << 20}) {
    CAPTURE(n);
    auto data = pattern(n);
    CHECK(p.send(p.client, p.to_server, p.server, data) == data);
    CHECK(p.send(p.server, p.to_client, p.client, data) == data);
  }
}

std::chrono::system_clock::time_point days_from_now(int days) {
  return std::chrono::system_clock::now() + std::chrono::hours(24 * days);
}

// A client for `name` against a server with `id`; returns the client's handshake result.
tlsio::step_result client_result(const ti::identity &id, const std::string &name = "localhost") {
  const auto &pki = test_pki::shared();
  engine_pair p(pki.client_context(), pki.server_context(id), name);
  return p.handshake().client;
}

// The size of the record at the start of bytes, from its header.
std::size_t first_record_size(const std::vector<std::byte> &bytes) {
  return 5 + (std::to_integer<std::size_t>(bytes[3]) << 8) + std::to_integer<std::size_t>(bytes[4]);
}

// One read into a fresh buffer; what it gave is appended to got.
tlsio::step_result read_once(tlsio::engine &e, std::string &got) {
  std::vector<std::byte> buffer(20000);
  auto r = e.read(buffer);
  got.append(reinterpret_cast<const char *>(buffer.data()), r.bytes);
  return r;
}

// A tlsio client connected to a raw_server.
struct raw_connection {
  raw_server server;
  tlsio::engine client{test_pki::shared().client_context()};

  explicit raw_connection(bool renegotiation = false) : server(renegotiation) {
    client.set_server_name("localhost");
    server.handshake_with(client);
  }
  void deliver() { server.to_client.deliver_to(client, server.to_client.bytes.size()); }
};

} // namespace

TEST_CASE("handshake, then data both ways") {
  const auto &pki = test_pki::shared();
  engine_pair p(pki.client_context(), pki.server_context());
  require_handshake(p);
  CHECK(p.client.protocol_version() == (on_openssl() ? "TLSv1.3" : "TLSv1.2"));
  CHECK(p.client.cipher_suite() == p.server.cipher_suite());
  // TLS 1.3's suites name no key exchange or signature.
  CHECK(p.client.cipher_suite().find(on_openssl() ? "TLS_AES" : "ECDHE-ECDSA") !=
        std::string::npos);
  auto cert = p.client.peer_certificate();
  REQUIRE(cert);
  CHECK(cert->subject.find("CN=localhost") != std::string::npos);
  CHECK(cert->pem.find("BEGIN CERTIFICATE") != std::string::npos);
  CHECK(cert->not_before < std::chrono::system_clock::now());
  CHECK(!p.client.verification_result());
  exchange_all_sizes(p);
}

TEST_CASE("RSA-2048 certificate") {
  const auto &pki = test_pki::shared();
  auto rsa = pki.ca.issue({.dns_names = {"localhost"}, .key = ti::key_type::rsa_2048});
  engine_pair p(pki.client_context(), pki.server_context(rsa));
  require_handshake(p);
  CHECK(p.client.cipher_suite().find(on_openssl() ? "TLS_AES" : "ECDHE-RSA") != std::string::npos);
  auto data = pattern(50000);
  CHECK(p.send(p.client, p.to_server, p.server, data) == data);
}

TEST_CASE("input one byte at a time") {
  const auto &pki = test_pki::shared();
  engine_pair p(pki.client_context(), pki.server_context());
  p.chunk = one_byte();
  require_handshake(p);
  for (std::size_t n : {0u, 1u, 16383u, 16384u, 16385u}) {
    auto data = pattern(n);
    CHECK(p.send(p.client, p.to_server, p.server, data) == data);
    CHECK(p.send(p.server, p.to_client, p.client, data) == data);
  }
}

TEST_CASE("input in random chunk sizes") {
  const auto &pki = test_pki::shared();
  for (unsigned seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    engine_pair p(pki.client_context(), pki.server_context());
    p.chunk = random_chunks(seed);
    require_handshake(p);
    exchange_all_sizes(p);
  }
}

TEST_CASE("close_notify ends reads cleanly, either way") {
  const auto &pki = test_pki::shared();
  for (bool client_closes : {true, false}) {
    CAPTURE(client_closes);
    engine_pair p(pki.client_context(), pki.server_context());
    require_handshake(p);
    auto &closer = client_closes ? p.client : p.server;
    auto &other = client_closes ? p.server : p.client;
    auto &to_other = client_closes ? p.to_server : p.to_client;
    auto &to_closer = client_closes ? p.to_client : p.to_server;

    CHECK(closer.shutdown().status == status::want_input); // sent; waits for the answer
    to_other.take_from(closer);
    std::string got;
    auto r = p.read_until(other, to_other, 1, got);
    CHECK(r.status == status::closed);
    CHECK(other.read_ready());
    CHECK(other.shutdown().status == status::done); // peer already closed: answer and done
    to_closer.take_from(other);
    to_closer.deliver_to(closer, 1 << 20);
    CHECK(closer.shutdown().status == status::done);
    CHECK(closer.write(std::as_bytes(std::span("x", 1))).error == tlsio::error::not_connected);
  }
}

TEST_CASE("EOF without close_notify is stream_truncated") {
  const auto &pki = test_pki::shared();
  engine_pair p(pki.client_context(), pki.server_context());
  require_handshake(p);
  p.server.put_eof();
  std::vector<std::byte> buffer(100);
  auto r = p.server.read(buffer);
  CHECK(r.status == status::failed);
  CHECK(r.error == tlsio::error::stream_truncated);

  SUBCASE("also in the middle of a record") {
    engine_pair q(pki.client_context(), pki.server_context());
    require_handshake(q);
    auto data = pattern(1000);
    q.client.write(std::as_bytes(std::span(data)));
    q.to_server.take_from(q.client);
    q.to_server.deliver_to(q.server, 500);
    q.server.put_eof();
    std::string got;
    auto s = q.read_until(q.server, q.to_server, 1000, got);
    CHECK(s.error == tlsio::error::stream_truncated);
  }
}

TEST_CASE("EOF during the handshake is stream_truncated with a reason") {
  const auto &pki = test_pki::shared();
  tlsio::engine server(pki.server_context());
  CHECK(server.handshake().status == status::want_input);
  server.put_eof();
  auto r = server.handshake();
  CHECK(r.error == tlsio::error::stream_truncated);
  CHECK(server.failure_detail().find("during the TLS handshake") != std::string::npos);
}

TEST_CASE("garbage, a non-TLS peer and a corrupted record fail clearly") {
  const auto &pki = test_pki::shared();
  auto as_bytes = [](const std::string &s) { return std::as_bytes(std::span(s)); };

  SUBCASE("garbage to a server") {
    tlsio::engine server(pki.server_context());
    server.put_input(as_bytes(std::string(300, '\xee')));
    auto r = server.handshake();
    CHECK(r.status == status::failed);
    if (on_openssl()) {
      CHECK(r.error.category().name() == std::string("tlsio.openssl"));
      CHECK(r.error.message() ==
            "the peer does not speak TLS 1.2 or 1.3 (not TLS at all, or an older version)");
    } else {
      CHECK(r.error.category() == tlsio::engine_category());
      CHECK(r.error.message() == "malformed or unacceptable ClientHello (not TLS, or no TLS 1.2)");
    }
    CHECK(server.read_ready());
  }
  SUBCASE("an HTTP request to a server") {
    tlsio::engine server(pki.server_context());
    server.put_input(as_bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = server.handshake();
    CHECK(r.status == status::failed);
    CHECK(!r.error.message().empty());
  }
  SUBCASE("an HTTP answer to a client") {
    tlsio::engine client(pki.client_context());
    client.set_server_name("localhost");
    CHECK(client.handshake().status == status::want_input);
    CHECK(!client.pending_output().empty()); // the ClientHello
    client.put_input(as_bytes("HTTP/1.1 400 Bad Request\r\n\r\n"));
    auto r = client.handshake();
    CHECK(r.status == status::failed);
  }
  SUBCASE("a record whose bytes were changed") {
    engine_pair p(pki.client_context(), pki.server_context());
    require_handshake(p);
    auto data = pattern(100);
    p.client.write(std::as_bytes(std::span(data)));
    p.to_server.take_from(p.client);
    p.to_server.bytes[20] ^= std::byte{1};
    std::string got;
    auto r = p.read_until(p.server, p.to_server, 100, got);
    CHECK(r.status == status::failed);
    CHECK(r.error.message().find("authentication") != std::string::npos);
    CHECK(!p.server.pending_output().empty()); // the alert that tells the peer why
  }
  SUBCASE("random bytes never crash or hang either side") {
    std::mt19937 rng(7);
    for (int round = 0; round < 200; ++round) {
      std::string junk(std::uniform_int_distribution<int>(1, 600)(rng), '\0');
      for (auto &c : junk)
        c = static_cast<char>(rng());
      if (round % 2 == 0)
        junk[0] = 0x16, junk[1] = 0x03, junk[2] = 0x03; // look like a handshake record
      tlsio::engine server(pki.server_context());
      server.put_input(as_bytes(junk));
      server.put_eof();
      CHECK(server.handshake().status == status::failed);
    }
  }
}

TEST_CASE("verification failures carry their reason") {
  const auto &pki = test_pki::shared();

  SUBCASE("untrusted CA") {
    auto other = ti::authority::create("some other CA");
    auto r = client_result(other.issue({.dns_names = {"localhost"}}));
    CHECK(r.error == tlsio::error::untrusted_issuer);
  }
  SUBCASE("expired") {
    auto r = client_result(pki.ca.issue({.dns_names = {"localhost"},
                                         .not_before = days_from_now(-10),
                                         .not_after = days_from_now(-1)}));
    CHECK(r.error == tlsio::error::certificate_expired);
    CHECK(r.error.message() == "certificate expired");
  }
  SUBCASE("not yet valid") {
    auto r = client_result(pki.ca.issue({.dns_names = {"localhost"},
                                         .not_before = days_from_now(1),
                                         .not_after = days_from_now(10)}));
    CHECK(r.error == tlsio::error::certificate_not_yet_valid);
  }
  SUBCASE("wrong host name, with the expected name in the detail") {
    const auto &pki2 = test_pki::shared();
    engine_pair p(pki2.client_context(), pki2.server_context(), "example.com");
    auto r = p.handshake();
    CHECK(r.client.error == tlsio::error::host_name_mismatch);
    CHECK(p.client.failure_detail() ==
          "host name mismatch: expected example.com, certificate is for DNS:localhost, "
          "IP:127.0.0.1, IP:::1");
    CHECK(r.server.status == status::failed); // the client's alert reached it
  }
  SUBCASE("IP address literals match iPAddress names, not DNS names") {
    CHECK(client_result(pki.server_identity, "127.0.0.1").status == status::done);
    CHECK(client_result(pki.server_identity, "[::1]").status == status::done);
    CHECK(client_result(pki.server_identity, "::1").status == status::done);
    CHECK(client_result(pki.server_identity, "127.0.0.2").error ==
          tlsio::error::host_name_mismatch);
    auto dns_only = pki.ca.issue({.common_name = "127.0.0.1", .dns_names = {"127.0.0.1"}});
    CHECK(client_result(dns_only, "127.0.0.1").error == tlsio::error::host_name_mismatch);
  }
  SUBCASE("an address listed as a DNS name is named as such") {
    auto dns_only = pki.ca.issue({.common_name = "127.0.0.1", .dns_names = {"127.0.0.1"}});
    engine_pair p(pki.client_context(), pki.server_context(dns_only), "127.0.0.1");
    CHECK(p.handshake().client.error == tlsio::error::host_name_mismatch);
    CHECK(p.client.failure_detail() ==
          "host name mismatch: expected 127.0.0.1, but the certificate lists 127.0.0.1 as a DNS "
          "name (DNS:127.0.0.1), not as an IP address; connecting by address needs an iPAddress "
          "entry (IP:127.0.0.1) in its subjectAltName");
  }
  SUBCASE("a leaf without subjectAltName: its Common Name is never matched") {
    auto cn_only = pki.ca.issue({.common_name = "localhost"});
    for (const char *name : {"localhost", "127.0.0.1"}) {
      CAPTURE(name);
      engine_pair p(pki.client_context(), pki.server_context(cn_only), name);
      CHECK(p.handshake().client.error == tlsio::error::host_name_mismatch);
      CHECK(p.client.failure_detail() ==
            "host name mismatch: the certificate for 'CN=localhost, O=tlsio test' has no "
            "subjectAltName, and its Common Name is not used to match host names");
    }
  }
  SUBCASE("no host name and verification on: refused") {
    CHECK(client_result(pki.server_identity, "").error == tlsio::error::no_host_name);
  }
  SUBCASE("a leaf without serverAuth") {
    // Mbed TLS's server will not even present it; the client's own check is proven against
    // openssl s_server in the interop suite.
    const auto &pki2 = test_pki::shared();
    engine_pair p(pki2.client_context(),
                  pki2.server_context(pki2.ca.issue(
                      {.dns_names = {"localhost"}, .extended_usage = ti::usage::client_only})));
    auto r = p.handshake();
    CHECK(r.client.status == status::failed);
    CHECK(r.server.status == status::failed);
    if (on_openssl()) // OpenSSL's server presents it, and the client refuses it
      CHECK(r.client.error == tlsio::error::certificate_wrong_usage);
    else
      CHECK(p.client.failure_detail().find("handshake_failure") != std::string::npos);
  }
  SUBCASE("skipping verification is the only way through") {
    auto other = ti::authority::create("some other CA");
    auto expired = other.issue({.dns_names = {"elsewhere"},
                                .not_before = days_from_now(-10),
                                .not_after = days_from_now(-1)});
    tlsio::context insecure{tlsio::role::client, tlsio_test::backend_under_test()};
    insecure.set_verify(tlsio::verify::insecure_skip);
    engine_pair p(insecure, pki.server_context(expired), "");
    require_handshake(p);
    auto data = pattern(10);
    CHECK(p.send(p.client, p.to_server, p.server, data) == data);
  }
}

TEST_CASE("a server name with one trailing dot is that name, and SNI goes without the dot") {
  const auto &pki = test_pki::shared();
  // The default certificate is for another name: only an SNI of exactly "localhost" selects
  // the virtual host whose certificate verifies.
  auto server_ctx = pki.server_context(
      pki.ca.issue({.common_name = "default.test", .dns_names = {"default.test"}}));
  server_ctx.add_virtual_host({"localhost"}, pki.server_identity.chain_pem,
                              pki.server_identity.private_key_pem);
  engine_pair p(pki.client_context(), server_ctx, "localhost.");
  require_handshake(p);
  CHECK(p.client.peer_certificate()->subject.find("CN=localhost") != std::string::npos);
  CHECK(p.client.server_name() == "localhost");
}

TEST_CASE("a server name with an empty label is refused before anything is sent") {
  const auto &pki = test_pki::shared();
  for (const char *name : {"localhost..", "a..b", ".a", "", ".", "..", "a.b.."}) {
    CAPTURE(name);
    tlsio::engine client(pki.client_context());
    client.set_server_name(name);
    auto r = client.handshake();
    CHECK(r.status == status::failed);
    CHECK(r.error == tlsio::error::invalid_server_name);
    CHECK(client.pending_output().empty());
    CHECK(client.failure_detail().find("'" + std::string(name) + "'") != std::string::npos);
  }
}

namespace {

// root -> first -> second -> leaf: a chain with two intermediates, which a peer may send in
// either order after the leaf.
struct two_intermediates {
  ti::authority first, second;
  ti::identity leaf;

  explicit two_intermediates(const ti::authority &root)
      : first(root.issue_intermediate({.common_name = "tlsio intermediate 1"})),
        second(first.issue_intermediate({.common_name = "tlsio intermediate 2"})),
        leaf(second.issue({.dns_names = {"localhost"}})) {}

  /// [leaf, first, second]: the leaf's issuer comes last.
  std::string reordered_chain() const {
    return leaf.certificate_pem + first.certificate_pem() + second.certificate_pem();
  }
};

} // namespace

TEST_CASE("intermediates are accepted in any order") {
  const auto &pki = test_pki::shared();
  two_intermediates chain(pki.ca);
  REQUIRE(chain.leaf.chain_pem != chain.reordered_chain());

  SUBCASE("from a server") {
    tlsio::context server_ctx{tlsio::role::server, tlsio_test::backend_under_test()};
    server_ctx.load_certificate_chain_pem(chain.reordered_chain());
    server_ctx.load_private_key_pem(chain.leaf.private_key_pem);
    server_ctx.enable_session_tickets();
    auto client_ctx = pki.client_context(); // sessions resume on their own context only
    engine_pair p(client_ctx, server_ctx);
    require_handshake(p);
    CHECK(!p.client.verification_result());
    // The session keeps the final verdict, so a resumed connection reports it too.
    auto saved = p.client_session();
    REQUIRE(saved);
    engine_pair again(client_ctx, server_ctx);
    again.client.set_session(*saved);
    require_handshake(again);
    CHECK(again.client.resumed());
    CHECK(!again.client.verification_result());
  }
  SUBCASE("from a client, to a server that requires a certificate") {
    auto server_ctx = pki.server_context();
    server_ctx.set_client_certificate(tlsio::client_certificate::required);
    server_ctx.no_ca();
    server_ctx.add_certificate_authority(pki.ca.certificate_pem());
    auto client_ctx = pki.client_context();
    client_ctx.load_certificate_chain_pem(chain.reordered_chain());
    client_ctx.load_private_key_pem(chain.leaf.private_key_pem);
    engine_pair p(client_ctx, server_ctx);
    require_handshake(p);
    REQUIRE(p.server.peer_certificate());
    CHECK(!p.server.verification_result());
  }
}

TEST_CASE("reordering never makes an untrusted chain trusted") {
  const auto &pki = test_pki::shared();
  auto stranger = ti::authority::create("stranger root");
  two_intermediates foreign(stranger);
  auto refused = [&](const std::string &chain_pem, const std::string &mention) {
    tlsio::context server_ctx{tlsio::role::server, tlsio_test::backend_under_test()};
    server_ctx.load_certificate_chain_pem(chain_pem);
    server_ctx.load_private_key_pem(foreign.leaf.private_key_pem);
    engine_pair p(pki.client_context(), server_ctx);
    auto r = p.handshake();
    CHECK(r.client.error == tlsio::error::untrusted_issuer);
    CHECK_MESSAGE(p.client.failure_detail().find(mention) != std::string::npos,
                  p.client.failure_detail());
    CHECK(p.server.failure_detail().find("unknown_ca") != std::string::npos);
  };
  SUBCASE("intermediates of another root, in either order") {
    refused(foreign.reordered_chain(), "stranger root");
    refused(foreign.leaf.chain_pem, "stranger root");
  }
  SUBCASE("the other root sent along: a peer's certificates are never trust anchors") {
    refused(foreign.reordered_chain() + stranger.certificate_pem(), "stranger root");
  }
  SUBCASE("one intermediate missing") {
    refused(foreign.leaf.certificate_pem + foreign.second.certificate_pem(),
            "tlsio intermediate 1");
  }
}

TEST_CASE("client certificates: required refuses none, optional accepts none") {
  const auto &pki = test_pki::shared();
  auto server_ctx = [&](tlsio::client_certificate mode) {
    auto ctx = pki.server_context();
    ctx.set_client_certificate(mode);
    ctx.no_ca();
    ctx.add_certificate_authority(pki.ca.certificate_pem());
    return ctx;
  };
  engine_pair required(pki.client_context(), server_ctx(tlsio::client_certificate::required));
  auto r = required.handshake();
  CHECK(r.server.error == tlsio::error::no_peer_certificate);
  if (on_openssl()) {
    // Under TLS 1.3 the client has finished before the server judges it: it learns on its
    // next read (RFC 8446 §4.4.2.4's certificate_required).
    required.to_client.take_from(required.server);
    required.to_client.deliver_to(required.client, required.to_client.bytes.size());
    std::array<std::byte, 16> buffer{};
    CHECK(required.client.read(buffer).status == status::failed);
    CHECK(required.client.failure_detail().find("certificate_required") != std::string::npos);
  } else {
    CHECK(required.client.failure_detail().find("handshake_failure") != std::string::npos);
  }

  engine_pair optional(pki.client_context(), server_ctx(tlsio::client_certificate::optional));
  require_handshake(optional);
  CHECK(!optional.server.peer_certificate());
}

TEST_CASE("after a failure every step reports it, and nothing more happens") {
  const auto &pki = test_pki::shared();
  tlsio::engine server(pki.server_context());
  server.put_input(std::as_bytes(std::span("\x01\x02\x03\x04\x05\x06", 6)));
  auto first = server.handshake();
  REQUIRE(first.status == status::failed);
  std::vector<std::byte> buffer(10);
  CHECK(server.handshake().error == first.error);
  CHECK(server.read(buffer).error == first.error);
  CHECK(server.write(buffer).error == first.error);
  CHECK(server.shutdown().error == first.error);
}

TEST_CASE("reading or writing before the handshake: not_connected") {
  const auto &pki = test_pki::shared();
  tlsio::engine client(pki.client_context());
  std::vector<std::byte> buffer(10);
  CHECK(client.read(buffer).error == tlsio::error::not_connected);
  CHECK(client.write(buffer).error == tlsio::error::not_connected);
}

TEST_CASE("engine name") { CHECK(tlsio::engine_name().rfind("Mbed TLS 2.28", 0) == 0); }

TEST_CASE("session tickets: a client resumes its last session") {
  const auto &pki = test_pki::shared();
  auto server_ctx = pki.server_context();
  server_ctx.enable_session_tickets();
  auto client_ctx = pki.client_context();

  engine_pair first(client_ctx, server_ctx);
  require_handshake(first);
  CHECK(!first.client.resumed());
  auto saved = first.client_session();
  REQUIRE(saved);

  engine_pair second(client_ctx, server_ctx);
  second.client.set_session(*saved);
  require_handshake(second);
  CHECK(second.client.resumed());
  CHECK(second.server.resumed());
  auto data = pattern(1000);
  CHECK(second.send(second.client, second.to_server, second.server, data) == data);

  SUBCASE("a server without tickets falls back to a full handshake") {
    engine_pair third(client_ctx, pki.server_context());
    third.client.set_session(*saved);
    require_handshake(third);
    CHECK(!third.client.resumed());
  }
}

TEST_CASE("Mbed TLS 2.28 sends an empty record for an empty write") {
  raw_connection c;
  c.server.send_records({""});
  auto &sent = c.server.to_client.bytes;
  REQUIRE(sent.size() > 5);
  CHECK(sent[0] == std::byte{23}); // application data
  CHECK(sent.size() == first_record_size(sent));
}

TEST_CASE("empty application data records are not the end of the stream") {
  raw_connection c;
  std::string got;

  SUBCASE("empty, empty, hello: read returns hello") {
    c.server.send_records({"", "", "hello"});
    c.deliver();
    auto r = read_once(c.client, got);
    CHECK(r.status == status::done);
    CHECK(got == "hello");
  }
  SUBCASE("empty records, then nothing: want_input") {
    for (int n = 1; n <= 3; ++n) {
      CAPTURE(n);
      for (int i = 0; i < n; ++i)
        c.server.send_records({""});
      c.deliver();
      CHECK(read_once(c.client, got).status == status::want_input);
      CHECK(c.client.pending_input() == 0);
      c.server.send_records({"x"}); // Mbed TLS counts empty records in a row, see below
      c.deliver();
      CHECK(read_once(c.client, got).status == status::done);
    }
    CHECK(got == "xxx");
  }
  SUBCASE("four in a row: Mbed TLS 2.28 takes them for a denial of service") {
    c.server.send_records({"", "", "", ""});
    c.deliver();
    auto r = read_once(c.client, got);
    if (on_openssl()) { // OpenSSL allows 32 in a row
      CHECK(r.status == status::want_input);
    } else {
      CHECK(r.status == status::failed);
      CHECK(c.client.failure_detail().find("four empty records in a row") != std::string::npos);
    }
  }
  SUBCASE("empty, empty, close_notify during our shutdown: a clean shutdown") {
    CHECK(c.client.shutdown().status == status::want_input);
    c.server.send_records({"", ""});
    c.deliver();
    CHECK(c.client.shutdown().status == status::want_input);
    REQUIRE(mbedtls_ssl_close_notify(&c.server.ssl) == 0);
    c.deliver();
    auto r = c.client.shutdown();
    CHECK(r.status == status::done);
    CHECK(!r.error);
  }
  SUBCASE("empty records, then the transport ends: stream_truncated") {
    c.server.send_records({"", ""});
    c.deliver();
    c.client.put_eof();
    CHECK(read_once(c.client, got).error == tlsio::error::stream_truncated);
  }
}

TEST_CASE("Mbed TLS is handed whole records only") {
  const auto &pki = test_pki::shared();
  engine_pair p(pki.client_context(), pki.server_context());
  require_handshake(p);
  auto first = pattern(1000), second = pattern(300);
  p.client.write(std::as_bytes(std::span(first)));
  p.client.write(std::as_bytes(std::span(second)));
  p.to_server.take_from(p.client);
  std::size_t first_size = first_record_size(p.to_server.bytes);
  std::string got;

  // Header, part of the body, then the first record and part of the second.
  for (std::size_t n : {std::size_t{3}, std::size_t{500}, first_size + 3}) {
    CAPTURE(n);
    p.to_server.deliver_to(p.server, n - p.server.pending_input());
    auto r = read_once(p.server, got);
    CHECK(r.status == (n > first_size ? status::done : status::want_input));
    CHECK(p.server.pending_input() == (n > first_size ? 3 : n)); // nothing partial taken
    CHECK(!p.server.read_ready());
  }
  CHECK(got == first);
  p.to_server.deliver_to(p.server, p.to_server.bytes.size());
  CHECK(p.server.read_ready());
  CHECK(read_once(p.server, got).status == status::done);
  CHECK(got == first + second);

  SUBCASE("a cut record once the input has ended is truncation") {
    p.client.write(std::as_bytes(std::span(first)));
    p.to_server.take_from(p.client);
    p.to_server.deliver_to(p.server, 10);
    CHECK(!p.server.read_ready());
    p.server.put_eof();
    CHECK(p.server.read_ready());
    CHECK(read_once(p.server, got).error == tlsio::error::stream_truncated);
  }
  SUBCASE("a header longer than TLS allows is rejected at once, with record_overflow") {
    p.server.put_input(std::as_bytes(std::span("\x17\x03\x03\x48\x01", 5)));
    CHECK(p.server.read_ready());
    auto r = read_once(p.server, got);
    CHECK(r.status == status::failed);
    CHECK(p.server.failure_detail() == "the peer sent a record longer than TLS allows");
    CHECK(!p.server.pending_output().empty()); // the record_overflow alert
  }
  SUBCASE("the longest legal record is waited for") {
    p.server.put_input(std::as_bytes(std::span("\x17\x03\x03\x48\x00", 5)));
    CHECK(!p.server.read_ready());
    CHECK(read_once(p.server, got).status == status::want_input);
  }
}

TEST_CASE("one read takes every whole application-data record already here") {
  raw_connection c;
  std::string got;

  SUBCASE("three records, one read") {
    c.server.send_records({"one ", "two ", "three"});
    c.deliver();
    auto r = read_once(c.client, got);
    CHECK(r.status == status::done);
    CHECK(got == "one two three");
    CHECK(c.client.pending_input() == 0);
  }
  SUBCASE("an empty record among them is skipped") {
    c.server.send_records({"one", "", "two"});
    c.deliver();
    CHECK(read_once(c.client, got).status == status::done);
    CHECK(got == "onetwo");
  }
  SUBCASE("a full buffer leaves the rest of a record for the next read") {
    c.server.send_records({"abc", "def"});
    c.deliver();
    std::array<std::byte, 5> small{};
    auto r = c.client.read(small);
    CHECK(r.bytes == 5);
    got.assign(reinterpret_cast<const char *>(small.data()), r.bytes);
    CHECK(read_once(c.client, got).status == status::done);
    CHECK(got == "abcdef");
  }
  SUBCASE("a record that fails behind good ones: their bytes first, then the failure") {
    c.server.send_records({"good", "spoiled"});
    auto &wire = c.server.to_client.bytes;
    wire[first_record_size(wire) + 12] ^= std::byte{1};
    c.deliver();
    auto r = read_once(c.client, got);
    CHECK(r.status == status::done);
    CHECK(got == "good");
    r = read_once(c.client, got);
    CHECK(r.status == status::failed);
    CHECK(r.error.message().find("authentication") != std::string::npos);
  }
  SUBCASE("data, then close_notify: the data, then the end") {
    c.server.send_records({"bye"});
    REQUIRE(mbedtls_ssl_close_notify(&c.server.ssl) == 0);
    c.deliver();
    CHECK(read_once(c.client, got).status == status::done);
    CHECK(got == "bye");
    CHECK(read_once(c.client, got).status == status::closed);
  }
}

// The handshake records at the start of `bytes` (up to ChangeCipherSpec) re-cut into
// records of at most `size` bytes, as a peer that fragments handshake messages sends them.
std::vector<std::byte> split_handshake(const std::vector<std::byte> &bytes, std::size_t size) {
  std::vector<std::byte> messages, out;
  std::size_t at = 0;
  while (at < bytes.size() && bytes[at] == std::byte{22}) {
    auto end =
        at + first_record_size({bytes.begin() + static_cast<std::ptrdiff_t>(at), bytes.end()});
    messages.insert(messages.end(), bytes.begin() + static_cast<std::ptrdiff_t>(at + 5),
                    bytes.begin() + static_cast<std::ptrdiff_t>(end));
    at = end;
  }
  for (std::size_t m = 0; m < messages.size(); m += size) {
    auto n = std::min(size, messages.size() - m);
    out.insert(out.end(),
               {std::byte{22}, std::byte{3}, std::byte{3}, std::byte(n >> 8), std::byte(n & 0xff)});
    out.insert(out.end(), messages.begin() + static_cast<std::ptrdiff_t>(m),
               messages.begin() + static_cast<std::ptrdiff_t>(m + n));
  }
  out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(at), bytes.end());
  return out;
}

TEST_CASE("handshake messages split across records are joined, on both sides") {
  const auto &pki = test_pki::shared();
  // An RSA chain: a Certificate message longer than 512 bytes.
  auto rsa = pki.ca.issue({.dns_names = {"localhost"}, .key = ti::key_type::rsa_2048});
  for (std::size_t size : {std::size_t{1}, std::size_t{7}, std::size_t{512}}) {
    CAPTURE(size);
    engine_pair p(pki.client_context(), pki.server_context(rsa));
    tlsio::step_result client{}, server{};
    for (int flight = 0; flight < 4; ++flight) {
      client = p.client.handshake();
      p.to_server.take_from(p.client);
      p.to_server.bytes = split_handshake(p.to_server.bytes, size);
      p.to_server.deliver_to(p.server, p.to_server.bytes.size());
      server = p.server.handshake();
      p.to_client.take_from(p.server);
      p.to_client.bytes = split_handshake(p.to_client.bytes, size);
      p.to_client.deliver_to(p.client, p.to_client.bytes.size());
    }
    INFO("client: ", p.client.failure_detail(), " server: ", p.server.failure_detail());
    CHECK(client.status == status::done);
    CHECK(server.status == status::done);
    CHECK(p.send(p.client, p.to_server, p.server, "after") == "after");
  }
}

TEST_CASE("a handshake message longer than one record: decode_error, with its own reason") {
  tlsio::engine server(test_pki::shared().server_context());
  // A ClientHello announcing 16381 bytes of body: 16385 with its header.
  server.put_input(std::as_bytes(std::span("\x16\x03\x03\x00\x06\x01\x00\x3f\xfd\x03\x03", 11)));
  if (on_openssl()) { // OpenSSL reassembles messages longer than a record: it waits for more
    CHECK(server.handshake().status == status::want_input);
    return;
  }
  CHECK(server.handshake().status == status::failed);
  CHECK(server.failure_detail().find("longer than the 16384 bytes") != std::string::npos);
  auto out = server.pending_output();
  CHECK(std::vector<std::byte>(out.begin(), out.end()) ==
        std::vector<std::byte>{std::byte{21}, std::byte{3}, std::byte{3}, std::byte{0},
                               std::byte{2}, std::byte{2}, std::byte{50}});
}

TEST_CASE("warning alerts are skipped, and data behind them is read at once") {
  // OpenSSL takes an unasked-for no_renegotiation for a refusal of a renegotiation it began,
  // and fails.
  auto alerts = on_openssl() ? std::vector<unsigned char>{MBEDTLS_SSL_ALERT_MSG_USER_CANCELED}
                             : std::vector<unsigned char>{MBEDTLS_SSL_ALERT_MSG_NO_RENEGOTIATION,
                                                          MBEDTLS_SSL_ALERT_MSG_USER_CANCELED};
  for (unsigned char alert : alerts) {
    CAPTURE(int{alert});
    raw_connection c;
    std::string got;
    c.server.send_warning(alert);
    c.server.send_records({"after"});
    c.deliver();
    auto r = read_once(c.client, got);
    CHECK(r.status == status::done);
    CHECK(got == "after");
  }
}

TEST_CASE("read_ready() is exact after the handshake") {
  raw_connection c;
  std::string got;

  SUBCASE("a data record: true, and a read takes all of it") {
    c.server.send_records({"", "", "hello"});
    c.deliver();
    CHECK(c.client.read_ready());
    CHECK(c.client.read_ready()); // asking again changes nothing
    CHECK(c.client.pending_output().empty());
    CHECK(read_once(c.client, got).status == status::done);
    CHECK(got == "hello");
    CHECK(!c.client.read_ready());
  }
  SUBCASE("empty records only: false, and they are consumed") {
    c.server.send_records({"", "", ""});
    c.deliver();
    CHECK(!c.client.read_ready());
    CHECK(c.client.pending_input() == 0);
    CHECK(read_once(c.client, got).status == status::want_input);
  }
  SUBCASE("a warning alert: false") {
    c.server.send_warning(MBEDTLS_SSL_ALERT_MSG_USER_CANCELED);
    c.deliver();
    CHECK(!c.client.read_ready());
    CHECK(c.client.pending_input() == 0);
  }
  SUBCASE("close_notify: true, then read says closed") {
    REQUIRE(mbedtls_ssl_close_notify(&c.server.ssl) == 0);
    c.deliver();
    CHECK(c.client.read_ready());
    CHECK(read_once(c.client, got).status == status::closed);
  }
  SUBCASE("half a record: false") {
    c.server.send_records({"hello"});
    c.server.to_client.deliver_to(c.client, 8);
    CHECK(!c.client.read_ready());
    CHECK(c.client.pending_input() == 8);
  }
  SUBCASE("a corrupted record: true, then read reports the failure") {
    c.server.send_records({"hello"});
    c.server.to_client.bytes.back() ^= std::byte{1};
    c.deliver();
    CHECK(c.client.read_ready());
    CHECK(!c.client.pending_output().empty()); // the bad_record_mac alert
    auto r = read_once(c.client, got);
    CHECK(r.status == status::failed);
    CHECK(r.error == c.client.failure());
  }
}

TEST_CASE("a HelloRequest to a client that does not renegotiate") {
  raw_connection c(/*renegotiation=*/true);
  REQUIRE(mbedtls_ssl_renegotiate(&c.server.ssl) == 0);
  REQUIRE(!c.server.to_client.bytes.empty());
  std::string got;

  SUBCASE("alone: read_ready() is false and the no_renegotiation alert is queued") {
    c.deliver();
    CHECK(!c.client.read_ready());
    CHECK(c.client.pending_input() == 0);
    auto alert = c.client.pending_output();
    CHECK(alert.size() > 5);
    CHECK(alert[0] == std::byte{21}); // an alert record

    // The connection goes on, both ways.
    c.server.to_server.take_from(c.client);
    c.server.send_records({"later"});
    c.deliver();
    CHECK(read_once(c.client, got).status == status::done);
    CHECK(got == "later");
    auto ping = std::string_view("ping");
    CHECK(c.client.write(std::as_bytes(std::span(ping))).status == status::done);
    c.server.to_server.take_from(c.client);
    unsigned char buffer[16];
    int n = mbedtls_ssl_read(&c.server.ssl, buffer, sizeof buffer);
    CHECK(n == MBEDTLS_ERR_SSL_WANT_READ); // Mbed TLS's own answer to the alert it skips
    n = mbedtls_ssl_read(&c.server.ssl, buffer, sizeof buffer);
    CHECK(std::string(reinterpret_cast<char *>(buffer), n > 0 ? n : 0) == "ping");
  }
  SUBCASE("with data behind it: read returns the data") {
    c.server.send_records({"later"});
    c.deliver();
    CHECK(read_once(c.client, got).status == status::done);
    CHECK(got == "later");
    CHECK(!c.client.pending_output().empty());
  }
}

TEST_CASE("a fatal alert goes out even when our last record was a warning alert") {
  raw_connection c(/*renegotiation=*/true);
  REQUIRE(mbedtls_ssl_renegotiate(&c.server.ssl) == 0);
  c.deliver();
  CHECK(!c.client.read_ready()); // the HelloRequest: our no_renegotiation warning is queued
  REQUIRE(!c.client.pending_output().empty());
  c.client.consume_output(c.client.pending_output().size());
  // A record longer than TLS allows, which Mbed TLS refuses without an alert of its own.
  std::vector<std::byte> oversized(5 + 16384 + 2048, std::byte{1});
  oversized[0] = std::byte{23}, oversized[1] = std::byte{3}, oversized[2] = std::byte{3};
  oversized[3] = std::byte{0x48}, oversized[4] = std::byte{0x00};
  c.client.put_input(oversized);
  std::string got;
  CHECK(read_once(c.client, got).status == status::failed);
  auto out = c.client.pending_output();
  REQUIRE(out.size() > 5);
  CHECK(out[0] == std::byte{21}); // the fatal alert
}

TEST_CASE("a server name too long for SNI is refused as ours, not blamed on the peer") {
  tlsio::engine client(test_pki::shared().client_context());
  std::string name;
  for (int i = 0; i < 5; ++i)
    name += (i ? "." : "") + std::string(60, 'a');
  client.set_server_name(name);
  CHECK(client.failure() == tlsio::error::invalid_server_name);
  CHECK(client.failure_detail().find("the peer") == std::string::npos);
  CHECK(client.pending_output().empty());
}

// Found by review of the OpenSSL backend; each holds on both backends.

TEST_CASE("a bracketed IPv6 literal is checked against the certificate's addresses") {
  const auto &pki = test_pki::shared();
  auto dns_only = pki.ca.issue({.dns_names = {"other.example"}});
  for (const char *name : {"[::1]", "::1"}) {
    CAPTURE(name);
    engine_pair p(pki.client_context(), pki.server_context(dns_only), name);
    CHECK(p.handshake().client.error == tlsio::error::host_name_mismatch);
  }
  engine_pair good(pki.client_context(), pki.server_context(), "[::1]"); // has IP:::1
  require_handshake(good);
}

TEST_CASE("a close_notify during the handshake fails it; it never completes it") {
  const auto &pki = test_pki::shared();
  tlsio::engine client(pki.client_context());
  client.set_server_name("localhost");
  REQUIRE(client.handshake().status == status::want_input);
  constexpr unsigned char close_notify[] = {21, 3, 3, 0, 2, 1, 0};
  client.put_input(std::as_bytes(std::span(close_notify)));
  auto r = client.handshake();
  CHECK(r.status == status::failed);
  CHECK(!client.handshake_done());
}

TEST_CASE("a server that verifies client certificates resumes their sessions") {
  const auto &pki = test_pki::shared();
  auto server_ctx = pki.server_context();
  server_ctx.set_client_certificate(tlsio::client_certificate::required);
  server_ctx.no_ca();
  server_ctx.add_certificate_authority(pki.ca.certificate_pem());
  server_ctx.enable_session_tickets();
  auto client_ctx = pki.client_context();
  auto id = pki.ca.issue({.common_name = "alice", .extended_usage = ti::usage::client_only});
  client_ctx.load_certificate_chain_pem(id.chain_pem);
  client_ctx.load_private_key_pem(id.private_key_pem);
  engine_pair first(client_ctx, server_ctx);
  require_handshake(first);
  auto saved = first.client_session();
  REQUIRE(saved);
  engine_pair again(client_ctx, server_ctx);
  again.client.set_session(*saved);
  require_handshake(again);
  CHECK(again.client.resumed());
  CHECK(again.server.peer_certificate());
}

TEST_CASE("read_ready() before the handshake leaves the handshake to handshake()") {
  const auto &pki = test_pki::shared();
  tlsio::engine client(pki.client_context());
  client.set_server_name("localhost");
  REQUIRE(client.handshake().status == status::want_input);
  tlsio::engine server(pki.server_context());
  auto hello = client.pending_output();
  server.put_input(hello);
  auto held = server.pending_input();
  CHECK(server.read_ready()); // a whole record for the next step
  CHECK(server.pending_input() == held);
  CHECK(server.pending_output().empty());
  CHECK(server.handshake().status == status::want_input);
  CHECK(!server.pending_output().empty()); // the server's flight, from handshake()
}

TEST_CASE("tickets stay good across a ticket key rotation") {
  using namespace std::chrono_literals;
  const auto &pki = test_pki::shared();
  auto server_ctx = pki.server_context();
  server_ctx.enable_session_tickets(1s);
  auto client_ctx = pki.client_context();
  engine_pair first(client_ctx, server_ctx); // makes the first key
  require_handshake(first);
  REQUIRE(first.client_session());
  std::this_thread::sleep_for(700ms);
  // A ticket of a full handshake made with that key shortly before it is replaced (a
  // session lives `lifetime` from its full handshake, however often it is resumed).
  engine_pair second(client_ctx, server_ctx);
  require_handshake(second);
  auto saved = second.client_session();
  REQUIRE(saved);
  std::this_thread::sleep_for(500ms);
  engine_pair third(client_ctx, server_ctx); // the key is a lifetime old: now the previous one
  third.client.set_session(*saved);
  require_handshake(third);
  CHECK(third.client.resumed());
}

TEST_CASE("each resumption brings a fresh ticket, and a chain of them resumes") {
  const auto &pki = test_pki::shared();
  auto server_ctx = pki.server_context();
  server_ctx.enable_session_tickets();
  auto client_ctx = pki.client_context();
  engine_pair p(client_ctx, server_ctx);
  require_handshake(p);
  auto s = p.client_session();
  REQUIRE(s);
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    engine_pair q(client_ctx, server_ctx);
    q.client.set_session(*s);
    require_handshake(q);
    CHECK(q.client.resumed());
    CHECK(q.send(q.server, q.to_client, q.client, "x") == "x"); // brings a TLS 1.3 ticket
    auto next = q.client.get_session();
    REQUIRE(next);
    CHECK(next->shared() != s->shared());
    s = next;
  }
}

// RFC 8446 §C.4: a TLS 1.3 ticket is offered once; a TLS 1.2 session may be resumed again.
TEST_CASE("the client session cache hands a TLS 1.3 ticket out once") {
  const auto &pki = test_pki::shared();
  auto server_ctx = pki.server_context();
  server_ctx.enable_session_tickets();
  auto client_ctx = pki.client_context();
  client_ctx.enable_session_cache();
  engine_pair p(client_ctx, server_ctx);
  p.client.set_session_cache_key("localhost:443");
  require_handshake(p);
  CHECK(p.send(p.server, p.to_client, p.client, "x") == "x"); // brings a TLS 1.3 ticket
  REQUIRE(client_ctx.cached_session("localhost:443"));
  CHECK(client_ctx.cached_session("localhost:443").has_value() == !on_openssl());
}

// A client may offer a TLS 1.2 session again (RFC 5077 §3.3), even after a resumption that
// brought a new ticket (OpenSSL's client marked the offered session unresumable then).
TEST_CASE("a TLS 1.2 session resumes on every backend, more than once") {
  const auto &pki = test_pki::shared();
  auto server_ctx = pki.server_context();
  server_ctx.set_max_version(tlsio::tls_version::tls1_2);
  server_ctx.enable_session_tickets();
  auto client_ctx = pki.client_context();
  client_ctx.set_max_version(tlsio::tls_version::tls1_2);
  engine_pair p(client_ctx, server_ctx);
  require_handshake(p);
  auto s = p.client.get_session();
  REQUIRE(s);
  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    engine_pair q(client_ctx, server_ctx);
    q.client.set_session(*s);
    require_handshake(q);
    CHECK(q.client.resumed());
    CHECK(q.server.resumed());
    // The ticket the server renewed in that handshake is the one to offer next.
    auto renewed = q.client.get_session();
    REQUIRE(renewed);
    CHECK(renewed->shared() != s->shared());
  }
}

// RFC 8446 §C.4 through every path: a ticket handed to two engines is offered by the first
// only, and a resumed TLS 1.3 connection does not hand back the ticket it spent.
TEST_CASE("a TLS 1.3 ticket is offered once, whichever engine has it") {
  const auto &pki = test_pki::shared();
  auto server_ctx = pki.server_context();
  server_ctx.enable_session_tickets();
  auto client_ctx = pki.client_context();
  engine_pair p(client_ctx, server_ctx);
  require_handshake(p);
  auto s = p.client_session();
  REQUIRE(s);
  engine_pair first(client_ctx, server_ctx);
  first.client.set_session(*s);
  require_handshake(first);
  CHECK(first.client.resumed());
  // Before the server's next ticket is read, a TLS 1.3 client has no session to hand out.
  CHECK(first.client.get_session().has_value() == !on_openssl());
  engine_pair second(client_ctx, server_ctx);
  second.client.set_session(*s);
  require_handshake(second);
  CHECK(second.client.resumed() == !on_openssl());
}
