// Handshake re-framing against records interleaved with its fragments (issue 13's review):
// an alert between the fragments of a message, or before the peer's ChangeCipherSpec, goes
// on to Mbed TLS in its place; and a plaintext handshake record too long for the re-framer
// still gets the alert that fits.
#include "engine_pair.hpp"

#include <tlsio/engine.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <string>
#include <vector>

using namespace tlsio_test;
using tlsio::status;
using bytes = std::vector<std::byte>;

namespace {

std::size_t record_size(const bytes &b, std::size_t at) {
  return 5 +
         (std::to_integer<std::size_t>(b[at + 3]) << 8 | std::to_integer<std::size_t>(b[at + 4]));
}

std::vector<bytes> split_records(const bytes &b) {
  std::vector<bytes> out;
  for (std::size_t at = 0; at < b.size();) {
    auto n = record_size(b, at);
    out.emplace_back(b.begin() + static_cast<std::ptrdiff_t>(at),
                     b.begin() + static_cast<std::ptrdiff_t>(at + n));
    at += n;
  }
  return out;
}

bytes join(const std::vector<bytes> &records) {
  bytes out;
  for (const auto &r : records)
    out.insert(out.end(), r.begin(), r.end());
  return out;
}

bytes record(unsigned type, const bytes &body) {
  bytes out{std::byte(type), std::byte{3}, std::byte{3}, std::byte(body.size() >> 8),
            std::byte(body.size() & 0xff)};
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// A warning alert (user_canceled), which TLS 1.2 lets a peer send at any time and lets
// interleave with the fragments of a handshake message (RFC 5246 §6.2.1).
const bytes warning_alert = record(21, {std::byte{1}, std::byte{90}});

// The leading handshake records of `b` re-cut into records of at most `size` bytes.
bytes split_handshake(const bytes &b, std::size_t size) {
  bytes messages, out;
  std::size_t at = 0;
  while (at < b.size() && b[at] == std::byte{22}) {
    auto end = at + record_size(b, at);
    messages.insert(messages.end(), b.begin() + static_cast<std::ptrdiff_t>(at + 5),
                    b.begin() + static_cast<std::ptrdiff_t>(end));
    at = end;
  }
  for (std::size_t m = 0; m < messages.size(); m += size) {
    auto n = std::min(size, messages.size() - m);
    auto r = record(22, bytes(messages.begin() + static_cast<std::ptrdiff_t>(m),
                              messages.begin() + static_cast<std::ptrdiff_t>(m + n)));
    out.insert(out.end(), r.begin(), r.end());
  }
  out.insert(out.end(), b.begin() + static_cast<std::ptrdiff_t>(at), b.end());
  return out;
}

void flight_to_server(engine_pair &p) {
  p.client.handshake();
  p.to_server.take_from(p.client);
}
void flight_to_client(engine_pair &p) {
  p.server.handshake();
  p.to_client.take_from(p.server);
}

} // namespace

TEST_CASE("resumption with every handshake message in 1-byte records") {
  const auto &pki = test_pki::shared();
  auto client_ctx = pki.client_context();
  auto server_ctx = pki.server_context();
  server_ctx.enable_session_tickets();
  std::optional<tlsio::session> saved;
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    engine_pair p(client_ctx, server_ctx);
    if (saved)
      p.client.set_session(*saved);
    tlsio::step_result client{}, server{};
    for (int flight = 0; flight < 4; ++flight) {
      client = p.client.handshake();
      p.to_server.take_from(p.client);
      p.to_server.bytes = split_handshake(p.to_server.bytes, 1);
      p.to_server.deliver_to(p.server, p.to_server.bytes.size());
      server = p.server.handshake();
      p.to_client.take_from(p.server);
      p.to_client.bytes = split_handshake(p.to_client.bytes, 1);
      p.to_client.deliver_to(p.client, p.to_client.bytes.size());
    }
    INFO("client: ", p.client.failure_detail(), " / server: ", p.server.failure_detail());
    REQUIRE(client.status == status::done);
    REQUIRE(server.status == status::done);
    CHECK(p.client.resumed() == (round == 1));
    CHECK(p.send(p.client, p.to_server, p.server, "x") == "x");
    saved = p.client.get_session();
    REQUIRE(saved);
  }
}

TEST_CASE("a handshake fragment cut by ChangeCipherSpec: one alert, then nothing") {
  const auto &pki = test_pki::shared();
  engine_pair p(pki.client_context(), pki.server_context());
  flight_to_server(p);
  p.to_server.deliver_to(p.server, p.to_server.bytes.size());
  flight_to_client(p);
  p.to_client.deliver_to(p.client, p.to_client.bytes.size());
  flight_to_server(p);
  auto flight = split_records(p.to_server.bytes);
  REQUIRE(flight[0][0] == std::byte{22});
  auto cke = flight[0];
  // The first 20 bytes of the ClientKeyExchange, then the rest of the flight.
  flight[0] = record(22, bytes(cke.begin() + 5, cke.begin() + 25));
  p.server.put_input(join(flight));
  auto r = p.server.handshake();
  INFO("server: ", p.server.failure_detail());
  CHECK(r.status == status::failed);
  auto out = p.server.pending_output();
  // The server's flight was already taken: only the alert is new.
  REQUIRE(out.size() == 7);
  CHECK(std::to_integer<int>(out[0]) == 21);
  CHECK(std::to_integer<int>(out[5]) == 2);
}

TEST_CASE("a warning alert between two fragments of the ClientHello does not stall") {
  const auto &pki = test_pki::shared();
  engine_pair p(pki.client_context(), pki.server_context());
  flight_to_server(p);
  auto hello = split_records(split_handshake(p.to_server.bytes, 60));
  REQUIRE(hello.size() >= 2);
  hello.insert(hello.begin() + 1, warning_alert);
  p.server.put_input(join(hello));
  // Everything the client will send before it hears from the server is in: the server
  // must answer or refuse, not wait for input that never comes.
  auto r = p.server.handshake();
  INFO("server: ", p.server.failure_detail());
  CHECK_FALSE((r.status == status::want_input && p.server.pending_output().empty()));
}

TEST_CASE("a warning alert between two fragments of the server's Certificate") {
  const auto &pki = test_pki::shared();
  engine_pair p(pki.client_context(), pki.server_context());
  flight_to_server(p);
  p.to_server.deliver_to(p.server, p.to_server.bytes.size());
  flight_to_client(p);
  auto flight = split_records(split_handshake(p.to_client.bytes, 100));
  REQUIRE(flight.size() >= 3);
  flight.insert(flight.begin() + 2, warning_alert);
  p.to_client.bytes = join(flight);
  auto r = p.handshake();
  INFO("client: ", p.client.failure_detail(), " / server: ", p.server.failure_detail());
  CHECK(r.client.status == status::done);
  CHECK(r.server.status == status::done);
}

TEST_CASE("a warning alert just before the client's ChangeCipherSpec") {
  // Mbed TLS skips the warning alert and reads the ChangeCipherSpec in the same step, so
  // the re-framer never sees the ChangeCipherSpec and goes on to parse the encrypted
  // Finished as plaintext handshake fragments.
  const auto &pki = test_pki::shared();
  engine_pair p(pki.client_context(), pki.server_context());
  flight_to_server(p);
  p.to_server.deliver_to(p.server, p.to_server.bytes.size());
  flight_to_client(p);
  p.to_client.deliver_to(p.client, p.to_client.bytes.size());
  flight_to_server(p); // ClientKeyExchange, ChangeCipherSpec, Finished
  auto flight = split_records(p.to_server.bytes);
  auto ccs = std::find_if(flight.begin(), flight.end(),
                          [](const bytes &r) { return r[0] == std::byte{20}; });
  REQUIRE(ccs != flight.end());
  flight.insert(ccs, warning_alert);
  p.to_server.bytes = join(flight);
  auto r = p.handshake();
  INFO("client: ", p.client.failure_detail(), " / server: ", p.server.failure_detail());
  CHECK(r.server.status == status::done);
  CHECK(r.client.status == status::done);
}

TEST_CASE("a plaintext handshake record over 2^14 bytes gets record_overflow") {
  const auto &pki = test_pki::shared();
  tlsio::engine client(pki.client_context());
  client.set_server_name("localhost");
  REQUIRE(client.handshake().status == status::want_input);
  client.consume_output(client.pending_output().size());
  bytes body(16385, std::byte{0});
  body[0] = std::byte{2}; // ServerHello
  body[1] = std::byte{0};
  body[2] = std::byte{0x3f};
  body[3] = std::byte{0xfd}; // 16381: the record's length
  client.put_input(record(22, body));
  CHECK(client.handshake().status == status::failed);
  auto out = client.pending_output();
  REQUIRE(out.size() == 7);
  CHECK(std::to_integer<int>(out[6]) == 22); // record_overflow, not unexpected_message
}

TEST_CASE("resumption, a warning alert before the server's ChangeCipherSpec") {
  const auto &pki = test_pki::shared();
  auto client_ctx = pki.client_context();
  auto server_ctx = pki.server_context();
  server_ctx.enable_session_tickets();
  engine_pair first(client_ctx, server_ctx);
  auto r1 = first.handshake();
  REQUIRE(r1.client.status == status::done);
  auto saved = first.client.get_session();
  REQUIRE(saved);
  engine_pair p(client_ctx, server_ctx);
  p.client.set_session(*saved);
  flight_to_server(p);
  p.to_server.deliver_to(p.server, p.to_server.bytes.size());
  flight_to_client(p); // ServerHello, NewSessionTicket, ChangeCipherSpec, Finished
  auto flight = split_records(p.to_client.bytes);
  auto ccs = std::find_if(flight.begin(), flight.end(),
                          [](const bytes &r) { return r[0] == std::byte{20}; });
  REQUIRE(ccs != flight.end());
  flight.insert(ccs, warning_alert);
  p.to_client.bytes = join(flight);
  auto r = p.handshake();
  INFO("client: ", p.client.failure_detail(), " / server: ", p.server.failure_detail());
  CHECK(r.client.status == status::done);
  CHECK(r.server.status == status::done);
  CHECK(p.client.resumed());
}
