// A server engine refusing malformed input: exact bytes in, one fatal alert that says why
// out, and nothing after it (issue 13, after tlsfuzzer's scripts).
#include "engine_pair.hpp"

#include <tlsio/engine.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <initializer_list>
#include <vector>

using namespace tlsio_test;
using tlsio::status;
using bytes = std::vector<std::byte>;

namespace {

constexpr unsigned char unexpected_message = 10, handshake_failure = 40, illegal_parameter = 47,
                        decode_error = 50;

void put_u(bytes &out, std::size_t value, int width) {
  for (int i = width - 1; i >= 0; --i)
    out.push_back(std::byte((value >> (8 * i)) & 0xff));
}

// `data` after its length in `width` bytes.
bytes vec(const bytes &data, int width) {
  bytes out;
  put_u(out, data.size(), width);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

bytes u8s(std::initializer_list<unsigned> values) {
  bytes out;
  for (auto v : values)
    out.push_back(std::byte(v));
  return out;
}

bytes cat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto &p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

bytes extension(unsigned type, const bytes &data) {
  bytes out;
  put_u(out, type, 2);
  return cat({out, vec(data, 2)});
}

bytes record(unsigned type, const bytes &body) { return cat({u8s({type, 3, 3}), vec(body, 2)}); }

struct hello_parts {
  bytes suites = u8s({0xc0, 0x2b, 0xc0, 0x2f}); // ECDHE-{ECDSA,RSA}-AES128-GCM-SHA256
  bytes compressions = u8s({0});
  bytes point_formats = u8s({0});
  bytes tail; // after the extensions, inside the message
};

// A ClientHello record that tlsio's server takes, but for what `change` changes.
bytes client_hello(void (*change)(hello_parts &) = [](hello_parts &) {}) {
  hello_parts p;
  change(p);
  bytes random(32, std::byte{7});
  auto extensions = cat({extension(10, vec(u8s({0, 23}), 2)),      // secp256r1
                         extension(13, vec(u8s({4, 3, 4, 1}), 2)), // sha256 sigs
                         extension(11, vec(p.point_formats, 1)), p.tail});
  auto body = cat({u8s({3, 3}), random, vec({}, 1), vec(p.suites, 2), vec(p.compressions, 1),
                   vec(extensions, 2)});
  return record(22, cat({u8s({1}), vec(body, 3)}));
}

// The records a server engine writes after `input`: it must fail with one fatal alert.
void check_refused(const bytes &input, unsigned char description) {
  tlsio::engine server(test_pki::shared().server_context());
  server.put_input(input);
  auto r = server.handshake();
  INFO("failure: ", server.failure_detail());
  CHECK(r.status == status::failed);
  auto out = server.pending_output();
  CHECK(bytes(out.begin(), out.end()) == u8s({21, 3, 3, 0, 2, 2, description}));
}

TEST_CASE("the test's own ClientHello is accepted") {
  tlsio::engine server(test_pki::shared().server_context());
  server.put_input(client_hello());
  CHECK(server.handshake().status == status::want_input);
  CHECK(server.pending_output()[0] == std::byte{22}); // ServerHello onwards
}

TEST_CASE("malformed ClientHellos: decode_error") {
  SUBCASE("the message's length says one byte more, which the next record brings") {
    auto hello = client_hello();
    hello[8] = std::byte(std::to_integer<unsigned>(hello[8]) + 1);
    check_refused(cat({hello, record(22, u8s({0}))}), decode_error);
  }
  SUBCASE("the message's length says one byte less") {
    auto hello = client_hello();
    hello[8] = std::byte(std::to_integer<unsigned>(hello[8]) - 1);
    check_refused(hello, decode_error);
  }
  SUBCASE("bytes after the extensions") {
    auto hello = client_hello();
    auto body = bytes(hello.begin() + 9, hello.end());
    body.push_back(std::byte{0});
    check_refused(record(22, cat({u8s({1}), vec(body, 3)})), decode_error);
  }
  SUBCASE("an extension longer than the extensions") {
    check_refused(client_hello([](hello_parts &p) { p.tail = u8s({0, 21, 0, 9}); }), decode_error);
  }
  SUBCASE("an odd-sized cipher suite list") {
    check_refused(client_hello([](hello_parts &p) {
                    p.suites = u8s({0xc0, 0x2b, 0xc0});
                  }),
                  decode_error);
  }
  SUBCASE("no compression method") {
    check_refused(client_hello([](hello_parts &p) { p.compressions = bytes{}; }), decode_error);
  }
  SUBCASE("an empty ec_point_formats list") {
    check_refused(client_hello([](hello_parts &p) { p.point_formats = bytes{}; }), decode_error);
  }
}

TEST_CASE("a first message other than a ClientHello: unexpected_message") {
  auto hello = client_hello();
  hello[5] = std::byte{2}; // ServerHello
  check_refused(hello, unexpected_message);
}

// A wrong length shifts what the fields after it read as, so a bad value found after one
// is no value at all.
TEST_CASE("a message that does not parse: decode_error, before any value is judged") {
  check_refused(client_hello([](hello_parts &p) {
                  p.compressions = u8s({1});
                  p.tail = u8s({0, 21, 0, 9});
                }),
                decode_error);
}

TEST_CASE("ClientHellos with values that cannot be: illegal_parameter") {
  SUBCASE("deflate only, without null compression") {
    check_refused(client_hello([](hello_parts &p) { p.compressions = u8s({1}); }),
                  illegal_parameter);
  }
  SUBCASE("ec_point_formats without uncompressed") {
    check_refused(client_hello([](hello_parts &p) { p.point_formats = u8s({1}); }),
                  illegal_parameter);
  }
}

// RFC 8422 §5.1.2 deprecates compressed points: a server sends its own uncompressed even to a
// client that lists compressed first.
TEST_CASE("the ServerKeyExchange point is uncompressed whatever the client lists first") {
  tlsio::engine server(test_pki::shared().server_context());
  server.put_input(client_hello([](hello_parts &p) { p.point_formats = u8s({1, 0}); }));
  REQUIRE(server.handshake().status == status::want_input);
  auto out = server.pending_output();
  // Records of the server's first flight, each a whole message: find ServerKeyExchange.
  for (std::size_t at = 0; at + 5 < out.size();) {
    std::size_t length =
        std::to_integer<std::size_t>(out[at + 3]) << 8 | std::to_integer<std::size_t>(out[at + 4]);
    if (out[at + 5] == std::byte{12}) {
      // curve_type, named_curve (2), point length, point
      auto params = out.subspan(at + 9);
      CHECK(params[3] == std::byte{65});
      CHECK(params[4] == std::byte{4});
      return;
    }
    at += 5 + length;
  }
  FAIL("no ServerKeyExchange");
}

TEST_CASE("no cipher suite in common: handshake_failure") {
  check_refused(client_hello([](hello_parts &p) {
                  p.suites = u8s({0x00, 0x2f});
                }),
                handshake_failure);
}

// A client engine and a server engine, up to the client's second flight (not delivered).
// The server's ECDSA certificate is on P-256, which Mbed TLS wants the client to offer.
tlsio::context client_offering(tlsio::key_exchange_group group) {
  auto ctx = test_pki::shared().client_context();
  ctx.set_key_exchange_groups({group, tlsio::key_exchange_group::secp256r1});
  return ctx;
}

struct second_flight {
  engine_pair p;
  std::vector<bytes> records; // ClientKeyExchange, ChangeCipherSpec, Finished

  explicit second_flight(tlsio::key_exchange_group group = tlsio::key_exchange_group::x25519)
      : p(client_offering(group), test_pki::shared().server_context()) {
    p.client.handshake();
    p.to_server.take_from(p.client);
    p.to_server.deliver_to(p.server, p.to_server.bytes.size());
    p.server.handshake();
    p.to_client.take_from(p.server);
    p.to_client.deliver_to(p.client, p.to_client.bytes.size());
    p.client.handshake();
    p.to_server.take_from(p.client);
    auto &w = p.to_server.bytes;
    for (std::size_t at = 0; at < w.size();) {
      auto size = 5 + (std::to_integer<std::size_t>(w[at + 3]) << 8) +
                  std::to_integer<std::size_t>(w[at + 4]);
      records.emplace_back(w.begin() + static_cast<std::ptrdiff_t>(at),
                           w.begin() + static_cast<std::ptrdiff_t>(at + size));
      at += size;
    }
    REQUIRE(records.size() == 3);
  }
  // Delivers `input` to the server: it must fail with one fatal alert.
  void check_refused(const bytes &input, unsigned char description) {
    p.server.put_input(input);
    auto r = p.server.handshake();
    INFO("failure: ", p.server.failure_detail());
    CHECK(r.status == status::failed);
    auto out = p.server.pending_output();
    CHECK(bytes(out.begin(), out.end()) == u8s({21, 3, 3, 0, 2, 2, description}));
  }
};

// A ClientKeyExchange record (ECDHE) holding `point` as its public value.
bytes client_key_exchange(const bytes &point) {
  return record(22, cat({u8s({16}), vec(vec(point, 1), 3)}));
}

TEST_CASE("a bad EC point in the ClientKeyExchange") {
  second_flight f;
  auto cke = f.records[0];
  bytes point(cke.begin() + 10, cke.end());
  REQUIRE(point.size() == 32); // x25519, the first group
  SUBCASE("one byte shorter than its length says: decode_error") {
    auto length = u8s({32});
    point.pop_back();
    f.check_refused(record(22, cat({u8s({16}), vec(cat({length, point}), 3)})), decode_error);
  }
  SUBCASE("padded: decode_error") {
    auto padded = record(22, cat({u8s({16}), vec(cat({vec(point, 1), u8s({0})}), 3)}));
    f.check_refused(padded, decode_error);
  }
}

TEST_CASE("a bad EC point on P-256: illegal_parameter") {
  second_flight f(tlsio::key_exchange_group::secp256r1);
  REQUIRE(f.records[0].size() == 10 + 65);
  SUBCASE("not on the curve") {
    bytes point(65, std::byte{0});
    point[0] = std::byte{4}; // uncompressed (0, 0)
    f.check_refused(client_key_exchange(point), illegal_parameter);
  }
  SUBCASE("compressed, which the server did not offer") {
    bytes point(f.records[0].begin() + 10, f.records[0].begin() + 10 + 33);
    point[0] = std::byte{2};
    f.check_refused(client_key_exchange(point), illegal_parameter);
  }
}

TEST_CASE("a two-byte ChangeCipherSpec: unexpected_message") {
  second_flight f;
  f.check_refused(cat({f.records[0], record(20, u8s({1, 1}))}), unexpected_message);
}

// After the handshake the alert is encrypted: the client engine reads which it is.
void check_alert_after_handshake(const bytes &input, const char *name) {
  const auto &pki = test_pki::shared();
  engine_pair p(pki.client_context(), pki.server_context());
  REQUIRE(p.handshake().server.status == status::done);
  p.server.put_input(input);
  std::byte buffer[100];
  CHECK(p.server.read(buffer).status == status::failed);
  auto out = p.server.pending_output();
  REQUIRE(out.size() > 5);
  CHECK(out[0] == std::byte{21});
  CHECK(out.size() == 5 + (std::to_integer<std::size_t>(out[3]) << 8) +
                          std::to_integer<std::size_t>(out[4])); // one record
  p.to_client.take_from(p.server);
  p.to_client.deliver_to(p.client, p.to_client.bytes.size());
  CHECK(p.client.read(buffer).status == status::failed);
  CHECK(p.client.failure_detail() == std::string("the peer ended the connection with a fatal "
                                                 "alert: ") +
                                         name);
}

TEST_CASE("malformed records after the handshake") {
  SUBCASE("an empty application data record, shorter than its tag: bad_record_mac") {
    check_alert_after_handshake(record(23, {}), "bad_record_mac");
  }
  SUBCASE("a record longer than its cipher allows: record_overflow") {
    check_alert_after_handshake(record(23, bytes(16384 + 2048, std::byte{1})), "record_overflow");
  }
}

} // namespace
