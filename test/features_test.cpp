// Production features over loopback: mTLS, ALPN, SNI virtual hosts, resumption, key log,
// certificate reload, deadlines.
#include "loopback.hpp"

#include <tlsio/acceptor.hpp>
#include <tlsio/connect.hpp>

#include <doctest/doctest.h>

#include <mbedtls/gcm.h>
#include <mbedtls/md.h>

#include <cstdlib>
#include <fstream>
#include <optional>

using namespace tlsio_test;
using namespace std::chrono_literals;
namespace ti = tlsio::test_identity;

namespace {

// Both handshakes on a fresh loopback pair; returns (client error, server error).
std::pair<std::error_code, std::error_code>
handshake(asio::io_context &io, const tlsio::context &client_ctx, const tlsio::context &server_ctx,
          std::optional<stream_pair> &p, const std::string &name = "localhost") {
  p.emplace(io, client_ctx, server_ctx, tcp_pair(io));
  p->client.set_server_name(name);
  return handshake_both(*p);
}

const ti::authority &client_ca() {
  static const auto ca = ti::authority::create("client CA");
  return ca;
}

} // namespace

TEST_CASE("client certificates: required, presented, read by the server") {
  asio::io_context io;
  const auto &pki = test_pki::shared();
  auto server_ctx = pki.server_context();
  server_ctx.set_client_certificate(tlsio::client_certificate::required);
  server_ctx.no_ca();
  server_ctx.add_certificate_authority(client_ca().certificate_pem());
  std::optional<stream_pair> p;

  SUBCASE("a trusted client certificate") {
    auto id = client_ca().issue({.common_name = "alice", .extended_usage = ti::usage::client_only});
    auto client_ctx = pki.client_context();
    client_ctx.load_certificate_chain_pem(id.chain_pem);
    client_ctx.load_private_key_pem(id.private_key_pem);
    auto [a, b] = handshake(io, client_ctx, server_ctx, p);
    CHECK(!a);
    CHECK(!b);
    auto peer = p->server.peer_certificate();
    REQUIRE(peer);
    CHECK(peer->subject.find("CN=alice") != std::string::npos);
    CHECK(!p->server.verification_result());
  }
  SUBCASE("no client certificate") {
    auto [a, b] = handshake(io, pki.client_context(), server_ctx, p);
    CHECK(b == tlsio::error::no_peer_certificate);
    if (p->client.engine().protocol_version() == "TLSv1.3") {
      // The client has finished before the server judges it: its first read fails.
      CHECK(!a);
      char c;
      auto f = p->client.async_read_some(asio::buffer(&c, 1), asio::use_future);
      REQUIRE(run_until_ready(io, f));
      CHECK_THROWS_WITH(f.get(), doctest::Contains("certificate_required"));
    } else {
      CHECK(a); // the server's alert reached the client
    }
  }
  SUBCASE("an untrusted client certificate") {
    auto stranger = ti::authority::create("stranger CA").issue({.common_name = "mallory"});
    auto client_ctx = pki.client_context();
    client_ctx.load_certificate_chain_pem(stranger.chain_pem);
    client_ctx.load_private_key_pem(stranger.private_key_pem);
    auto [a, b] = handshake(io, client_ctx, server_ctx, p);
    CHECK(b == tlsio::error::untrusted_issuer);
  }
  SUBCASE("optional: none is fine, a bad one is not") {
    auto optional_ctx = pki.server_context();
    optional_ctx.set_client_certificate(tlsio::client_certificate::optional);
    optional_ctx.no_ca();
    optional_ctx.add_certificate_authority(client_ca().certificate_pem());
    auto [a, b] = handshake(io, pki.client_context(), optional_ctx, p);
    CHECK(!a);
    CHECK(!b);
    CHECK(!p->server.peer_certificate());

    auto stranger = ti::authority::create("stranger CA").issue({.common_name = "mallory"});
    auto client_ctx = pki.client_context();
    client_ctx.load_certificate_chain_pem(stranger.chain_pem);
    client_ctx.load_private_key_pem(stranger.private_key_pem);
    auto [c, d] = handshake(io, client_ctx, optional_ctx, p);
    CHECK(d == tlsio::error::untrusted_issuer);
  }
}

TEST_CASE("ALPN") {
  asio::io_context io;
  const auto &pki = test_pki::shared();
  std::optional<stream_pair> p;
  auto client_ctx = pki.client_context();
  client_ctx.set_alpn({"h2", "http/1.1"});

  SUBCASE("both sides agree, by the server's preference") {
    auto server_ctx = pki.server_context();
    server_ctx.set_alpn({"http/1.1", "h2"});
    auto [a, b] = handshake(io, client_ctx, server_ctx, p);
    REQUIRE(!a);
    CHECK(p->client.alpn_protocol() == "http/1.1");
    CHECK(p->server.alpn_protocol() == "http/1.1");
  }
  SUBCASE("no overlap: refused by default") {
    auto server_ctx = pki.server_context();
    server_ctx.set_alpn({"imap"});
    auto [a, b] = handshake(io, client_ctx, server_ctx, p);
    CHECK(b);
    CHECK(a);
    CHECK(p->client.failure_detail().find("no_application_protocol") != std::string::npos);
  }
  SUBCASE("no overlap: proceeds without ALPN when so configured") {
    auto server_ctx = pki.server_context();
    server_ctx.set_alpn({"imap"}, tlsio::alpn_mismatch::proceed);
    auto [a, b] = handshake(io, client_ctx, server_ctx, p);
    CHECK(!a);
    CHECK(!b);
    CHECK(p->client.alpn_protocol().empty());
    CHECK(p->server.alpn_protocol().empty());
    // A client that shares a protocol still gets it from the same server.
    auto imap_client = pki.client_context();
    imap_client.set_alpn({"imap"});
    auto [c, d] = handshake(io, imap_client, server_ctx, p);
    CHECK(!c);
    CHECK(p->client.alpn_protocol() == "imap");
  }
  SUBCASE("a client without ALPN") {
    auto server_ctx = pki.server_context();
    server_ctx.set_alpn({"h2"});
    auto [a, b] = handshake(io, pki.client_context(), server_ctx, p);
    CHECK(!a);
    CHECK(p->server.alpn_protocol().empty());
  }
}

TEST_CASE("SNI virtual hosts") {
  asio::io_context io;
  const auto &pki = test_pki::shared();
  auto a = pki.ca.issue({.common_name = "a.test", .dns_names = {"a.test"}});
  auto b = pki.ca.issue({.common_name = "b.test", .dns_names = {"*.b.test"}});
  auto server_ctx = pki.server_context(); // default: localhost
  server_ctx.add_virtual_host({"a.test"}, a.chain_pem, a.private_key_pem);
  server_ctx.add_virtual_host({"*.b.test"}, b.chain_pem, b.private_key_pem);
  std::optional<stream_pair> p;
  auto subject_for = [&](const std::string &name) {
    auto [ce, se] = handshake(io, pki.client_context(), server_ctx, p, name);
    INFO(name, ": ", ce.message(), " / ", p->client.failure_detail());
    REQUIRE(!ce);
    return p->client.peer_certificate()->subject;
  };
  CHECK(subject_for("a.test").find("CN=a.test") != std::string::npos);
  CHECK(subject_for("A.TEST").find("CN=a.test") != std::string::npos);
  CHECK(subject_for("www.b.test").find("CN=b.test") != std::string::npos);
  CHECK(subject_for("localhost").find("CN=localhost") != std::string::npos);
  // An unknown name gets the default certificate, which then fails verification.
  auto [ce, se] = handshake(io, pki.client_context(), server_ctx, p, "c.test");
  CHECK(ce == tlsio::error::host_name_mismatch);

  SUBCASE("a server made only of virtual hosts") {
    tlsio::context only{tlsio::role::server, tlsio_test::backend_under_test()};
    only.add_virtual_host({"a.test"}, a.chain_pem, a.private_key_pem);
    auto [x, y] = handshake(io, pki.client_context(), only, p, "a.test");
    CHECK(!x);
  }
  SUBCASE("a key that does not match its chain is refused at once") {
    tlsio::context bad{tlsio::role::server, tlsio_test::backend_under_test()};
    CHECK_THROWS_AS(bad.add_virtual_host({"x"}, a.chain_pem, b.private_key_pem), std::system_error);
  }
}

TEST_CASE("session resumption through the context's cache") {
  asio::io_context io;
  const auto &pki = test_pki::shared();
  auto server_ctx = pki.server_context();
  server_ctx.enable_session_tickets(std::chrono::seconds(1));
  tlsio::acceptor acceptor(io.get_executor(), server_ctx, "127.0.0.1", 0);
  auto port = std::to_string(acceptor.local_endpoint().port());
  std::vector<tlsio::stream<>> accepted;
  accept_all(acceptor, accepted);
  auto client_ctx = pki.client_context();
  client_ctx.enable_session_cache();
  auto connect = [&](const std::string &host) {
    auto f = tlsio::async_connect(io.get_executor(), client_ctx, host, port, asio::use_future);
    REQUIRE(run_until_ready(io, f));
    auto s = f.get();
    if (s.engine().protocol_version() == "TLSv1.3") {
      // The ticket comes after the handshake; the cache learns of it when the stream reads,
      // here a poll that has nothing else to find.
      auto polled =
          tlsio::async_poll(s, tlsio::wait::read, std::chrono::milliseconds(300), asio::use_future);
      REQUIRE(run_until_ready(io, polled));
    }
    return s;
  };
  CHECK(!connect("localhost").resumed());
  CHECK(connect("localhost").resumed());
  CHECK(connect("localhost").resumed());
  CHECK(!connect("127.0.0.1").resumed()); // another server name: its own cache entry
  CHECK(connect("127.0.0.1").resumed());
  CHECK(accepted.back().resumed());

  // Tickets expire with their keys: after the lifetime, a full handshake again.
  std::this_thread::sleep_for(2100ms);
  CHECK(!connect("localhost").resumed());
  acceptor.close();
}

TEST_CASE("certificate reload: new connections get the new certificate") {
  asio::io_context io;
  const auto &pki = test_pki::shared();
  auto old_id = pki.ca.issue({.common_name = "old", .dns_names = {"localhost"}});
  auto new_id = pki.ca.issue({.common_name = "new", .dns_names = {"localhost"}});
  tlsio::acceptor acceptor(io.get_executor(), pki.server_context(old_id), "127.0.0.1", 0);
  auto port = std::to_string(acceptor.local_endpoint().port());
  std::vector<tlsio::stream<>> accepted;
  accept_all(acceptor, accepted);
  auto connect = [&] {
    auto f = tlsio::async_connect(io.get_executor(), pki.client_context(), "localhost", port,
                                  asio::use_future);
    REQUIRE(run_until_ready(io, f));
    return f.get();
  };
  auto first = connect();
  CHECK(first.peer_certificate()->subject.find("CN=old") != std::string::npos);
  acceptor.set_context(pki.server_context(new_id));
  auto second = connect();
  CHECK(second.peer_certificate()->subject.find("CN=new") != std::string::npos);

  // The established connection is untouched.
  while (accepted.size() < 2) {
    io.restart();
    io.run_for(10ms);
  }
  auto written = asio::async_write(first, asio::buffer("still", 5), asio::use_future);
  std::string got(5, '\0');
  auto read = asio::async_read(accepted[0], asio::buffer(got), asio::use_future);
  REQUIRE(run_until_ready(io, read));
  CHECK(got == "still");
  acceptor.close();
}

TEST_CASE("reads, writes and shutdowns with a deadline") {
  asio::io_context io;
  stream_pair p(io);
  REQUIRE(!handshake_both(p).first);
  char buffer[16];

  auto read = p.server.async_read_some_for(asio::buffer(buffer), 200ms, asio::use_future);
  REQUIRE(run_until_ready(io, read));
  try {
    read.get();
    FAIL("read without data");
  } catch (const std::system_error &e) {
    CHECK(e.code() == tlsio::error::timed_out);
  }
  // Still usable: data written now is read in time.
  asio::async_write(p.client, asio::buffer("late", 4), [](std::error_code, std::size_t) {});
  auto again = p.server.async_read_some_for(asio::buffer(buffer), 10s, asio::use_future);
  REQUIRE(run_until_ready(io, again));
  CHECK(again.get() == 4);

  // A write that cannot finish because the peer never reads.
  std::string chunk(1 << 20, 'w');
  std::error_code write_ec;
  for (int i = 0; i < 200 && !write_ec; ++i) {
    auto w = p.client.async_write_some_for(asio::buffer(chunk), 300ms, asio::use_future);
    REQUIRE(run_until_ready(io, w));
    try {
      w.get();
    } catch (const std::system_error &e) {
      write_ec = e.code();
    }
  }
  CHECK(write_ec == tlsio::error::timed_out);

  auto shut = p.server.async_shutdown_for(200ms, asio::use_future);
  REQUIRE(run_until_ready(io, shut));
  CHECK_THROWS_AS(shut.get(), std::system_error);
}

TEST_CASE("key log: the logged secret decrypts captured traffic") {
  const auto key_log_path = std::filesystem::temp_directory_path() /
                            ("tlsio-keylog-" + std::to_string(::getpid()) + ".txt");
  std::filesystem::remove(key_log_path);
  asio::io_context io;
  const auto &pki = test_pki::shared();
  auto server_ctx = pki.server_context();
  server_ctx.set_key_log_file(key_log_path);
  // TLS 1.2, whose records this test decrypts with the logged master secret.
  server_ctx.set_max_version(tlsio::tls_version::tls1_2);
  relayed_pair wire(io);
  stream_pair p(io, pki.client_context(), server_ctx,
                {std::move(wire.client_end), std::move(wire.server_end)});
  std::error_code a = asio::error::would_block, b = asio::error::would_block;
  p.client.async_handshake([&](std::error_code ec) { a = ec; });
  p.server.async_handshake([&](std::error_code ec) { b = ec; });
  while (a == asio::error::would_block || b == asio::error::would_block) {
    io.restart();
    io.run_for(2ms);
    wire.pump();
  }
  REQUIRE(!a);
  REQUIRE(p.client.cipher_suite() == (on_openssl() ? "ECDHE-ECDSA-AES128-GCM-SHA256"
                                                   : "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"));
  std::size_t handshake_bytes = wire.to_server.size();
  asio::write(p.client, asio::buffer(std::string("the secret message")));
  while (wire.to_server.size() == handshake_bytes)
    wire.pump();

  auto unhex = [](const std::string &h) {
    std::string out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2)
      out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
    return out;
  };
  // The randoms: record header 5, handshake header 4, version 2.
  auto client_hello_random = wire.to_server.substr(5 + 4 + 2, 32);
  auto server_random = wire.to_client.substr(5 + 4 + 2, 32);

  // The log line for this connection.
  std::ifstream log(key_log_path);
  std::string label, client_random, master_secret;
  while (log >> label >> client_random >> master_secret)
    if (label == "CLIENT_RANDOM" && unhex(client_random) == client_hello_random)
      break;
  std::filesystem::remove(key_log_path);
  REQUIRE(unhex(client_random) == client_hello_random);
  REQUIRE(master_secret.size() == 96);

  // TLS 1.2 PRF with SHA-256: the key block for AES-128-GCM (two keys, two 4-byte IVs).
  auto hmac = [](const std::string &key, const std::string &data) {
    unsigned char out[32];
    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                    reinterpret_cast<const unsigned char *>(key.data()), key.size(),
                    reinterpret_cast<const unsigned char *>(data.data()), data.size(), out);
    return std::string(reinterpret_cast<char *>(out), 32);
  };
  std::string secret = unhex(master_secret);
  std::string seed = "key expansion" + server_random + unhex(client_random);
  std::string key_block, a_i = seed;
  while (key_block.size() < 40) {
    a_i = hmac(secret, a_i);
    key_block += hmac(secret, a_i + seed);
  }
  std::string client_key = key_block.substr(0, 16), client_iv = key_block.substr(32, 4);

  // The first application data record from the client (sequence number 1).
  std::string record = wire.to_server.substr(handshake_bytes);
  REQUIRE(static_cast<unsigned char>(record[0]) == 23);
  std::size_t length =
      (static_cast<unsigned char>(record[3]) << 8) | static_cast<unsigned char>(record[4]);
  std::size_t plain_length = length - 8 - 16;
  std::string nonce = client_iv + record.substr(5, 8);
  std::string aad = std::string("\0\0\0\0\0\0\0\1", 8) + record.substr(0, 3) +
                    static_cast<char>(plain_length >> 8) + static_cast<char>(plain_length & 255);
  std::string plain(plain_length, '\0');
  mbedtls_gcm_context gcm;
  mbedtls_gcm_init(&gcm);
  mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES,
                     reinterpret_cast<const unsigned char *>(client_key.data()), 128);
  int ret = mbedtls_gcm_auth_decrypt(
      &gcm, plain_length, reinterpret_cast<const unsigned char *>(nonce.data()), nonce.size(),
      reinterpret_cast<const unsigned char *>(aad.data()), aad.size(),
      reinterpret_cast<const unsigned char *>(record.data() + 5 + 8 + plain_length), 16,
      reinterpret_cast<const unsigned char *>(record.data() + 5 + 8),
      reinterpret_cast<unsigned char *>(plain.data()));
  mbedtls_gcm_free(&gcm);
  CHECK(ret == 0);
  CHECK(plain == "the secret message");
}
