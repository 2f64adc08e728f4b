// The DTLS engine: two engines back to back in memory on a fake clock, over a datagram path
// that drops, duplicates and reorders. No sockets, no event loop, no real time.
#include "dtls_pair.hpp"

#include <tlsio/backend.hpp>
#include <tlsio/error.hpp>

#include <doctest/doctest.h>

#include <random>

using namespace tlsio_test;
using tlsio::status;

namespace {

constexpr auto handshake_type = std::byte{22};
constexpr auto hello_verify_request = std::byte{3};
constexpr std::size_t record_header = 13; // DTLS: type, version, epoch, sequence, length

void require_handshake(dtls_pair &p, const dtls_pair::outcome &r) {
  INFO("client: ", r.client.error.message(), " / ", p.client.failure_detail());
  INFO("server: ", r.server.error.message(), " / ", p.server.failure_detail());
  REQUIRE(r.client.status == status::done);
  REQUIRE(r.server.status == status::done);
}

bool is_hello_verify_request(std::span<const std::byte> d) {
  return d.size() > record_header && d[0] == handshake_type &&
         d[record_header] == hello_verify_request;
}

std::string received(tlsio::dtls::engine &e, std::size_t capacity, tlsio::step_result &r) {
  std::vector<std::byte> buffer(capacity);
  r = e.receive(buffer);
  return {reinterpret_cast<const char *>(buffer.data()), r.bytes};
}

} // namespace

TEST_CASE("handshake, then messages both ways") {
  dtls_pair p(dtls_client_context(), dtls_server_context());
  auto r = p.handshake();
  require_handshake(p, r);
  CHECK(r.at == p.start); // nothing lost: no timer fired
  CHECK(p.client.protocol_version() == "DTLSv1.2");
  CHECK(p.server.protocol_version() == "DTLSv1.2");
  CHECK(p.client.cipher_suite().find("ECDHE") != std::string::npos);
  REQUIRE(p.client.peer_certificate());
  CHECK(p.client.peer_certificate()->subject.find("CN=localhost") != std::string::npos);
  CHECK(!p.client.verification_result());
  CHECK(p.client.next_timeout() == std::nullopt);

  REQUIRE(p.send(side::client, "ping"));
  p.settle();
  CHECK(p.server_got == std::vector<std::string>{"ping"});
  REQUIRE(p.send(side::server, "pong"));
  p.settle();
  CHECK(p.client_got == std::vector<std::string>{"pong"});
}

TEST_CASE("three sends arrive as three receives, each its own datagram") {
  dtls_pair p(dtls_client_context(), dtls_server_context());
  require_handshake(p, p.handshake());
  auto before = p.log.size();
  REQUIRE(p.send(side::client, "one"));
  REQUIRE(p.send(side::client, "two"));
  REQUIRE(p.send(side::client, "three"));
  CHECK(p.log.size() == before + 3);
  p.settle();
  CHECK(p.server_got == std::vector<std::string>{"one", "two", "three"});
}

TEST_CASE("an over-size message fails before anything is queued") {
  dtls_pair p(dtls_client_context(), dtls_server_context());
  CHECK(p.client.max_message_size() == 0); // before the handshake
  CHECK(p.client.mtu() == tlsio::dtls::engine::default_mtu);
  require_handshake(p, p.handshake());
  std::size_t max = p.client.max_message_size();
  CHECK(max > 1100);
  CHECK(max < tlsio::dtls::engine::default_mtu);

  std::string too_long(max + 1, 'x');
  auto r = p.client.send(as_bytes(too_long));
  CHECK(r.status == status::done);
  CHECK(r.bytes == 0);
  CHECK(r.error == tlsio::error::message_too_large);
  CHECK(p.client.queued_output() == 0);
  CHECK(!p.client.failure());

  std::string longest(max, 'y');
  REQUIRE(p.send(side::client, longest));
  CHECK(p.log.back().bytes.size() <= tlsio::dtls::engine::default_mtu);
  p.settle();
  REQUIRE(p.server_got.size() == 1);
  CHECK(p.server_got[0] == longest);

  p.client.set_mtu(600);
  CHECK(p.client.max_message_size() < 600);
  CHECK(p.client.send(as_bytes(longest)).error == tlsio::error::message_too_large);
}

TEST_CASE("a short receive buffer: message_truncated, then the next message whole") {
  dtls_pair p(dtls_client_context(), dtls_server_context());
  require_handshake(p, p.handshake());
  REQUIRE(p.client.send(as_bytes("0123456789")).status == status::done);
  REQUIRE(p.client.send(as_bytes("next")).status == status::done);
  for (; p.client.queued_output() > 0; p.client.pop_datagram())
    p.server.put_datagram(p.client.pending_datagram());

  tlsio::step_result r;
  CHECK(received(p.server, 4, r) == "0123");
  CHECK(r.status == status::done);
  CHECK(r.error == tlsio::error::message_truncated);
  CHECK(received(p.server, 100, r) == "next");
  CHECK(r.status == status::done);
  CHECK(!r.error);
  received(p.server, 100, r);
  CHECK(r.status == status::want_input);
}

TEST_CASE("every handshake datagram, lost once, is retransmitted after the first timeout") {
  // At the default MTU each flight is one datagram; at 300 bytes the server's certificate
  // flight is cut into fragments (RFC 6347 §4.2.3), each of which may be the one lost.
  std::size_t mtu = 0;
  SUBCASE("default MTU") { mtu = tlsio::dtls::engine::default_mtu; }
  SUBCASE("300 bytes") { mtu = 300; }
  CAPTURE(mtu);
  auto make_pair = [mtu] {
    auto p = std::make_unique<dtls_pair>(dtls_client_context(), dtls_server_context());
    p->client.set_mtu(mtu);
    p->server.set_mtu(mtu);
    return p;
  };
  auto clean = make_pair();
  require_handshake(*clean, clean->handshake());
  const std::size_t count = clean->log.size();
  // ClientHello, HelloVerifyRequest, ClientHello, then the server's and the client's
  // flights and the server's last.
  CHECK(count >= (mtu == 300 ? 8 : 6));
  for (const auto &d : clean->log)
    CHECK(d.bytes.size() <= std::max<std::size_t>(mtu, 151)); // a ClientHello is never cut

  for (std::size_t lost = 0; lost < count; ++lost) {
    CAPTURE(lost);
    auto owner = make_pair();
    auto &p = *owner;
    p.copies = [lost](const sent_datagram &d) { return d.index == lost ? 0 : 1; };
    auto r = p.handshake();
    require_handshake(p, r);
    // RFC 6347 §4.2.4.1: the first retransmission after 1 s (Mbed TLS's minimum); one
    // retransmission repairs one loss, so nothing happens at any other time.
    CHECK(r.at == p.start + 1s);
    auto client_times = send_times(p, side::client);
    CHECK(client_times.back() <= 1000ms);
    CHECK(send_times(p, side::server).back() <= 1000ms);
    bool retransmitted = std::any_of(p.log.begin(), p.log.end(),
                                     [&](const sent_datagram &d) { return d.at == p.start + 1s; });
    CHECK(retransmitted);
  }
}

TEST_CASE("a flight lost twice: the wait doubles, and the handshake completes at 1 s + 2 s") {
  dtls_pair p(dtls_client_context(), dtls_server_context());
  // The client's first ClientHello and its first retransmission. (A lost server flight
  // would come again at 1 s anyway, in answer to the client's retransmitted ClientHello.)
  int lost = 0;
  p.copies = [&lost](const sent_datagram &d) {
    return d.from == side::client && lost < 2 ? (++lost, 0) : 1;
  };
  auto r = p.handshake();
  require_handshake(p, r);
  CHECK(lost == 2);
  CHECK(r.at == p.start + 3s);
  CHECK(send_times(p, side::client) == std::vector<std::chrono::milliseconds>{0ms, 1000ms, 3000ms});
  CHECK(send_times(p, side::server) == std::vector<std::chrono::milliseconds>{3000ms});
}

TEST_CASE("nothing arrives: retransmissions double from 1 s, the handshake fails at its timeout") {
  using ms = std::chrono::milliseconds;
  struct plan {
    ms timeout;            // the context's handshake timeout
    std::vector<ms> sends; // when the ClientHello goes out
    ms fails_at;
  };
  const plan plans[] = {
      {10000ms, {0ms, 1000ms, 3000ms, 7000ms}, 10000ms},
      {5000ms, {0ms, 1000ms, 3000ms}, 5000ms},
      {500ms, {0ms}, 500ms},
      // No bound of the context's: Mbed TLS doubles its wait up to 60 s, then gives up.
      {0ms, {0ms, 1000ms, 3000ms, 7000ms, 15000ms, 31000ms, 63000ms}, 123000ms},
  };
  for (const auto &plan : plans) {
    CAPTURE(plan.timeout.count());
    auto client_ctx = dtls_client_context();
    client_ctx.set_handshake_timeout(plan.timeout);
    dtls_pair p(client_ctx, dtls_server_context());
    p.copies = [](const sent_datagram &) { return 0; };
    auto r = p.handshake(200s);
    CHECK(r.client.status == status::failed);
    CHECK(r.client.error == tlsio::error::handshake_timeout);
    CHECK(r.at == p.start + plan.fails_at);
    CHECK(send_times(p, side::client) == plan.sends);
    CHECK(p.client.next_timeout() == std::nullopt);
    CHECK(p.server.queued_output() == 0);
  }
}

TEST_CASE("cookies: the server keeps nothing before a valid cookie returns") {
  dtls_pair p(dtls_client_context(), dtls_server_context());
  REQUIRE(p.client.handshake().status == status::want_input);
  REQUIRE(p.client.queued_output() == 1);
  auto pending = p.client.pending_datagram();
  std::vector<std::byte> hello(pending.begin(), pending.end());
  p.client.pop_datagram();

  // Answered, and forgotten: the same ClientHello again gets the same kind of answer.
  for (int i = 0; i < 2; ++i) {
    p.server.put_datagram(hello);
    CHECK(p.server.handshake().status == status::want_input);
    REQUIRE(p.server.queued_output() == 1);
    CHECK(is_hello_verify_request(p.server.pending_datagram()));
    CHECK(p.server.pending_datagram().size() <= hello.size());
    CHECK(!p.server.cookie_verified());
    CHECK(p.server.next_timeout() == std::nullopt);
    if (i == 0)
      p.client.put_datagram(p.server.pending_datagram());
    p.server.pop_datagram();
  }

  // The client answers with the cookie; the server takes it from that address only.
  REQUIRE(p.client.handshake().status == status::want_input);
  REQUIRE(p.client.queued_output() == 1);
  auto with_cookie = p.client.pending_datagram();
  tlsio::dtls::engine elsewhere(dtls_server_context(), p.clock.source());
  elsewhere.set_client_id(as_bytes("198.51.100.7:40000"));
  elsewhere.put_datagram(with_cookie);
  CHECK(elsewhere.handshake().status == status::want_input);
  CHECK(!elsewhere.cookie_verified());
  REQUIRE(elsewhere.queued_output() == 1);
  CHECK(is_hello_verify_request(elsewhere.pending_datagram()));

  p.server.put_datagram(with_cookie);
  p.client.pop_datagram();
  CHECK(p.server.handshake().status == status::want_input);
  CHECK(p.server.cookie_verified());
  CHECK(p.server.next_timeout() == p.start + 1s); // its flight now waits for an answer
  p.collect(p.server, side::server);
  require_handshake(p, p.handshake());
}

TEST_CASE("garbage datagrams: no crash, no output, no failure") {
  std::mt19937 rng(15);
  auto garbage = [&](std::size_t n) {
    std::vector<std::byte> d(n);
    for (auto &b : d)
      b = static_cast<std::byte>(rng());
    return d;
  };
  // Random bytes, and random bodies behind a plausible DTLS 1.2 record header.
  auto feed = [&](tlsio::dtls::engine &e) {
    for (std::size_t n : {1, 2, 12, 13, 14, 60, 200, 1500, 20000})
      e.put_datagram(garbage(n));
    for (std::byte type : {std::byte{20}, std::byte{21}, std::byte{22}, std::byte{23}}) {
      auto d = garbage(100);
      d[0] = type;
      d[1] = std::byte{0xfe};
      d[2] = std::byte{0xfd};
      d[11] = std::byte{0};
      d[12] = std::byte{87};
      e.put_datagram(d);
    }
  };

  dtls_pair p(dtls_client_context(), dtls_server_context());
  feed(p.server);
  CHECK(p.server.handshake().status == status::want_input);
  CHECK(p.server.queued_output() == 0);
  CHECK(!p.server.failure());

  require_handshake(p, p.handshake());
  for (auto *e : {&p.client, &p.server}) {
    feed(*e);
    tlsio::step_result r;
    received(*e, 100, r);
    CHECK(r.status == status::want_input);
    CHECK(e->queued_output() == 0);
    CHECK(!e->failure());
  }
  REQUIRE(p.send(side::client, "still here"));
  p.settle();
  CHECK(p.server_got == std::vector<std::string>{"still here"});
}

TEST_CASE("a wrong host name fails as on the stream engine") {
  dtls_pair p(dtls_client_context(), dtls_server_context(), "wrong.example");
  auto r = p.handshake();
  CHECK(r.client.status == status::failed);
  CHECK(r.client.error == tlsio::error::host_name_mismatch);
  CHECK(p.server.failure()); // it got the alert that says why

  engine_pair stream(dtls_client_context(), dtls_server_context(), "wrong.example");
  auto s = stream.handshake();
  CHECK(s.client.error == r.client.error);
  CHECK(stream.client.failure_detail() == p.client.failure_detail());
  CHECK(p.client.failure_detail().find("wrong.example") != std::string::npos);
}

TEST_CASE("a verifying client without a server name fails as on the stream engine") {
  dtls_pair p(dtls_client_context(), dtls_server_context(), "");
  auto r = p.handshake();
  CHECK(r.client.error == tlsio::error::no_host_name);
  CHECK(p.log.empty());
}

TEST_CASE("the lost last flight: the client retransmits, the completed server answers") {
  dtls_pair p(dtls_client_context(), dtls_server_context());
  // The server's final flight (ChangeCipherSpec, Finished), the first time it is sent.
  p.copies = [&p](const sent_datagram &d) {
    return d.from == side::server && p.server.handshake_done() && d.at == p.start ? 0 : 1;
  };
  auto r = p.handshake();
  require_handshake(p, r);
  CHECK(r.at == p.start + 1s);
  CHECK(send_times(p, side::client) == std::vector<std::chrono::milliseconds>{0ms, 1000ms});
  CHECK(send_times(p, side::server) == std::vector<std::chrono::milliseconds>{0ms, 1000ms});
  REQUIRE(p.send(side::client, "after"));
  p.settle();
  CHECK(p.server_got == std::vector<std::string>{"after"});
}

TEST_CASE("duplicated and reordered datagrams: the handshake completes, messages come once") {
  dtls_pair p(dtls_client_context(), dtls_server_context());
  p.copies = [](const sent_datagram &) { return 2; };
  p.reorder = true;
  require_handshake(p, p.handshake(30s));
  REQUIRE(p.send(side::client, "a"));
  REQUIRE(p.send(side::client, "b"));
  p.settle();
  CHECK(p.server_got.size() == 2); // each once (anti-replay), in either order
  CHECK(std::count(p.server_got.begin(), p.server_got.end(), "a") == 1);
}

TEST_CASE("close_notify ends the association") {
  dtls_pair p(dtls_client_context(), dtls_server_context());
  require_handshake(p, p.handshake());
  CHECK(p.client.shutdown().status == status::done);
  p.collect(p.client, side::client);
  p.settle();
  CHECK(p.server_last.status == status::closed);
  CHECK(p.client.send(as_bytes("late")).error == tlsio::error::not_connected);
}

TEST_CASE("before the handshake: not_connected") {
  tlsio::dtls::engine e(dtls_client_context());
  std::byte buffer[10];
  CHECK(e.send(as_bytes("x")).error == tlsio::error::not_connected);
  CHECK(e.receive(buffer).error == tlsio::error::not_connected);
  CHECK(e.shutdown().error == tlsio::error::not_connected);
}

TEST_CASE("DTLS on a backend without it is refused at construction") {
  for (const auto &b : tlsio::available_backends()) {
    CHECK(b.dtls == (b.id == tlsio::backend::mbedtls));
    if (b.id != tlsio::backend::openssl)
      continue;
    tlsio::context ctx{tlsio::role::client, tlsio::backend::openssl};
    try {
      tlsio::dtls::engine e(ctx);
      FAIL("no exception");
    } catch (const std::system_error &e) {
      CHECK(e.code() == tlsio::error::dtls_unavailable);
    }
  }
}

TEST_CASE("a server without the client's address answers no ClientHello") {
  tlsio::dtls::engine client(dtls_client_context());
  client.set_server_name("localhost");
  tlsio::dtls::engine server(dtls_server_context()); // no set_client_id()
  client.handshake();
  REQUIRE(client.queued_output() == 1);
  server.put_datagram(client.pending_datagram());
  CHECK(server.handshake().status == status::want_input);
  CHECK(server.queued_output() == 0);
  CHECK(!server.failure());
}

TEST_CASE("a new ClientHello from the peer's address ends the association only with a cookie") {
  dtls_pair p(dtls_client_context(), dtls_server_context());
  require_handshake(p, p.handshake());
  // The peer restarts on the same address: a new client, the server engine of the old one.
  tlsio::dtls::engine restarted(dtls_client_context(), p.clock.source());
  restarted.set_server_name("localhost");
  restarted.handshake();
  REQUIRE(restarted.queued_output() == 1);
  p.server.put_datagram(restarted.pending_datagram());
  restarted.pop_datagram();
  tlsio::step_result r;
  received(p.server, 100, r);
  CHECK(r.status == status::want_input); // no cookie: answered, and nothing ends
  REQUIRE(p.server.queued_output() == 1);
  CHECK(is_hello_verify_request(p.server.pending_datagram()));
  restarted.put_datagram(p.server.pending_datagram());
  p.server.pop_datagram();
  REQUIRE(p.send(side::client, "old association"));
  p.settle();
  CHECK(p.server_got == std::vector<std::string>{"old association"});

  restarted.handshake();
  REQUIRE(restarted.queued_output() == 1);
  p.server.put_datagram(restarted.pending_datagram());
  received(p.server, 100, r);
  CHECK(r.status == status::failed);
  CHECK(r.error == tlsio::error::peer_reconnected);
}

TEST_CASE("the context's verification rules hold as on the stream") {
  SUBCASE("a server that requires a client certificate refuses a client without one") {
    auto server_ctx = dtls_server_context();
    server_ctx.set_client_certificate(tlsio::client_certificate::required);
    server_ctx.add_certificate_authority(test_pki::shared().ca.certificate_pem());
    dtls_pair p(dtls_client_context(), server_ctx);
    auto r = p.handshake();
    CHECK(r.server.status == status::failed);
    CHECK(r.server.error == tlsio::error::no_peer_certificate);
    CHECK(r.client.status == status::failed); // it got the alert
  }
  SUBCASE("a client that skips verification takes any name") {
    auto client_ctx = dtls_client_context();
    client_ctx.set_verify(tlsio::verify::insecure_skip);
    dtls_pair p(client_ctx, dtls_server_context(), "wrong.example");
    require_handshake(p, p.handshake());
  }
  SUBCASE("an IP literal is matched against the certificate's addresses") {
    dtls_pair p(dtls_client_context(), dtls_server_context(), "127.0.0.1");
    require_handshake(p, p.handshake());
    dtls_pair wrong(dtls_client_context(), dtls_server_context(), "10.0.0.1");
    CHECK(wrong.handshake().client.error == tlsio::error::host_name_mismatch);
  }
}

TEST_CASE("only authenticated records count as the peer's activity") {
  dtls_pair p(dtls_client_context(), dtls_server_context());
  CHECK(p.server.last_authenticated() == std::nullopt);
  require_handshake(p, p.handshake());
  CHECK(p.server.last_authenticated() == p.start);
  CHECK(p.client.last_authenticated() == p.start);

  REQUIRE(p.client.send(as_bytes("first")).status == status::done);
  std::vector<std::byte> first(p.client.pending_datagram().begin(),
                               p.client.pending_datagram().end());
  p.collect(p.client, side::client);
  p.clock.now += 5s;
  p.settle();
  CHECK(p.server.last_authenticated() == p.start + 5s);

  // A replay of that datagram, a forged record in the same epoch, garbage: none counts.
  p.clock.now += 5s;
  auto forged = first;
  forged.back() ^= std::byte{1};
  for (const auto &d : {first, forged, std::vector<std::byte>(40, std::byte{0x17})})
    p.server.put_datagram(d);
  tlsio::step_result r;
  received(p.server, 100, r);
  CHECK(r.status == status::want_input);
  CHECK(p.server.last_authenticated() == p.start + 5s);
  CHECK(p.server_got == std::vector<std::string>{"first"});
}

TEST_CASE("a configuration problem shows at the first handshake step, as on the stream") {
  tlsio::context no_identity{tlsio::role::server, tlsio::backend::mbedtls};
  tlsio::dtls::engine e(no_identity);
  auto r = e.handshake();
  CHECK(r.status == status::failed);
  CHECK(r.error == tlsio::error::no_certificate);
  CHECK(e.queued_output() == 0);
  CHECK(e.next_timeout() == std::nullopt);
}

TEST_CASE("a flight retransmitted twice goes out at 508 bytes; the MTU returns after the "
          "handshake") {
  const auto full_size = [] {
    dtls_pair clean(dtls_client_context(), dtls_server_context());
    clean.handshake();
    return clean.server.max_message_size();
  }();
  dtls_pair p(dtls_client_context(), dtls_server_context());
  // The server's flights for the first 3 s: its first one (ServerHello .. ServerHelloDone)
  // is lost at 0 s and 1 s, and its timer's second doubling lowers the handshake's MTU to
  // 508 (RFC 6347 §4.1.1.1). It sends the last flight too, so it keeps the handshake's
  // state, and that MTU, until the client's first record of the new epoch shows the flight
  // arrived (§4.2.4).
  p.copies = [&](const sent_datagram &d) {
    return d.from == side::server && p.server.cookie_verified() && d.at < p.start + 3s ? 0 : 1;
  };
  require_handshake(p, p.handshake());
  for (const auto &d : p.log)
    if (d.from == side::server && d.at >= p.start + 3s)
      CHECK(d.bytes.size() <= 508);
  CHECK(p.server.max_message_size() < 508);
  REQUIRE(p.send(side::client, "arrived"));
  p.settle();
  REQUIRE(p.server_got == std::vector<std::string>{"arrived"});
  CHECK(p.server.max_message_size() == full_size);
}
