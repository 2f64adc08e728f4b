// What a client trusts and when it may skip verification by resuming: sessions bound to the
// name they were verified for, sessions ended by fatal failures, trust sources that replace
// each other, client-certificate CAs, and configuration that must not fail silently. In
// memory: two engines back to back.
#include "engine_pair.hpp"

#include <tlsio/acceptor.hpp>
#include <tlsio/error.hpp>

#include <asio/io_context.hpp>
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace tlsio_test;
using tlsio::status;
namespace ti = tlsio::test_identity;

namespace {

// One CA with a server certificate for a.test only, and contexts around them.
struct a_test_server {
  ti::authority ca = ti::authority::create("trust test CA");
  ti::identity id = ca.issue({.common_name = "a.test", .dns_names = {"a.test"}});
  tlsio::context server =
      tickets(tlsio::context{tlsio::role::server, tlsio_test::backend_under_test()}, id);

  tlsio::context client() const {
    tlsio::context ctx{tlsio::role::client, tlsio_test::backend_under_test()};
    ctx.no_ca();
    ctx.add_certificate_authority(ca.certificate_pem());
    return ctx;
  }

  static tlsio::context tickets(tlsio::context ctx, const ti::identity &id) {
    ctx.load_certificate_chain_pem(id.chain_pem);
    ctx.load_private_key_pem(id.private_key_pem);
    ctx.enable_session_tickets();
    return ctx;
  }
};

engine_pair::handshake_outcome connect(engine_pair &p) {
  auto r = p.handshake();
  INFO("client: ", p.client.failure_detail(), " / server: ", p.server.failure_detail());
  return r;
}

// A verified session for a.test from `client`.
tlsio::session session_for_a(const a_test_server &s, const tlsio::context &client) {
  engine_pair p(client, s.server, "a.test");
  REQUIRE(connect(p).client.status == status::done);
  auto saved = p.client_session();
  REQUIRE(saved);
  return *saved;
}

// Makes the client's next read fail with bad_record_mac, a fatal failure.
void corrupt_next_record_to_client(engine_pair &p) {
  p.server.write(std::as_bytes(std::span("hello")));
  p.to_client.take_from(p.server);
  p.to_client.bytes.back() ^= std::byte{1}; // the record's tag
  p.to_client.deliver_to(p.client, p.to_client.bytes.size());
  std::string got;
  REQUIRE(p.read_until(p.client, p.to_client, 1, got).status == status::failed);
}

// A temporary PEM file, removed at the end of the scope.
struct pem_file {
  std::filesystem::path path;
  explicit pem_file(const std::string &pem)
      : path(std::filesystem::temp_directory_path() /
             ("tlsio-trust-" + std::to_string(::getpid()) + "-" +
              std::to_string(reinterpret_cast<std::uintptr_t>(this)) + ".pem")) {
    std::ofstream(path) << pem;
  }
  ~pem_file() { std::filesystem::remove(path); }
};

} // namespace

// --- Resumption ------------------------------------------------------------------------------

TEST_CASE("a session resumes only for the server name it was verified for") {
  a_test_server s;
  auto client = s.client();
  auto saved = session_for_a(s, client);

  SUBCASE("the same name resumes, whatever its case") {
    engine_pair p(client, s.server, "A.Test");
    p.client.set_session(saved);
    REQUIRE(connect(p).client.status == status::done);
    CHECK(p.client.resumed());
  }
  SUBCASE("another name does a full handshake, which verifies it") {
    engine_pair p(client, s.server, "b.test");
    p.client.set_session(saved);
    auto r = connect(p);
    CHECK(r.client.status == status::failed);
    CHECK(r.client.error == tlsio::error::host_name_mismatch);
    CHECK(!p.client.resumed());
  }
}

TEST_CASE("a session resumes only on the context that made it") {
  a_test_server s;
  auto client = s.client();

  SUBCASE("another context, same trust: a full handshake") {
    auto saved = session_for_a(s, s.client());
    engine_pair p(client, s.server, "a.test");
    p.client.set_session(saved);
    REQUIRE(connect(p).client.status == status::done);
    CHECK(!p.client.resumed());
  }
  SUBCASE("a context that does not verify resumes its own sessions") {
    tlsio::context insecure{tlsio::role::client, tlsio_test::backend_under_test()};
    insecure.set_verify(tlsio::verify::insecure_skip);
    auto saved = session_for_a(s, insecure);
    engine_pair same(insecure, s.server, "a.test");
    same.client.set_session(saved);
    REQUIRE(connect(same).client.status == status::done);
    CHECK(same.client.resumed()); // it does resume where nothing is verified
  }
}

TEST_CASE("a fatal failure ends a session's use; a missing close_notify does not") {
  a_test_server s;
  auto client = s.client();
  client.enable_session_cache();
  engine_pair p(client, s.server, "a.test");
  REQUIRE(connect(p).client.status == status::done);
  auto saved = p.client_session();
  REQUIRE(saved);
  client.cache_session("a.test:443", *saved);

  SUBCASE("a record that fails authentication") {
    corrupt_next_record_to_client(p);
    CHECK(!p.client.get_session());
    CHECK(!client.cached_session("a.test:443"));
    engine_pair again(client, s.server, "a.test");
    again.client.set_session(*saved);
    REQUIRE(connect(again).client.status == status::done);
    CHECK(!again.client.resumed());
  }
  SUBCASE("the peer's fatal alert, long after the handshake, is not called a handshake's") {
    p.client.write(std::as_bytes(std::span("hello")));
    p.to_server.take_from(p.client);
    p.to_server.bytes.back() ^= std::byte{1};
    p.to_server.deliver_to(p.server, p.to_server.bytes.size());
    std::string got;
    REQUIRE(p.read_until(p.server, p.to_server, 1, got).status == status::failed);
    p.to_client.take_from(p.server); // the server's bad_record_mac alert
    p.to_client.deliver_to(p.client, p.to_client.bytes.size());
    REQUIRE(p.read_until(p.client, p.to_client, 1, got).status == status::failed);
    CHECK(p.client.failure_detail() ==
          "the peer ended the connection with a fatal alert: bad_record_mac");
    CHECK(!client.cached_session("a.test:443"));
  }
  SUBCASE("end of input without close_notify") {
    p.client.put_eof();
    std::string got;
    auto r = p.read_until(p.client, p.to_client, 1, got);
    REQUIRE(r.error == tlsio::error::stream_truncated);
    CHECK(client.cached_session("a.test:443"));
    CHECK(p.client.get_session());
  }
}

TEST_CASE("no session is handed out by a connection that failed fatally, even asked late") {
  a_test_server s;
  engine_pair p(s.client(), s.server, "a.test");
  REQUIRE(connect(p).client.status == status::done);
  corrupt_next_record_to_client(p); // get_session() not called before
  CHECK(!p.client.get_session());
}

TEST_CASE("a fatal failure ends the session in every connection that resumed it") {
  a_test_server s;
  auto client = s.client();
  client.enable_session_cache();
  engine_pair first(client, s.server, "a.test");
  REQUIRE(connect(first).client.status == status::done);
  auto made = first.client_session();
  REQUIRE(made);
  engine_pair second(client, s.server, "a.test");
  second.client.set_session(*made);
  REQUIRE(connect(second).client.status == status::done);
  REQUIRE(second.client.resumed());
  auto resumed = second.client_session(); // what async_connect caches next
  REQUIRE(resumed);
  client.cache_session("a.test:443", *resumed);

  SUBCASE("the connection that made it fails") { corrupt_next_record_to_client(first); }
  SUBCASE("the connection that resumed it fails") { corrupt_next_record_to_client(second); }
  CHECK(!client.cached_session("a.test:443"));
  for (const auto &copy : {*made, *resumed}) {
    engine_pair third(client, s.server, "a.test");
    third.client.set_session(copy);
    REQUIRE(connect(third).client.status == status::done);
    CHECK(!third.client.resumed());
  }
}

TEST_CASE("the server name cannot change once the handshake has started") {
  a_test_server s;
  auto client = s.client();

  SUBCASE("after the handshake: the connection fails, and its session goes with it") {
    engine_pair p(client, s.server, "a.test");
    REQUIRE(connect(p).client.status == status::done);
    p.client.set_server_name("evil.test");
    CHECK(p.client.failure() == tlsio::error::invalid_server_name);
    CHECK(p.client.server_name() == "a.test");
    CHECK(!p.client.get_session());
  }
  SUBCASE("during the handshake, after a session was offered") {
    auto saved = session_for_a(s, client);
    engine_pair q(client, s.server, "a.test");
    q.client.set_session(saved);
    REQUIRE(q.client.handshake().status == status::want_input);
    q.client.set_server_name("evil.test");
    auto r = connect(q);
    CHECK(r.client.error == tlsio::error::invalid_server_name);
    CHECK(q.client.server_name() == "a.test");
  }
}

TEST_CASE("a server name with a NUL in it is refused, not verified as its prefix") {
  a_test_server s;
  engine_pair p(s.client(), s.server, std::string("a.test\0.evil.example", 20));
  CHECK(connect(p).client.error == tlsio::error::invalid_server_name);
}

TEST_CASE("acceptor::set_context refuses a context that cannot serve, and keeps the old one") {
  a_test_server s;
  asio::io_context io;
  tlsio::acceptor acceptor(io.get_executor(), s.server, "127.0.0.1", 0);
  tlsio::context no_ca{tlsio::role::server, tlsio_test::backend_under_test()};
  no_ca.load_certificate_chain_pem(s.id.chain_pem);
  no_ca.load_private_key_pem(s.id.private_key_pem);
  no_ca.set_client_certificate(tlsio::client_certificate::required);
  CHECK_THROWS_AS(acceptor.set_context(no_ca), std::system_error);
  CHECK_THROWS_AS(acceptor.set_context(s.client()), std::system_error);
  acceptor.close();
}

TEST_CASE("the session cache: canonical keys, least recently used goes first") {
  a_test_server s;
  auto client = s.client();
  client.enable_session_cache(2);
  // TLS 1.2: a TLS 1.3 session would leave the cache at the first look (offered once).
  client.set_max_version(tlsio::tls_version::tls1_2);
  auto saved = session_for_a(s, client);
  client.cache_session("a.test:1", saved);
  client.cache_session("a.test:2", saved);
  CHECK(client.cached_session("A.TEST.:1")); // a.test:1 is now the most recently used
  client.cache_session("a.test:3", saved);
  CHECK(client.cached_session("a.test:1"));
  CHECK(!client.cached_session("a.test:2"));
  CHECK(client.cached_session("a.test:3"));
  CHECK(!client.cached_session("a.test:4"));

  tlsio::context off{tlsio::role::client, tlsio_test::backend_under_test()};
  off.cache_session("a.test:1", saved);
  CHECK(!off.cached_session("a.test:1"));
}

// --- Trust sources ---------------------------------------------------------------------------

TEST_CASE("each trust-source call replaces the last; added CAs are kept") {
  a_test_server one, two;
  pem_file one_pem(one.ca.certificate_pem()), two_pem(two.ca.certificate_pem());
  auto outcome = [](const tlsio::context &client, const a_test_server &server) {
    engine_pair p(client, server.server, "a.test");
    return connect(p).client;
  };
  tlsio::context ctx{tlsio::role::client, tlsio_test::backend_under_test()};

  SUBCASE("a bundle, then another") {
    ctx.set_ca_bundle(one_pem.path);
    ctx.set_ca_bundle(two_pem.path);
    CHECK(ctx.get_ca_source() == tlsio::ca_source::bundle);
    CHECK(outcome(ctx, one).error == tlsio::error::untrusted_issuer);
    CHECK(outcome(ctx, two).status == status::done);
  }
  SUBCASE("a bundle, then none") {
    ctx.set_ca_bundle(one_pem.path);
    ctx.no_ca();
    CHECK(outcome(ctx, one).error == tlsio::error::untrusted_issuer);
  }
  SUBCASE("a bundle, then the system store") {
    ctx.set_ca_bundle(one_pem.path);
    ctx.use_system_ca();
    auto r = outcome(ctx, one);
    CHECK(r.status == status::failed); // untrusted, or no system store on this machine
    CHECK(r.error != tlsio::error::host_name_mismatch);
  }
  SUBCASE("added CAs accumulate and outlive a change of source") {
    ctx.add_certificate_authority(one.ca.certificate_pem());
    ctx.set_ca_bundle(two_pem.path);
    ctx.no_ca();
    CHECK(outcome(ctx, one).status == status::done);
    CHECK(outcome(ctx, two).error == tlsio::error::untrusted_issuer);
  }
  SUBCASE("a bad bundle changes nothing") {
    ctx.set_ca_bundle(one_pem.path);
    std::error_code ec;
    ctx.set_ca_bundle("/nonexistent/ca.pem", ec);
    CHECK(ec);
    CHECK(outcome(ctx, one).status == status::done);
  }
}

TEST_CASE("client certificates without a CA of their own are a configuration error") {
  a_test_server s;
  tlsio::context server{tlsio::role::server, tlsio_test::backend_under_test()};
  server.load_certificate_chain_pem(s.id.chain_pem);
  server.load_private_key_pem(s.id.private_key_pem);

  SUBCASE("required: refused at once, with the reason") {
    server.set_client_certificate(tlsio::client_certificate::required);
    CHECK(server.finalize() == tlsio::error::no_client_ca);
    asio::io_context io;
    CHECK_THROWS_AS(tlsio::acceptor(io.get_executor(), server, "127.0.0.1", 0), std::system_error);
    engine_pair p(s.client(), server, "a.test");
    CHECK(connect(p).server.error == tlsio::error::no_client_ca);
  }
  SUBCASE("optional: the same") {
    server.set_client_certificate(tlsio::client_certificate::optional);
    CHECK(server.finalize() == tlsio::error::no_client_ca);
  }
  SUBCASE("with a CA added: fine") {
    server.set_client_certificate(tlsio::client_certificate::required);
    server.add_certificate_authority(s.ca.certificate_pem());
    CHECK(!server.finalize());
  }
  SUBCASE("with the system store asked for explicitly: not a configuration error") {
    server.set_client_certificate(tlsio::client_certificate::required);
    server.use_system_ca();
    auto ec = server.finalize();
    CHECK((!ec || ec == tlsio::error::no_system_ca_store));
  }
}

// --- Configuration that must not fail silently -----------------------------------------------

TEST_CASE("ALPN lists TLS cannot carry are refused, and change nothing") {
  tlsio::context ctx{tlsio::role::server, tlsio_test::backend_under_test()};
  std::error_code ec;
  for (const auto &bad : std::vector<std::vector<std::string>>{
           {"h2", ""},
           {std::string(256, 'x')},
           {std::string("h\0"
                        "2",
                        3)},
           std::vector<std::string>(300, std::string(255, 'x'))}) {
    ctx.set_alpn(bad, tlsio::alpn_mismatch::fail, ec);
    CHECK(ec == tlsio::error::invalid_alpn);
    CHECK_THROWS_AS(ctx.set_alpn(bad), std::system_error);
  }
  ctx.set_alpn({"h2", std::string(255, 'x')}, tlsio::alpn_mismatch::fail, ec);
  CHECK(!ec);
}

TEST_CASE("enabling session tickets twice replaces the keys, and resumption still works") {
  a_test_server s;
  s.server.enable_session_tickets(std::chrono::seconds(60)); // LeakSanitizer checks the first
  auto client = s.client();
  auto saved = session_for_a(s, client);
  engine_pair p(client, s.server, "a.test");
  p.client.set_session(saved);
  REQUIRE(connect(p).client.status == status::done);
  CHECK(p.client.resumed());
}

TEST_CASE("a TLS 1.3-only server's protocol_version alert says what it means") {
  a_test_server s;
  tlsio::engine client(s.client());
  client.set_server_name("a.test");
  REQUIRE(client.handshake().status == status::want_input);
  constexpr unsigned char alert[] = {21, 3, 3, 0, 2, 2, 70}; // fatal protocol_version
  client.put_input(std::as_bytes(std::span(alert)));
  auto r = client.handshake();
  REQUIRE(r.status == status::failed);
  if (!on_openssl()) // which speaks TLS 1.3 itself
    CHECK(client.failure_detail().find("TLS 1.3") != std::string::npos);
  CHECK(client.failure_detail().find("protocol_version") != std::string::npos);
}

TEST_CASE("a local mistake on one connection does not end a session it never offered") {
  a_test_server s;
  auto client = s.client();
  auto saved = session_for_a(s, client);
  {
    tlsio::engine broken(client);
    broken.set_session(saved);
    broken.set_server_name("a..test"); // fails the engine before any handshake
    CHECK(broken.handshake().error == tlsio::error::invalid_server_name);
  }
  {
    tlsio::engine nameless(client); // verifies, but has no name: no_host_name
    nameless.set_session(saved);
    CHECK(nameless.handshake().error == tlsio::error::no_host_name);
  }
  engine_pair again(client, s.server, "a.test");
  again.client.set_session(saved);
  REQUIRE(connect(again).client.status == status::done);
  CHECK(again.client.resumed());
}
