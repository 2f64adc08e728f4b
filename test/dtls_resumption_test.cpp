// DTLS session resumption and ALPN, engine to engine in memory on the fake clock: tickets
// (RFC 5077) over DTLS 1.2, the client's lost last flight of an abbreviated handshake
// (RFC 6347 §4.2.4), and sessions kept apart from the stream engine's.
#include "dtls_pair.hpp"

#include <tlsio/error.hpp>

#include <doctest/doctest.h>

using namespace tlsio_test;
using tlsio::status;

namespace {

void require_handshake(dtls_pair &p, const dtls_pair::outcome &r) {
  INFO("client: ", r.client.error.message(), " / ", p.client.failure_detail());
  INFO("server: ", r.server.error.message(), " / ", p.server.failure_detail());
  REQUIRE(r.client.status == status::done);
  REQUIRE(r.server.status == status::done);
}

tlsio::context ticketing_server_context() {
  auto ctx = dtls_server_context();
  ctx.enable_session_tickets();
  return ctx;
}

// A full handshake between the two contexts; the client's session from it.
tlsio::session first_session(const tlsio::context &client_ctx, const tlsio::context &server_ctx) {
  dtls_pair p(client_ctx, server_ctx);
  require_handshake(p, p.handshake());
  REQUIRE(!p.client.resumed());
  auto s = p.client.get_session();
  REQUIRE(s);
  return *s;
}

} // namespace

TEST_CASE("a DTLS session resumes with the server's ticket: abbreviated handshake, both sides") {
  auto client_ctx = dtls_client_context();
  auto server_ctx = ticketing_server_context();
  auto s = first_session(client_ctx, server_ctx);

  dtls_pair p(client_ctx, server_ctx);
  p.client.set_session(s);
  require_handshake(p, p.handshake());
  CHECK(p.client.resumed());
  CHECK(p.server.resumed());
  // Abbreviated: no certificate crosses, so the server's datagrams after the
  // HelloVerifyRequest are far smaller than its certificate.
  std::size_t server_bytes = 0;
  for (const auto &d : p.log)
    if (d.from == side::server)
      server_bytes += d.bytes.size();
  CHECK(server_bytes < 600);
  REQUIRE(p.send(side::client, "again"));
  p.settle();
  CHECK(p.server_got == std::vector<std::string>{"again"});
  // The resumed session resumes again.
  REQUIRE(p.client.get_session());
  dtls_pair third(client_ctx, server_ctx);
  third.client.set_session(*p.client.get_session());
  require_handshake(third, third.handshake());
  CHECK(third.client.resumed());
}

TEST_CASE("a server without tickets declines: a full handshake, verified afresh") {
  auto client_ctx = dtls_client_context();
  auto server_ctx = dtls_server_context();
  auto s = first_session(client_ctx, server_ctx);
  dtls_pair p(client_ctx, server_ctx);
  p.client.set_session(s);
  require_handshake(p, p.handshake());
  CHECK(!p.client.resumed());
  CHECK(!p.server.resumed());
  CHECK(p.client.peer_certificate());
}

TEST_CASE("the client's lost last flight of a resumed handshake: the completed client answers") {
  auto client_ctx = dtls_client_context();
  auto server_ctx = ticketing_server_context();
  auto s = first_session(client_ctx, server_ctx);

  dtls_pair p(client_ctx, server_ctx);
  p.client.set_session(s);
  // In an abbreviated handshake the client sends the last flight (ChangeCipherSpec,
  // Finished): drop it the first time.
  p.copies = [&p](const sent_datagram &d) {
    return d.from == side::client && p.client.handshake_done() && d.at == p.start ? 0 : 1;
  };
  auto r = p.handshake();
  require_handshake(p, r);
  CHECK(p.client.resumed());
  CHECK(r.at == p.start + 1s); // the server's first retransmission
  CHECK(send_times(p, side::server) == std::vector<std::chrono::milliseconds>{0ms, 1000ms});
  CHECK(send_times(p, side::client) == std::vector<std::chrono::milliseconds>{0ms, 1000ms});
  REQUIRE(p.send(side::server, "resumed"));
  p.settle();
  CHECK(p.client_got == std::vector<std::string>{"resumed"});
}

TEST_CASE("a session is offered only where it was made") {
  auto client_ctx = dtls_client_context();
  auto server_ctx = ticketing_server_context();

  SUBCASE("another server name: a full handshake") {
    auto s = first_session(client_ctx, server_ctx);
    dtls_pair p(client_ctx, server_ctx, "127.0.0.1");
    p.client.set_session(s);
    require_handshake(p, p.handshake());
    CHECK(!p.client.resumed());
  }
  SUBCASE("another context of the same settings: a full handshake") {
    auto s = first_session(client_ctx, server_ctx);
    dtls_pair p(dtls_client_context(), server_ctx);
    p.client.set_session(s);
    require_handshake(p, p.handshake());
    CHECK(!p.client.resumed());
  }
  SUBCASE("a DTLS session on the stream engine, a stream session over DTLS: neither is offered") {
    auto s = first_session(client_ctx, server_ctx);
    engine_pair tcp(client_ctx, server_ctx);
    tcp.client.set_session(s);
    auto r = tcp.handshake();
    REQUIRE(r.client.status == status::done);
    CHECK(!tcp.client.resumed());
    auto tcp_session = tcp.client.get_session();
    REQUIRE(tcp_session);
    // The same session offered again on the stream engine resumes there: the refusal
    // above was for its transport.
    engine_pair tcp_again(client_ctx, server_ctx);
    tcp_again.client.set_session(*tcp_session);
    REQUIRE(tcp_again.handshake().client.status == status::done);
    CHECK(tcp_again.client.resumed());

    dtls_pair p(client_ctx, server_ctx);
    p.client.set_session(*tcp_session);
    require_handshake(p, p.handshake());
    CHECK(!p.client.resumed());
  }
}

TEST_CASE("a fatal alert ends the session's use for resumption (RFC 5246 §7.2.2); lost "
          "datagrams do not") {
  auto client_ctx = dtls_client_context();
  client_ctx.set_alpn({"x-one"});
  auto server_ctx = ticketing_server_context();
  auto s = first_session(client_ctx, server_ctx);

  SUBCASE("a handshake that offered it ends in a fatal alert") {
    auto refusing_ctx = dtls_server_context(); // refuses the client's ALPN list
    refusing_ctx.set_alpn({"x-other"});
    dtls_pair refused(client_ctx, refusing_ctx);
    refused.client.set_session(s);
    REQUIRE(refused.handshake().client.status == status::failed);

    dtls_pair p(client_ctx, server_ctx);
    p.client.set_session(s);
    require_handshake(p, p.handshake());
    CHECK(!p.client.resumed());
  }
  SUBCASE("a handshake that offered it timed out: it still resumes") {
    dtls_pair lost(client_ctx, server_ctx);
    lost.client.set_session(s);
    lost.copies = [](const sent_datagram &) { return 0; };
    REQUIRE(lost.handshake().client.error == tlsio::error::handshake_timeout);

    dtls_pair p(client_ctx, server_ctx);
    p.client.set_session(s);
    require_handshake(p, p.handshake());
    CHECK(p.client.resumed());
  }
}

TEST_CASE("ALPN over DTLS: agreed, reported on both sides, and refused on a mismatch") {
  auto client_ctx = dtls_client_context();
  client_ctx.set_alpn({"x-one", "x-two"});
  SUBCASE("a common protocol") {
    auto server_ctx = dtls_server_context();
    server_ctx.set_alpn({"x-two"});
    dtls_pair p(client_ctx, server_ctx);
    require_handshake(p, p.handshake());
    CHECK(p.client.alpn_protocol() == "x-two");
    CHECK(p.server.alpn_protocol() == "x-two");
  }
  SUBCASE("none in common: the server refuses with no_application_protocol, whatever its "
          "mismatch policy") {
    auto policy = tlsio::alpn_mismatch::fail;
    SUBCASE("fail") {}
    SUBCASE("proceed") { policy = tlsio::alpn_mismatch::proceed; }
    auto server_ctx = dtls_server_context();
    server_ctx.set_alpn({"x-three"}, policy);
    dtls_pair p(client_ctx, server_ctx);
    auto r = p.handshake();
    CHECK(r.client.status == status::failed);
    CHECK(r.server.status == status::failed);
    // The first ClientHello got its HelloVerifyRequest, the second (with the cookie) the
    // alert: no retransmission was waited for.
    CHECK(r.at == p.start);
    CHECK(p.client.failure_detail().find("no_application_protocol") != std::string::npos);
    CHECK(p.server.failure_detail().find("application protocol (ALPN)") != std::string::npos);
    CHECK(p.client.alpn_protocol().empty());
  }
  SUBCASE("a server without ALPN: none agreed, the handshake completes") {
    dtls_pair p(client_ctx, dtls_server_context());
    require_handshake(p, p.handshake());
    CHECK(p.client.alpn_protocol().empty());
  }
}
