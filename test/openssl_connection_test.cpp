// The OpenSSL 3 backend's connection in memory (issue 14's first step): with itself under
// TLS 1.3, with the Mbed TLS engine under TLS 1.2 both ways, and its failures as the same
// tlsio::error values the Mbed TLS engine reports.
#include "engine_pair.hpp"

#include "core/record_buffers.hpp"
#include "openssl/openssl_connection.hpp"
#include "openssl/openssl_context.hpp"
#include "openssl/ticket_keys.hpp"

#include <tlsio/error.hpp>

#include <doctest/doctest.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509err.h>

#include <algorithm>
#include <string>
#include <thread>

using namespace tlsio_test;
using tlsio::status;
namespace ossl = tlsio::detail::openssl;
namespace ti = tlsio::test_identity;

namespace {

tlsio::detail::backend_settings client_settings(int max_version = 13) {
  tlsio::detail::backend_settings s;
  s.side = tlsio::role::client;
  s.authorities_pem = {test_pki::shared().ca.certificate_pem()};
  s.max_version = max_version;
  return s;
}

tlsio::detail::backend_settings server_settings(const ti::identity &id, int max_version = 13) {
  tlsio::detail::backend_settings s;
  s.side = tlsio::role::server;
  s.verify_peer = false;
  s.chain_pem = id.chain_pem;
  s.key_pem = id.private_key_pem;
  s.max_version = max_version;
  return s;
}

ossl::ssl_ctx_ptr make(const tlsio::detail::backend_settings &s) {
  std::error_code ec;
  std::string detail;
  auto ctx = ossl::make_ssl_context(s, ec, detail);
  INFO(ec.message(), ": ", detail);
  REQUIRE(ctx);
  return ctx;
}

// One OpenSSL end with its byte queues.
struct openssl_end {
  tlsio::detail::record_input input;
  tlsio::detail::record_output output;
  ossl::connection c;

  openssl_end(const tlsio::detail::backend_settings &s, std::string_view name = "localhost")
      : c(make(s), s.side, input, output) {
    if (s.side == tlsio::role::client && !name.empty())
      c.set_server_name(name, tlsio::detail::parse_ip_literal(name));
  }
  // Moves what this end wrote into `to`, at most `chunk` bytes at a time.
  template <class Put> bool deliver(Put &&to, std::size_t chunk = ~std::size_t{0}) {
    auto out = output.pending();
    if (out.empty())
      return false;
    for (std::size_t i = 0; i < out.size(); i += chunk)
      to(out.subspan(i, std::min(chunk, out.size() - i)));
    output.consume(out.size());
    return true;
  }
};

// Runs both handshakes until both finish, one fails, or nothing moves.
template <class StepA, class StepB, class MoveAB, class MoveBA>
std::pair<tlsio::step_result, tlsio::step_result> run(StepA a, StepB b, MoveAB ab, MoveBA ba) {
  tlsio::step_result ra{status::want_input, 0, {}}, rb{status::want_input, 0, {}};
  for (int round = 0; round < 50; ++round) {
    if (ra.status == status::want_input)
      ra = a();
    bool moved = ab();
    if (rb.status == status::want_input)
      rb = b();
    moved |= ba();
    if (ra.status != status::want_input && rb.status != status::want_input)
      break;
    if (!moved && round > 2) // a side that failed has sent its alert, and the other read it
      break;
  }
  return {ra, rb};
}

struct openssl_pair {
  openssl_end client, server;
  std::size_t chunk = ~std::size_t{0};

  openssl_pair(const tlsio::detail::backend_settings &c, const tlsio::detail::backend_settings &s,
               std::string_view name = "localhost")
      : client(c, name), server(s) {}

  std::pair<tlsio::step_result, tlsio::step_result> handshake() {
    return run([&] { return client.c.handshake(); }, [&] { return server.c.handshake(); },
               [&] { return client.deliver([&](auto b) { server.input.put(b); }, chunk); },
               [&] { return server.deliver([&](auto b) { client.input.put(b); }, chunk); });
  }

  std::string send(openssl_end &from, openssl_end &to, const std::string &data) {
    auto r = from.c.write(std::as_bytes(std::span(data)));
    REQUIRE(r.status == status::done);
    from.deliver([&](auto b) { to.input.put(b); }, chunk);
    std::string got;
    std::vector<std::byte> buffer(70000);
    for (;;) {
      auto rr = to.c.read(buffer);
      if (rr.status != status::done)
        break;
      got.append(reinterpret_cast<const char *>(buffer.data()), rr.bytes);
    }
    return got;
  }
};

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

} // namespace

TEST_CASE("OpenSSL with itself: TLS 1.3, data both ways, close_notify") {
  const auto &pki = test_pki::shared();
  openssl_pair p(client_settings(), server_settings(pki.server_identity));
  SUBCASE("whole flights") {}
  SUBCASE("one byte at a time") { p.chunk = 1; }
  auto [c, s] = p.handshake();
  INFO(p.client.c.failure_detail(), " / ", p.server.c.failure_detail());
  REQUIRE(c.status == status::done);
  REQUIRE(s.status == status::done);
  CHECK(p.client.c.protocol_version() == "TLSv1.3");
  for (std::size_t n : {1u, 16384u, 16385u, 200000u}) {
    auto data = pattern(n);
    CHECK(p.send(p.client, p.server, data) == data);
    CHECK(p.send(p.server, p.client, data) == data);
  }
  REQUIRE(p.client.c.shutdown().status == status::want_input);
  p.client.deliver([&](auto b) { p.server.input.put(b); });
  std::vector<std::byte> buffer(100);
  CHECK(p.server.c.read(buffer).status == status::closed);
  CHECK(p.server.c.shutdown().status == status::done);
  p.server.deliver([&](auto b) { p.client.input.put(b); });
  CHECK(p.client.c.shutdown().status == status::done);
}

TEST_CASE("OpenSSL and the Mbed TLS engine speak TLS 1.2 to each other, both ways") {
  const auto &pki = test_pki::shared();
  SUBCASE("OpenSSL client, Mbed TLS server") {
    openssl_end client(client_settings());
    tlsio::engine server(pki.server_context());
    auto [c, s] = run([&] { return client.c.handshake(); }, [&] { return server.handshake(); },
                      [&] { return client.deliver([&](auto b) { server.put_input(b); }); },
                      [&] {
                        auto out = server.pending_output();
                        client.input.put(out);
                        server.consume_output(out.size());
                        return !out.empty();
                      });
    INFO(client.c.failure_detail(), " / ", server.failure_detail());
    REQUIRE(c.status == status::done);
    REQUIRE(s.status == status::done);
    CHECK(client.c.protocol_version() == "TLSv1.2");
    CHECK(server.protocol_version() == "TLSv1.2");
    auto data = pattern(40000);
    REQUIRE(client.c.write(std::as_bytes(std::span(data))).status == status::done);
    client.deliver([&](auto b) { server.put_input(b); });
    std::string got;
    std::vector<std::byte> buffer(70000);
    for (tlsio::step_result r; (r = server.read(buffer)).status == status::done;)
      got.append(reinterpret_cast<const char *>(buffer.data()), r.bytes);
    CHECK(got == data);
  }
  SUBCASE("Mbed TLS client, OpenSSL server") {
    tlsio::engine client(pki.client_context());
    client.set_server_name("localhost");
    openssl_end server(server_settings(pki.server_identity));
    auto [c, s] = run([&] { return client.handshake(); }, [&] { return server.c.handshake(); },
                      [&] {
                        auto out = client.pending_output();
                        server.input.put(out);
                        client.consume_output(out.size());
                        return !out.empty();
                      },
                      [&] { return server.deliver([&](auto b) { client.put_input(b); }); });
    INFO(client.failure_detail(), " / ", server.c.failure_detail());
    REQUIRE(c.status == status::done);
    REQUIRE(s.status == status::done);
    CHECK(server.c.protocol_version() == "TLSv1.2");
    CHECK(server.c.cipher_suite().find("ECDHE") == 0);
  }
}

TEST_CASE("OpenSSL's refusals are the tlsio::error values the Mbed TLS engine reports") {
  const auto &pki = test_pki::shared();
  SUBCASE("a certificate for another name: host_name_mismatch") {
    openssl_pair p(client_settings(), server_settings(pki.server_identity), "example.com");
    auto [c, s] = p.handshake();
    CHECK(c.status == status::failed);
    CHECK(c.error == tlsio::error::host_name_mismatch);
  }
  SUBCASE("an IP address the certificate does not name: host_name_mismatch") {
    openssl_pair p(client_settings(), server_settings(pki.server_identity), "10.1.2.3");
    CHECK(p.handshake().first.error == tlsio::error::host_name_mismatch);
  }
  SUBCASE("an IP address it names: verified") {
    openssl_pair p(client_settings(), server_settings(pki.server_identity), "127.0.0.1");
    CHECK(p.handshake().first.status == status::done);
  }
  SUBCASE("a CA the client does not trust: untrusted_issuer") {
    auto other = ti::authority::create("another CA");
    auto id = other.issue({.common_name = "localhost", .dns_names = {"localhost"}});
    openssl_pair p(client_settings(), server_settings(id));
    CHECK(p.handshake().first.error == tlsio::error::untrusted_issuer);
  }
  SUBCASE("the end of input without close_notify: stream_truncated") {
    openssl_pair p(client_settings(), server_settings(pki.server_identity));
    REQUIRE(p.handshake().first.status == status::done);
    p.server.input.put_eof();
    std::vector<std::byte> buffer(100);
    CHECK(p.server.c.read_ready());
    auto r = p.server.c.read(buffer);
    CHECK(r.status == status::failed);
    CHECK(r.error == tlsio::error::stream_truncated);
  }
  SUBCASE("a changed byte in a record: a failure in OpenSSL's own category") {
    openssl_pair p(client_settings(), server_settings(pki.server_identity));
    REQUIRE(p.handshake().first.status == status::done);
    auto data = pattern(100);
    REQUIRE(p.client.c.write(std::as_bytes(std::span(data))).status == status::done);
    std::vector<std::byte> wire(p.client.output.pending().begin(), p.client.output.pending().end());
    p.client.output.consume(wire.size());
    wire[20] ^= std::byte{1};
    p.server.input.put(wire);
    std::vector<std::byte> buffer(200);
    auto r = p.server.c.read(buffer);
    CHECK(r.status == status::failed);
    CHECK(r.error.category().name() == std::string("tlsio.openssl"));
    CHECK(!r.error.message().empty());
    CHECK(!p.server.output.pending().empty()); // the alert that tells the peer why
  }
}

TEST_CASE("OpenSSL: read readiness is exact, and half a record is not taken") {
  const auto &pki = test_pki::shared();
  openssl_pair p(client_settings(), server_settings(pki.server_identity));
  REQUIRE(p.handshake().first.status == status::done);
  // The server's TLS 1.3 tickets arrive after the handshake: records without application data.
  p.server.deliver([&](auto b) { p.client.input.put(b); });
  CHECK(!p.client.c.read_ready());
  auto data = pattern(1000);
  REQUIRE(p.server.c.write(std::as_bytes(std::span(data))).status == status::done);
  auto out = p.server.output.pending();
  p.client.input.put(out.subspan(0, 500));
  CHECK(!p.client.c.read_ready());
  CHECK(p.client.input.size() == 500); // untouched
  p.client.input.put(out.subspan(500));
  p.server.output.consume(out.size());
  CHECK(p.client.c.read_ready());
  std::vector<std::byte> buffer(2000);
  auto r = p.client.c.read(buffer);
  CHECK(r.status == status::done);
  CHECK(r.bytes == 1000);
}

TEST_CASE("OpenSSL: client certificates, required and missing") {
  const auto &pki = test_pki::shared();
  auto server = server_settings(pki.server_identity);
  server.verify_peer = true;
  server.require_peer_certificate = true;
  server.authorities_pem = {pki.ca.certificate_pem()};
  for (int version : {12, 13}) {
    CAPTURE(version);
    SUBCASE("with one: both handshakes complete") {
      auto client = client_settings(version);
      auto id = pki.ca.issue({.common_name = "a client"});
      client.chain_pem = id.chain_pem;
      client.key_pem = id.private_key_pem;
      openssl_pair p(client, server);
      auto [c, s] = p.handshake();
      CHECK(c.status == status::done);
      CHECK(s.status == status::done);
    }
    SUBCASE("without: the server refuses with no_peer_certificate") {
      openssl_pair p(client_settings(version), server);
      auto [c, s] = p.handshake();
      CHECK(s.status == status::failed);
      CHECK(s.error == tlsio::error::no_peer_certificate);
      // Under TLS 1.3 the client's handshake has completed: it learns on its first read.
      p.server.deliver([&](auto b) { p.client.input.put(b); });
      std::vector<std::byte> buffer(100);
      auto r = c.status == status::done ? p.client.c.read(buffer) : p.client.c.handshake();
      CHECK(r.status == status::failed);
    }
  }
}

TEST_CASE("OpenSSL: ALPN, and the server's mismatch policy") {
  const auto &pki = test_pki::shared();
  auto client = client_settings();
  client.alpn = {"h2", "http/1.1"};
  auto server = server_settings(pki.server_identity);
  SUBCASE("a protocol in common: the server's first choice") {
    server.alpn = {"http/1.1", "h2"};
    openssl_pair p(client, server);
    REQUIRE(p.handshake().first.status == status::done);
    CHECK(p.client.c.alpn_protocol() == "http/1.1");
    CHECK(p.server.c.alpn_protocol() == "http/1.1");
  }
  SUBCASE("none in common, fail: refused") {
    server.alpn = {"imap"};
    openssl_pair p(client, server);
    auto [c, s] = p.handshake();
    CHECK(s.status == status::failed);
    CHECK(c.status == status::failed);
  }
  SUBCASE("none in common, proceed: no protocol") {
    server.alpn = {"imap"};
    server.alpn_fail_on_mismatch = false;
    openssl_pair p(client, server);
    REQUIRE(p.handshake().first.status == status::done);
    CHECK(p.client.c.alpn_protocol().empty());
  }
}

namespace {

// One connection between two fresh ends of the given contexts, offering `offer`, dropped
// without close_notify after a read (which takes TLS 1.3's tickets in); the client's session
// goes to `kept`. Returns whether the handshake resumed.
bool connect_once(const ossl::ssl_ctx_ptr &client_ctx, const ossl::ssl_ctx_ptr &server_ctx,
                  const std::shared_ptr<SSL_SESSION> &offer, std::shared_ptr<SSL_SESSION> &kept) {
  tlsio::detail::record_input ci, si;
  tlsio::detail::record_output co, so;
  ossl::connection c(client_ctx, tlsio::role::client, ci, co);
  ossl::connection s(server_ctx, tlsio::role::server, si, so);
  c.set_server_name("localhost", std::nullopt);
  if (offer)
    c.set_session(offer);
  auto move = [](tlsio::detail::record_output &from, tlsio::detail::record_input &to) {
    auto out = from.pending();
    to.put(out);
    from.consume(out.size());
    return !out.empty();
  };
  auto [rc, rs] = run([&] { return c.handshake(); }, [&] { return s.handshake(); },
                      [&] { return move(co, si); }, [&] { return move(so, ci); });
  REQUIRE(rc.status == status::done);
  REQUIRE(rs.status == status::done);
  move(so, ci);
  std::vector<std::byte> buffer(16);
  CHECK(c.read(buffer).status == status::want_input);
  kept = c.session();
  return c.resumed();
}

} // namespace

TEST_CASE("OpenSSL: a session resumes, also after a connection that ended without close_notify") {
  const auto &pki = test_pki::shared();
  for (int version : {12, 13}) {
    CAPTURE(version);
    auto server = server_settings(pki.server_identity);
    server.tickets = true;
    auto server_ctx = make(server);
    auto client_ctx = make(client_settings(version));
    std::shared_ptr<SSL_SESSION> first, second;
    CHECK(!connect_once(client_ctx, server_ctx, nullptr, first));
    REQUIRE(first);
    CHECK(connect_once(client_ctx, server_ctx, first, second));
  }
}

TEST_CASE("OpenSSL: no resumption from a server without tickets") {
  const auto &pki = test_pki::shared();
  auto server_ctx = make(server_settings(pki.server_identity, 12));
  auto client_ctx = make(client_settings(12));
  std::shared_ptr<SSL_SESSION> first, second;
  CHECK(!connect_once(client_ctx, server_ctx, nullptr, first));
  CHECK(!connect_once(client_ctx, server_ctx, first, second));
}

TEST_CASE("TLS 1.3 KeyUpdate: answered by the reader, and a flood of them is refused") {
  const auto &pki = test_pki::shared();
  openssl_pair p(client_settings(), server_settings(pki.server_identity));
  auto [c, s] = p.handshake();
  REQUIRE(c.status == status::done);
  REQUIRE(s.status == status::done);
  auto to_client = [&] { p.server.deliver([&](auto b) { p.client.input.put(b); }); };

  SUBCASE("one that asks for ours: the read answers it, and data goes on both ways") {
    REQUIRE(SSL_key_update(p.server.c.native(), SSL_KEY_UPDATE_REQUESTED) == 1);
    CHECK(p.send(p.server, p.client, "after the update") == "after the update");
    // The client's answering KeyUpdate goes out with its next write.
    CHECK(p.send(p.client, p.server, "and back") == "and back");
    CHECK(p.send(p.server, p.client, "again") == "again");
  }
  SUBCASE("a flood without data between: refused with its reason, not looped on") {
    for (int i = 0; i < 40; ++i) {
      REQUIRE(SSL_key_update(p.server.c.native(), SSL_KEY_UPDATE_NOT_REQUESTED) == 1);
      REQUIRE(SSL_do_handshake(p.server.c.native()) == 1); // sends it
    }
    to_client();
    std::array<std::byte, 64> buffer{};
    auto r = p.client.c.read(buffer);
    CHECK(r.status == status::failed);
    CHECK_MESSAGE(p.client.c.failure_detail().find("KeyUpdate") != std::string::npos,
                  p.client.c.failure_detail());
  }
}

TEST_CASE("an error another user of OpenSSL left on this thread fails no connection") {
  const auto &pki = test_pki::shared();
  openssl_pair p(client_settings(), server_settings(pki.server_identity));
  auto [c, s] = p.handshake();
  REQUIRE(c.status == status::done);
  REQUIRE(s.status == status::done);
  ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH); // as a failed call elsewhere leaves it
  std::array<std::byte, 16> buffer{};
  CHECK(p.server.c.read(buffer).status == status::want_input);
  CHECK(p.send(p.client, p.server, "still fine") == "still fine");
}

TEST_CASE("ticket keys rotate every lifetime; the previous one is still taken, and renewed") {
  using namespace std::chrono_literals;
  ossl::ticket_keys keys(1s);
  EVP_MAC *hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  REQUIRE(hmac);
  auto use = [&](unsigned char *name, bool encrypt) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    EVP_MAC_CTX *mac = EVP_MAC_CTX_new(hmac);
    unsigned char iv[EVP_MAX_IV_LENGTH] = {};
    int r = keys.use(name, iv, ctx, mac, encrypt);
    EVP_MAC_CTX_free(mac);
    EVP_CIPHER_CTX_free(ctx);
    return r;
  };
  unsigned char first[16], again[16], later[16];
  REQUIRE(use(first, true) == 1);
  REQUIRE(use(again, true) == 1);
  CHECK(std::equal(first, first + 16, again)); // one key within a lifetime
  CHECK(use(first, false) == 2);               // taken, and a fresh ticket issued
  std::this_thread::sleep_for(1100ms);
  REQUIRE(use(later, true) == 1);
  CHECK(!std::equal(first, first + 16, later)); // rotated
  CHECK(use(first, false) == 2);                // the previous key is still taken
  CHECK(use(later, false) == 2);
  std::this_thread::sleep_for(1000ms);
  CHECK(use(first, false) == 0); // two lifetimes old: refused, a full handshake follows
  unsigned char unknown[16] = {1, 2, 3};
  CHECK(use(unknown, false) == 0);
  EVP_MAC_free(hmac);
}

TEST_CASE("openssl_category: only 1001 to 1255 are the peer's alerts; other libraries keep "
          "their name") {
  const auto &category = tlsio::openssl_category();
  CHECK(category.message(SSL_AD_REASON_OFFSET + SSL_AD_HANDSHAKE_FAILURE)
            .find("fatal alert: handshake_failure") != std::string::npos);
  // ERR_R_INTERNAL_ERROR as ERR_GET_REASON gives it: a common reason with its flags.
  auto internal = ERR_GET_REASON(ERR_PACK(ERR_LIB_SSL, 0, ERR_R_INTERNAL_ERROR));
  REQUIRE(internal > SSL_AD_REASON_OFFSET + 255);
  CHECK(category.message(internal).find("alert") == std::string::npos);
  auto x509 = static_cast<int>(ERR_PACK(ERR_LIB_X509, 0, X509_R_KEY_VALUES_MISMATCH));
  auto message = category.message(x509);
  CHECK(message.find("key values mismatch") != std::string::npos);
  CHECK(message.find("x509") != std::string::npos);
}
