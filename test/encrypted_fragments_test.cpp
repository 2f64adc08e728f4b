// A peer that splits its Finished across encrypted records, down to one byte a record
// (RFC 5246 §6.2.1 lets it; tlsfuzzer's record-layer-fragmentation does it). The test plays
// that peer: it takes the keys from the key log, re-seals the real Finished in 1-byte
// AES-128-GCM records (RFC 5288), and then sends application data under the sequence number
// that follows them, so a receiver that counted the records wrong fails to read it.
#include "engine_pair.hpp"

#include <tlsio/error.hpp>

#include <doctest/doctest.h>
#include <mbedtls/chachapoly.h>
#include <mbedtls/gcm.h>
#include <mbedtls/md.h>
#include <mbedtls/sha256.h>

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace tlsio_test;
using tlsio::status;
namespace fs = std::filesystem;

namespace {

using bytes = std::vector<std::byte>;

bytes from_hex(const std::string &hex) {
  bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(std::byte(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

const unsigned char *u8(const bytes &b) {
  return reinterpret_cast<const unsigned char *>(b.data());
}
unsigned char *u8(bytes &b) { return reinterpret_cast<unsigned char *>(b.data()); }

// The TLS 1.2 PRF with SHA-256 (RFC 5246 §5).
bytes prf(const bytes &secret, const std::string &label, const bytes &seed, std::size_t size) {
  const auto *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  auto hmac = [&](const bytes &data) {
    bytes out(32);
    REQUIRE(mbedtls_md_hmac(md, u8(secret), secret.size(), u8(data), data.size(), u8(out)) == 0);
    return out;
  };
  bytes labelled(reinterpret_cast<const std::byte *>(label.data()),
                 reinterpret_cast<const std::byte *>(label.data()) + label.size());
  labelled.insert(labelled.end(), seed.begin(), seed.end());
  bytes out, a = labelled;
  while (out.size() < size) {
    a = hmac(a);
    bytes block = a;
    block.insert(block.end(), labelled.begin(), labelled.end());
    auto h = hmac(block);
    out.insert(out.end(), h.begin(), h.end());
  }
  out.resize(size);
  return out;
}

// One direction of an AES-128-GCM TLS 1.2 connection (RFC 5288 §3).
struct gcm_direction {
  bytes key, salt;

  bytes nonce_and_aad(std::uint64_t sequence, std::uint8_t type, std::size_t length,
                      bytes &aad) const {
    bytes explicit_nonce(8);
    for (int i = 7; i >= 0; --i, sequence >>= 8)
      explicit_nonce[static_cast<std::size_t>(i)] = std::byte(sequence & 0xff);
    aad = explicit_nonce; // the sequence number, used as the explicit nonce as well
    for (int v : {int(type), 3, 3, int(length >> 8), int(length & 0xff)})
      aad.push_back(std::byte(v));
    bytes nonce = salt;
    nonce.insert(nonce.end(), explicit_nonce.begin(), explicit_nonce.end());
    return nonce;
  }

  bytes seal(std::uint64_t sequence, std::uint8_t type, const bytes &plain) const {
    bytes aad;
    auto nonce = nonce_and_aad(sequence, type, plain.size(), aad);
    bytes body(nonce.begin() + 4, nonce.end());
    bytes cipher(plain.size()), tag(16);
    mbedtls_gcm_context gcm;
    mbedtls_gcm_init(&gcm);
    REQUIRE(mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, u8(key), 128) == 0);
    REQUIRE(mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, plain.size(), u8(nonce), 12,
                                      u8(aad), aad.size(), u8(plain), u8(cipher), 16,
                                      u8(tag)) == 0);
    mbedtls_gcm_free(&gcm);
    body.insert(body.end(), cipher.begin(), cipher.end());
    body.insert(body.end(), tag.begin(), tag.end());
    bytes record{std::byte{type}, std::byte{3}, std::byte{3}, std::byte(body.size() >> 8),
                 std::byte(body.size() & 0xff)};
    record.insert(record.end(), body.begin(), body.end());
    return record;
  }

  bytes open(std::uint64_t sequence, const bytes &record) const {
    REQUIRE(record.size() >= 5 + 8 + 16);
    std::size_t length = record.size() - 5 - 8 - 16;
    bytes aad;
    auto nonce = nonce_and_aad(sequence, std::to_integer<std::uint8_t>(record[0]), length, aad);
    std::copy(record.begin() + 5, record.begin() + 13, nonce.begin() + 4);
    bytes cipher(record.begin() + 13, record.end() - 16), tag(record.end() - 16, record.end());
    bytes plain(length);
    mbedtls_gcm_context gcm;
    mbedtls_gcm_init(&gcm);
    REQUIRE(mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, u8(key), 128) == 0);
    int ret = mbedtls_gcm_auth_decrypt(&gcm, length, u8(nonce), 12, u8(aad), aad.size(), u8(tag),
                                       16, u8(cipher), u8(plain));
    mbedtls_gcm_free(&gcm);
    REQUIRE_MESSAGE(ret == 0, "the test's keys do not open the peer's record");
    return plain;
  }

  // `plain` (handshake messages) as records of one byte each, from sequence number `first`.
  bytes seal_bytewise(std::uint64_t first, const bytes &plain) const {
    bytes out;
    for (std::size_t i = 0; i < plain.size(); ++i) {
      auto record = seal(first + i, 22, bytes{plain[i]});
      out.insert(out.end(), record.begin(), record.end());
    }
    return out;
  }
};

std::vector<bytes> split_records(const bytes &wire) {
  std::vector<bytes> records;
  for (std::size_t at = 0; at + 5 <= wire.size();) {
    auto size = 5 + (std::to_integer<std::size_t>(wire[at + 3]) << 8) +
                std::to_integer<std::size_t>(wire[at + 4]);
    REQUIRE(at + size <= wire.size());
    records.emplace_back(wire.begin() + static_cast<std::ptrdiff_t>(at),
                         wire.begin() + static_cast<std::ptrdiff_t>(at + size));
    at += size;
  }
  return records;
}

bytes cat(const std::vector<bytes> &parts) {
  bytes out;
  for (const auto &p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A full TLS 1.2 handshake stepped by hand up to the client's second flight (not yet
// delivered), with the keys of both directions read from the client's key log.
struct tls12_handshake {
  fs::path key_log =
      fs::temp_directory_path() / ("tlsio-fragments-" + std::to_string(::getpid()) + ".keys");
  engine_pair p;
  std::vector<bytes> client_flight; // ClientKeyExchange, ChangeCipherSpec, Finished
  gcm_direction client_write, server_write;

  static tlsio::context client_context(const fs::path &key_log) {
    fs::remove(key_log);
    auto ctx = test_pki::shared().client_context();
    ctx.set_max_version(tlsio::tls_version::tls1_2);
    ctx.set_key_log_file(key_log);
    return ctx;
  }
  static tlsio::context server_context() {
    auto ctx = test_pki::shared().server_context();
    ctx.set_max_version(tlsio::tls_version::tls1_2);
    return ctx;
  }

  tls12_handshake() : p(client_context(key_log), server_context()) {
    REQUIRE(p.client.handshake().status == status::want_input);
    p.to_server.take_from(p.client);
    p.to_server.deliver_to(p.server, p.to_server.bytes.size());
    REQUIRE(p.server.handshake().status == status::want_input);
    p.to_client.take_from(p.server);
    bytes server_random(p.to_client.bytes.begin() + 11, p.to_client.bytes.begin() + 43);
    p.to_client.deliver_to(p.client, p.to_client.bytes.size());
    REQUIRE(p.client.handshake().status == status::want_input);
    p.to_server.take_from(p.client);
    client_flight = split_records(p.to_server.bytes);
    p.to_server.bytes.clear();
    REQUIRE(client_flight.size() == 3);
    derive_keys(server_random);
  }
  ~tls12_handshake() { fs::remove(key_log); }

  void derive_keys(const bytes &server_random) {
    std::ifstream in(key_log);
    std::string label, client_random_hex, master_hex;
    bool read = static_cast<bool>(in >> label >> client_random_hex >> master_hex);
    REQUIRE(read);
    REQUIRE(label == "CLIENT_RANDOM");
    auto seed = server_random;
    auto client_random = from_hex(client_random_hex);
    seed.insert(seed.end(), client_random.begin(), client_random.end());
    auto block = prf(from_hex(master_hex), "key expansion", seed, 40);
    client_write = {bytes(block.begin(), block.begin() + 16),
                    bytes(block.begin() + 32, block.begin() + 36)};
    server_write = {bytes(block.begin() + 16, block.begin() + 32),
                    bytes(block.begin() + 36, block.end())};
  }

  // The server's answer to the client's flight as the client sent it.
  std::vector<bytes> server_final_flight() {
    p.server.put_input(cat(client_flight));
    REQUIRE(p.server.handshake().status == status::done);
    p.to_client.take_from(p.server);
    auto records = split_records(p.to_client.bytes);
    p.to_client.bytes.clear();
    return records;
  }
};

bytes data(const std::string &s) {
  return {reinterpret_cast<const std::byte *>(s.data()),
          reinterpret_cast<const std::byte *>(s.data()) + s.size()};
}

std::string read_all(tlsio::engine &e) {
  std::string got;
  std::array<std::byte, 256> buffer;
  for (;;) {
    auto r = e.read(buffer);
    INFO("failure: ", e.failure_detail());
    REQUIRE(r.status != status::failed);
    if (r.status != status::done)
      return got;
    got.append(reinterpret_cast<const char *>(buffer.data()), r.bytes);
  }
}

} // namespace

TEST_CASE("a server takes a Finished sent in 1-byte encrypted records") {
  tls12_handshake h;
  auto finished = h.client_write.open(0, h.client_flight[2]);
  REQUIRE(finished.size() == 16);
  REQUIRE(finished[0] == std::byte{20});
  auto split = h.client_write.seal_bytewise(0, finished);

  SUBCASE("all at once") {
    h.p.server.put_input(cat({h.client_flight[0], h.client_flight[1], split}));
  }
  SUBCASE("one byte at a time") {
    auto all = cat({h.client_flight[0], h.client_flight[1], split});
    for (std::size_t i = 0; i + 1 < all.size(); ++i) {
      h.p.server.put_input({&all[i], 1});
      auto r = h.p.server.handshake();
      INFO("failure: ", h.p.server.failure_detail());
      REQUIRE(r.status == status::want_input);
    }
    h.p.server.put_input({&all.back(), 1});
  }
  auto r = h.p.server.handshake();
  INFO("failure: ", h.p.server.failure_detail());
  REQUIRE(r.status == status::done);
  h.p.to_client.take_from(h.p.server);
  h.p.to_client.deliver_to(h.p.client, h.p.to_client.bytes.size());
  REQUIRE(h.p.client.handshake().status == status::done);
  auto suite = h.p.client.cipher_suite();
  REQUIRE_MESSAGE((suite.find("AES-128-GCM") != std::string::npos ||
                   suite.find("AES128-GCM") != std::string::npos),
                  suite);

  // The client's next record is number 16: the server must have counted every fragment.
  h.p.server.put_input(h.client_write.seal(16, 23, data("after the fragments")));
  CHECK(read_all(h.p.server) == "after the fragments");
  CHECK(h.p.send(h.p.server, h.p.to_client, h.p.client, "and back") == "and back");
}

TEST_CASE("a client takes the server's Finished sent in 1-byte encrypted records") {
  tls12_handshake h;
  auto flight = h.server_final_flight();
  REQUIRE(flight.size() >= 2);
  auto finished = h.server_write.open(0, flight.back());
  REQUIRE(finished[0] == std::byte{20});
  flight.back() = h.server_write.seal_bytewise(0, finished);
  h.p.client.put_input(cat(flight));
  auto r = h.p.client.handshake();
  INFO("failure: ", h.p.client.failure_detail());
  REQUIRE(r.status == status::done);

  h.p.client.put_input(h.server_write.seal(16, 23, data("after the fragments")));
  CHECK(read_all(h.p.client) == "after the fragments");
}

TEST_CASE("a forged fragment of an encrypted Finished: bad_record_mac, nothing joined") {
  tls12_handshake h;
  auto finished = h.client_write.open(0, h.client_flight[2]);
  auto split = h.client_write.seal_bytewise(0, finished);
  auto records = split_records(split);
  records[7].back() ^= std::byte{1}; // the tag of the eighth fragment
  h.p.server.put_input(cat({h.client_flight[0], h.client_flight[1], cat(records)}));
  auto r = h.p.server.handshake();
  INFO("failure: ", h.p.server.failure_detail());
  REQUIRE(r.status == status::failed);
  auto out = h.p.server.pending_output();
  // The server has not changed its cipher spec: its alert goes in the clear.
  CHECK(bytes(out.begin(), out.end()) == bytes{std::byte{21}, std::byte{3}, std::byte{3},
                                               std::byte{0}, std::byte{2}, std::byte{2},
                                               std::byte{20}});
}

// Only Finished comes after ChangeCipherSpec; a longer message in fragments is not joined.
TEST_CASE("a 65-byte handshake message in 1-byte encrypted records is refused with an alert") {
  tls12_handshake h;
  bytes message{std::byte{20}, std::byte{0}, std::byte{0}, std::byte{61}};
  message.resize(65, std::byte{0});
  auto split = h.client_write.seal_bytewise(0, message);
  h.p.server.put_input(cat({h.client_flight[0], h.client_flight[1], split}));
  auto r = h.p.server.handshake();
  INFO("failure: ", h.p.server.failure_detail());
  CHECK(r.status == status::failed);
  auto out = h.p.server.pending_output();
  REQUIRE(out.size() >= 7);
  CHECK(out[0] == std::byte{21});
  if (!on_openssl())
    CHECK(h.p.server.failure_detail().find("does not join") != std::string::npos);
}

// --- Review of the join (branch review-fragments): a peer that tries to break it ----------

namespace {

struct key_pair {
  gcm_direction client_write, server_write;
};

key_pair keys_from(const bytes &master, const bytes &server_random, const bytes &client_random) {
  auto seed = server_random;
  seed.insert(seed.end(), client_random.begin(), client_random.end());
  auto block = prf(master, "key expansion", seed, 40);
  return {{bytes(block.begin(), block.begin() + 16), bytes(block.begin() + 32, block.begin() + 36)},
          {bytes(block.begin() + 16, block.begin() + 32), bytes(block.begin() + 36, block.end())}};
}

// An abbreviated handshake (RFC 5246 §7.3, resumption by ticket), stepped by hand: the
// server has answered the ClientHello with ServerHello, [NewSessionTicket,]
// ChangeCipherSpec and Finished, not yet delivered. The master secret is the first
// connection's, from the key log.
struct tls12_resumption {
  fs::path key_log = fs::temp_directory_path() /
                     ("tlsio-fragments-resume-" + std::to_string(::getpid()) + ".keys");
  tlsio::context client_ctx = tls12_handshake::client_context(key_log);
  tlsio::context server_ctx = [] {
    auto ctx = tls12_handshake::server_context();
    ctx.enable_session_tickets();
    return ctx;
  }();
  std::unique_ptr<engine_pair> p;
  std::vector<bytes> server_flight;
  gcm_direction client_write, server_write;

  tls12_resumption() {
    std::optional<tlsio::session> saved;
    {
      engine_pair first(client_ctx, server_ctx);
      auto o = first.handshake();
      REQUIRE(o.client.status == status::done);
      REQUIRE(o.server.status == status::done);
      saved = first.client_session();
      REQUIRE(saved);
    }
    std::ifstream in(key_log);
    std::string label, client_random_hex, master_hex;
    bool read = static_cast<bool>(in >> label >> client_random_hex >> master_hex);
    REQUIRE(read);
    p = std::make_unique<engine_pair>(client_ctx, server_ctx);
    p->client.set_session(*saved);
    REQUIRE(p->client.handshake().status == status::want_input);
    p->to_server.take_from(p->client);
    bytes client_random(p->to_server.bytes.begin() + 11, p->to_server.bytes.begin() + 43);
    p->to_server.deliver_to(p->server, p->to_server.bytes.size());
    REQUIRE(p->server.handshake().status == status::want_input);
    p->to_client.take_from(p->server);
    bytes server_random(p->to_client.bytes.begin() + 11, p->to_client.bytes.begin() + 43);
    server_flight = split_records(p->to_client.bytes);
    p->to_client.bytes.clear();
    REQUIRE(server_flight.size() >= 3);
    REQUIRE(server_flight[server_flight.size() - 2][0] == std::byte{20}); // ChangeCipherSpec
    auto k = keys_from(from_hex(master_hex), server_random, client_random);
    client_write = k.client_write;
    server_write = k.server_write;
  }
  ~tls12_resumption() { fs::remove(key_log); }
};

bytes slice(const bytes &b, std::size_t from, std::size_t to) {
  return bytes(b.begin() + static_cast<std::ptrdiff_t>(from),
               b.begin() + static_cast<std::ptrdiff_t>(to));
}

const bytes hello_request{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}};

} // namespace

TEST_CASE("review: resumption, a client takes the server's Finished in 1-byte records before "
          "sending its own") {
  tls12_resumption h;
  auto &p = *h.p;
  auto finished = h.server_write.open(0, h.server_flight.back());
  REQUIRE(finished.size() == 16);
  h.server_flight.back() = h.server_write.seal_bytewise(0, finished);
  auto all = cat(h.server_flight);
  SUBCASE("all at once") { p.client.put_input(all); }
  SUBCASE("one byte at a time") {
    for (std::size_t i = 0; i + 1 < all.size(); ++i) {
      p.client.put_input({&all[i], 1});
      auto r = p.client.handshake();
      INFO("failure: ", p.client.failure_detail());
      REQUIRE(r.status == status::want_input);
    }
    p.client.put_input({&all.back(), 1});
  }
  auto r = p.client.handshake();
  INFO("client failure: ", p.client.failure_detail());
  REQUIRE(r.status == status::done);
  CHECK(p.client.resumed());
  // The client's CCS and Finished: the server checks that the client hashed the joined
  // Finished as the server sent it.
  p.to_server.take_from(p.client);
  p.to_server.deliver_to(p.server, p.to_server.bytes.size());
  auto s = p.server.handshake();
  INFO("server failure: ", p.server.failure_detail());
  REQUIRE(s.status == status::done);
  p.client.put_input(h.server_write.seal(16, 23, data("after the fragments")));
  CHECK(read_all(p.client) == "after the fragments");
  CHECK(p.send(p.client, p.to_server, p.server, "and back") == "and back");
}

TEST_CASE("review: resumption, a server takes the client's Finished in 1-byte records") {
  tls12_resumption h;
  auto &p = *h.p;
  p.client.put_input(cat(h.server_flight));
  REQUIRE(p.client.handshake().status == status::done);
  p.to_server.take_from(p.client);
  auto flight = split_records(p.to_server.bytes);
  p.to_server.bytes.clear();
  REQUIRE(flight.size() == 2);
  auto finished = h.client_write.open(0, flight[1]);
  p.server.put_input(cat({flight[0], h.client_write.seal_bytewise(0, finished)}));
  auto r = p.server.handshake();
  INFO("server failure: ", p.server.failure_detail());
  REQUIRE(r.status == status::done);
  p.server.put_input(h.client_write.seal(16, 23, data("after the fragments")));
  CHECK(read_all(p.server) == "after the fragments");
  CHECK(p.send(p.server, p.to_client, p.client, "and back") == "and back");
}

TEST_CASE("review: a replayed fragment of the Finished is refused with bad_record_mac") {
  tls12_handshake h;
  auto finished = h.client_write.open(0, h.client_flight[2]);
  auto records = split_records(h.client_write.seal_bytewise(0, finished));
  SUBCASE("repeated") { records.insert(records.begin() + 5, records[4]); }
  SUBCASE("swapped") { std::swap(records[3], records[4]); }
  SUBCASE("the first one dropped") { records.erase(records.begin()); }
  h.p.server.put_input(cat({h.client_flight[0], h.client_flight[1], cat(records)}));
  auto r = h.p.server.handshake();
  INFO("failure: ", h.p.server.failure_detail());
  REQUIRE(r.status == status::failed);
  auto out = h.p.server.pending_output();
  REQUIRE(out.size() == 7);
  CHECK(out[0] == std::byte{21});
  CHECK(out[6] == std::byte{20}); // bad_record_mac
}

// The last fragment holds the end of the Finished and a whole HelloRequest: the join hands
// Mbed TLS both (authenticated), as one record that held both would be.
TEST_CASE("review: a client takes a split Finished whose last fragment also holds a "
          "HelloRequest") {
  tls12_handshake h;
  auto flight = h.server_final_flight();
  auto finished = h.server_write.open(0, flight.back());
  auto tail = slice(finished, 8, 16);
  tail.insert(tail.end(), hello_request.begin(), hello_request.end());
  flight.back() =
      cat({h.server_write.seal(0, 22, slice(finished, 0, 8)), h.server_write.seal(1, 22, tail)});
  h.p.client.put_input(cat(flight));
  auto r = h.p.client.handshake();
  INFO("failure: ", h.p.client.failure_detail());
  REQUIRE(r.status == status::done);
  h.p.client.put_input(h.server_write.seal(2, 23, data("after the fragments")));
  CHECK(read_all(h.p.client) == "after the fragments");
}

// A whole Finished, then a HelloRequest split in two encrypted records: the handshake is
// over with the Finished, whatever Mbed TLS later makes of the HelloRequest.
// REVIEW (failed before 5ce1fcb, Mbed TLS): join_encrypted_input() ran before every step after the
// peer's CCS, also before steps that read nothing (FLUSH_BUFFERS here; CLIENT_CHANGE_CIPHER_SPEC
// when resuming), joins the HelloRequest, and handshake_step() then ends the handshake with
// MBEDTLS_ERR_SSL_INTERNAL_ERROR ("internal error", alert internal_error).
TEST_CASE("review: a split HelloRequest right after the server's whole Finished does not fail "
          "the handshake") {
  tls12_handshake h;
  auto flight = h.server_final_flight();
  flight.push_back(h.server_write.seal(1, 22, slice(hello_request, 0, 2)));
  flight.push_back(h.server_write.seal(2, 22, slice(hello_request, 2, 4)));
  h.p.client.put_input(cat(flight));
  auto r = h.p.client.handshake();
  INFO("failure: ", h.p.client.failure_detail());
  CHECK(r.status == status::done);
}

TEST_CASE("review: resumption, a split HelloRequest right after the server's whole Finished "
          "does not fail the handshake") {
  tls12_resumption h;
  auto &p = *h.p;
  h.server_flight.push_back(h.server_write.seal(1, 22, slice(hello_request, 0, 2)));
  h.server_flight.push_back(h.server_write.seal(2, 22, slice(hello_request, 2, 4)));
  p.client.put_input(cat(h.server_flight));
  auto r = p.client.handshake();
  INFO("failure: ", p.client.failure_detail());
  CHECK(r.status == status::done);
}

// The last fragment of the Finished holds the first half of a HelloRequest, the next record
// the rest.
// REVIEW (failed before 5ce1fcb, Mbed TLS): the Finished is joined and verified, but before
// FLUSH_BUFFERS the joiner took the next record for the start of a new split message and
// answered want_input: the handshake hung until more input comes (or the timeout).
TEST_CASE("review: a split Finished whose last fragment starts the next message") {
  tls12_handshake h;
  auto flight = h.server_final_flight();
  auto finished = h.server_write.open(0, flight.back());
  auto tail = slice(finished, 8, 16);
  tail.insert(tail.end(), hello_request.begin(), hello_request.begin() + 2);
  flight.back() =
      cat({h.server_write.seal(0, 22, slice(finished, 0, 8)), h.server_write.seal(1, 22, tail),
           h.server_write.seal(2, 22, slice(hello_request, 2, 4))});
  h.p.client.put_input(cat(flight));
  auto r = h.p.client.handshake();
  INFO("failure: ", h.p.client.failure_detail());
  CHECK(r.status == status::done);
}

// After a fragment, a record header no TLS record can have: the engine must not wait for
// more input (Mbed TLS alone would have failed on the fragment at once).
// REVIEW (failed before 03fadc7, Mbed TLS): join_encrypted_handshake() treated
// record_state::invalid like partial (outcome::incomplete), so the engine wanted input until the
// timeout.
TEST_CASE("review: a fragment of the Finished followed by an impossible record header fails "
          "at once") {
  tls12_handshake h;
  auto finished = h.client_write.open(0, h.client_flight[2]);
  bytes junk;
  SUBCASE("too long") {
    junk = {std::byte{22}, std::byte{3}, std::byte{3}, std::byte{0xff}, std::byte{0xff}};
  }
  SUBCASE("not TLS") { junk = data("GET / HTTP/1.1\r\n"); }
  h.p.server.put_input(cat({h.client_flight[0], h.client_flight[1],
                            h.client_write.seal(0, 22, slice(finished, 0, 8)), junk}));
  auto r = h.p.server.handshake();
  INFO("failure: ", h.p.server.failure_detail());
  CHECK(r.status == status::failed);
}

TEST_CASE("review: a fragment of the Finished followed by a fatal alert") {
  tls12_handshake h;
  auto finished = h.client_write.open(0, h.client_flight[2]);
  h.p.server.put_input(cat({h.client_flight[0], h.client_flight[1],
                            h.client_write.seal(0, 22, slice(finished, 0, 8)),
                            h.client_write.seal(1, 21, bytes{std::byte{2}, std::byte{40}})}));
  auto r = h.p.server.handshake();
  INFO("failure: ", h.p.server.failure_detail());
  CHECK(r.status == status::failed);
  // REVIEW (failed before the fixes after review, Mbed TLS): the detail says this Finished of 16
  // bytes is not a Finished of up to 64 bytes; the peer's alert is not mentioned.
  CHECK(h.p.server.failure_detail().find("it is not a Finished") == std::string::npos);
}

TEST_CASE("review: a fragment of the Finished followed by application data or a second CCS") {
  tls12_handshake h;
  auto finished = h.client_write.open(0, h.client_flight[2]);
  bytes next;
  SUBCASE("application data") { next = h.client_write.seal(1, 23, data("early")); }
  SUBCASE("ChangeCipherSpec") { next = h.client_write.seal(1, 20, bytes{std::byte{1}}); }
  SUBCASE("plaintext ChangeCipherSpec") { next = h.client_flight[1]; }
  h.p.server.put_input(cat({h.client_flight[0], h.client_flight[1],
                            h.client_write.seal(0, 22, slice(finished, 0, 8)), next,
                            h.client_write.seal(2, 22, slice(finished, 8, 16))}));
  auto r = h.p.server.handshake();
  INFO("failure: ", h.p.server.failure_detail());
  CHECK(r.status == status::failed);
  // REVIEW (failed before the fixes after review, Mbed TLS): "it is not a Finished of up to 64
  // bytes", of a Finished of 16 bytes cut by another record.
  CHECK(h.p.server.failure_detail().find("it is not a Finished") == std::string::npos);
  // REVIEW (failed before the fixes after review, OpenSSL, plaintext ChangeCipherSpec): OpenSSL's
  // ERR_R_INTERNAL_ERROR (0xC0103, a common reason with flags) is above SSL_AD_REASON_OFFSET, so
  // the error category reads it as an alert from the peer: "the peer aborted the handshake with a
  // fatal alert: unknown alert". Nothing came from the peer.
  CHECK(h.p.server.failure_detail().find("unknown alert") == std::string::npos);
}

TEST_CASE("review: an empty encrypted record among the fragments of the Finished") {
  tls12_handshake h;
  auto finished = h.client_write.open(0, h.client_flight[2]);
  h.p.server.put_input(cat(
      {h.client_flight[0], h.client_flight[1], h.client_write.seal(0, 22, slice(finished, 0, 8)),
       h.client_write.seal(1, 22, bytes{}), h.client_write.seal(2, 22, slice(finished, 8, 16))}));
  auto r = h.p.server.handshake();
  INFO("failure: ", h.p.server.failure_detail());
  // RFC 5246 §6.2.1 forbids sending them; OpenSSL takes them, Mbed TLS refuses them.
  if (!on_openssl()) {
    CHECK(r.status == status::failed);
    // REVIEW (failed before the fixes after review): the detail blames the length of a 16-byte
    // Finished, not the empty record.
    CHECK(h.p.server.failure_detail().find("it is not a Finished") == std::string::npos);
  }
}

// The first fragment is whole header only: the plaintext CCS that a man in the middle adds
// after it must not be joined or read as protected.
TEST_CASE("review: plaintext handshake bytes among encrypted fragments are never joined") {
  tls12_handshake h;
  auto finished = h.client_write.open(0, h.client_flight[2]);
  bytes plain_rest{std::byte{22}, std::byte{3}, std::byte{3}, std::byte{0}, std::byte{12}};
  auto rest = slice(finished, 4, 16);
  plain_rest.insert(plain_rest.end(), rest.begin(), rest.end());
  h.p.server.put_input(cat({h.client_flight[0], h.client_flight[1],
                            h.client_write.seal(0, 22, slice(finished, 0, 4)), plain_rest}));
  auto r = h.p.server.handshake();
  INFO("failure: ", h.p.server.failure_detail());
  CHECK(r.status == status::failed);
}

// Work per byte: 63 one-byte fragments, then a long last fragment delivered a byte at a
// time; each call decrypts the fragments again.
// REVIEW: was ~15x the work of the same bytes without fragments; fragments already
// decrypted are now decrypted again only when another record is whole.
TEST_CASE("review: cost of a 64-byte message whose last fragment trickles in") {
  tls12_handshake h;
  bytes message{std::byte{20}, std::byte{0}, std::byte{0}, std::byte{60}};
  message.resize(64, std::byte{0});
  bytes head, last;
  std::string what;
  SUBCASE("after 63 one-byte fragments") {
    what = "after 63 fragments";
    head = h.client_write.seal_bytewise(0, slice(message, 0, 63));
    auto last_plain = slice(message, 63, 64);
    last_plain.resize(4000, std::byte{0});
    last = h.client_write.seal(63, 22, last_plain);
  }
  SUBCASE("alone (the cost without the join)") {
    what = "alone";
    message.resize(4000, std::byte{0});
    last = h.client_write.seal(0, 22, message);
  }
  h.p.server.put_input(cat({h.client_flight[0], h.client_flight[1], head}));
  REQUIRE(h.p.server.handshake().status == status::want_input);
  auto start = std::chrono::steady_clock::now();
  tlsio::step_result r{};
  for (std::size_t i = 0; i < last.size(); ++i) {
    h.p.server.put_input({&last[i], 1});
    r = h.p.server.handshake();
    if (r.status != status::want_input)
      break;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  MESSAGE("4000 bytes trickled ", what, ": ", ms, " ms; ", h.p.server.failure_detail());
  CHECK(r.status == status::failed);
}

TEST_CASE("review: a joined Finished that does not verify: decrypt_error, and nothing after") {
  tls12_handshake h;
  auto finished = h.client_write.open(0, h.client_flight[2]);
  finished.back() ^= std::byte{1};
  h.p.server.put_input(
      cat({h.client_flight[0], h.client_flight[1], h.client_write.seal_bytewise(0, finished),
           h.client_write.seal(16, 23, data("not for you"))}));
  auto r = h.p.server.handshake();
  INFO("failure: ", h.p.server.failure_detail());
  REQUIRE(r.status == status::failed);
  auto out = h.p.server.pending_output();
  REQUIRE(out.size() == 7);
  CHECK(out[0] == std::byte{21});
  CHECK(out[6] == std::byte{51}); // decrypt_error
  std::array<std::byte, 64> buffer;
  CHECK(h.p.server.read(buffer).status == status::failed);
  CHECK(h.p.server.handshake().status == status::failed);
}

namespace {

// One direction of a ChaCha20-Poly1305 TLS 1.2 connection (RFC 7905 §2).
struct chacha_direction {
  bytes key, iv;

  bytes nonce_and_aad(std::uint64_t sequence, std::uint8_t type, std::size_t length,
                      bytes &aad) const {
    aad.assign(8, std::byte{0});
    for (int i = 7; i >= 0; --i, sequence >>= 8)
      aad[static_cast<std::size_t>(i)] = std::byte(sequence & 0xff);
    bytes nonce = iv;
    for (std::size_t i = 0; i < 8; ++i)
      nonce[4 + i] ^= aad[i];
    for (int v : {int(type), 3, 3, int(length >> 8), int(length & 0xff)})
      aad.push_back(std::byte(v));
    return nonce;
  }

  bytes seal(std::uint64_t sequence, std::uint8_t type, const bytes &plain) const {
    bytes aad;
    auto nonce = nonce_and_aad(sequence, type, plain.size(), aad);
    bytes body(plain.size() + 16);
    mbedtls_chachapoly_context ctx;
    mbedtls_chachapoly_init(&ctx);
    REQUIRE(mbedtls_chachapoly_setkey(&ctx, u8(key)) == 0);
    REQUIRE(mbedtls_chachapoly_encrypt_and_tag(&ctx, plain.size(), u8(nonce), u8(aad), aad.size(),
                                               u8(plain), u8(body), u8(body) + plain.size()) == 0);
    mbedtls_chachapoly_free(&ctx);
    bytes record{std::byte{type}, std::byte{3}, std::byte{3}, std::byte(body.size() >> 8),
                 std::byte(body.size() & 0xff)};
    record.insert(record.end(), body.begin(), body.end());
    return record;
  }

  bytes open(std::uint64_t sequence, const bytes &record) const {
    REQUIRE(record.size() >= 5 + 16);
    std::size_t length = record.size() - 5 - 16;
    bytes aad;
    auto nonce = nonce_and_aad(sequence, std::to_integer<std::uint8_t>(record[0]), length, aad);
    bytes plain(length);
    mbedtls_chachapoly_context ctx;
    mbedtls_chachapoly_init(&ctx);
    REQUIRE(mbedtls_chachapoly_setkey(&ctx, u8(key)) == 0);
    int ret = mbedtls_chachapoly_auth_decrypt(&ctx, length, u8(nonce), u8(aad), aad.size(),
                                              u8(record) + 5 + length, u8(record) + 5, u8(plain));
    mbedtls_chachapoly_free(&ctx);
    REQUIRE_MESSAGE(ret == 0, "the test's keys do not open the peer's record");
    return plain;
  }
};

std::size_t be(const bytes &b, std::size_t at, std::size_t n) {
  std::size_t v = 0;
  for (std::size_t i = 0; i < n; ++i)
    v = (v << 8) | std::to_integer<std::size_t>(b[at + i]);
  return v;
}

// The ClientHello record with every cipher suite but the renegotiation SCSV made a
// ChaCha20-Poly1305 one, and extended_master_secret renamed to an unknown extension so
// that both sides derive the master secret from the randoms alone (RFC 5246 §8.1) although
// they hash different ClientHellos.
bytes chacha_only(bytes hello) {
  std::size_t at = 5 + 4 + 2 + 32;
  at += 1 + be(hello, at, 1); // session id
  std::size_t suites = be(hello, at, 2);
  at += 2;
  for (std::size_t i = 0; i < suites; i += 2) {
    if (be(hello, at + i, 2) == 0x00ff)
      continue;
    hello[at + i] = std::byte{0xcc};
    hello[at + i + 1] = (i / 2) % 2 ? std::byte{0xa8} : std::byte{0xa9};
  }
  at += suites;
  at += 1 + be(hello, at, 1); // compression methods
  std::size_t end = at + 2 + be(hello, at, 2);
  for (at += 2; at + 4 <= end; at += 4 + be(hello, at + 2, 2))
    if (be(hello, at, 2) == 0x0017)
      hello[at] = hello[at + 1] = std::byte{0xfa};
  return hello;
}

bytes handshake_bodies(const std::vector<bytes> &records) {
  bytes out;
  for (const auto &r : records)
    if (r[0] == std::byte{22})
      out.insert(out.end(), r.begin() + 5, r.end());
  return out;
}

} // namespace

// The same join under ChaCha20-Poly1305 (nonce from the sequence number, no explicit
// nonce in the record): the client is made to offer ChaCha20-Poly1305 only, and the test
// writes the client's Finished itself, over the ClientHello the server saw.
TEST_CASE("review: a server takes a Finished in 1-byte ChaCha20-Poly1305 records") {
  fs::path key_log = fs::temp_directory_path() /
                     ("tlsio-fragments-chacha-" + std::to_string(::getpid()) + ".keys");
  engine_pair p(tls12_handshake::client_context(key_log), tls12_handshake::server_context());
  REQUIRE(p.client.handshake().status == status::want_input);
  p.to_server.take_from(p.client);
  auto hello = chacha_only(p.to_server.bytes);
  p.to_server.bytes.clear();
  p.server.put_input(hello);
  REQUIRE(p.server.handshake().status == status::want_input);
  p.to_client.take_from(p.server);
  auto server_flight = split_records(p.to_client.bytes);
  bytes server_random(p.to_client.bytes.begin() + 11, p.to_client.bytes.begin() + 43);
  p.to_client.deliver_to(p.client, p.to_client.bytes.size());
  auto c = p.client.handshake();
  INFO("client: ", p.client.failure_detail());
  REQUIRE(c.status == status::want_input);
  p.to_server.take_from(p.client);
  auto client_flight = split_records(p.to_server.bytes);
  p.to_server.bytes.clear();
  REQUIRE(client_flight.size() == 3);

  std::ifstream in(key_log);
  std::string label, client_random_hex, master_hex;
  bool read = static_cast<bool>(in >> label >> client_random_hex >> master_hex);
  in.close();
  fs::remove(key_log);
  REQUIRE(read);
  auto master = from_hex(master_hex);
  auto seed = server_random;
  auto client_random = from_hex(client_random_hex);
  seed.insert(seed.end(), client_random.begin(), client_random.end());
  auto block = prf(master, "key expansion", seed, 88);
  chacha_direction client_write{slice(block, 0, 32), slice(block, 64, 76)};
  chacha_direction server_write{slice(block, 32, 64), slice(block, 76, 88)};

  auto transcript = handshake_bodies({hello});
  auto more = handshake_bodies(server_flight);
  transcript.insert(transcript.end(), more.begin(), more.end());
  more = handshake_bodies({client_flight[0]});
  transcript.insert(transcript.end(), more.begin(), more.end());
  bytes hash(32);
  REQUIRE(mbedtls_sha256_ret(u8(transcript), transcript.size(), u8(hash), 0) == 0);
  bytes finished{std::byte{20}, std::byte{0}, std::byte{0}, std::byte{12}};
  auto verify_data = prf(master, "client finished", hash, 12);
  finished.insert(finished.end(), verify_data.begin(), verify_data.end());

  p.server.put_input(cat({client_flight[0], client_flight[1], [&] {
                            bytes out;
                            for (std::size_t i = 0; i < finished.size(); ++i)
                              out = cat({out, client_write.seal(i, 22, bytes{finished[i]})});
                            return out;
                          }()}));
  auto r = p.server.handshake();
  INFO("server: ", p.server.failure_detail());
  REQUIRE(r.status == status::done);
  auto suite = p.server.cipher_suite();
  CHECK_MESSAGE((suite.find("CHACHA20") != std::string::npos), suite);
  p.to_client.take_from(p.server);
  auto answer = split_records(p.to_client.bytes);
  REQUIRE(answer.size() == 2);
  CHECK(server_write.open(0, answer[1])[0] == std::byte{20});
  p.server.put_input(client_write.seal(16, 23, data("after the fragments")));
  CHECK(read_all(p.server) == "after the fragments");
}

TEST_CASE("review: the peer closes the connection after a fragment of its Finished") {
  tls12_handshake h;
  auto finished = h.client_write.open(0, h.client_flight[2]);
  h.p.server.put_input(cat(
      {h.client_flight[0], h.client_flight[1], h.client_write.seal(0, 22, slice(finished, 0, 8))}));
  REQUIRE(h.p.server.handshake().status == status::want_input);
  h.p.server.put_eof();
  auto r = h.p.server.handshake();
  INFO("failure: ", h.p.server.failure_detail());
  CHECK(r.status == status::failed);
  // REVIEW (failed before the fixes after review, Mbed TLS): at the end of input the joiner lets
  // Mbed TLS read the lone fragment, and the engine reports "it is not a Finished of up to 64
  // bytes" where OpenSSL says "the peer closed the connection during the TLS handshake".
  CHECK(r.error == tlsio::error::stream_truncated);
}

// The last fragment may hold 2^14 bytes of its own (the end of the Finished and more
// handshake messages): joined, the record is longer than a plaintext record may be.
TEST_CASE("review: a split Finished whose last fragment is a full-size record") {
  tls12_handshake h;
  auto finished = h.client_write.open(0, h.client_flight[2]);
  auto tail = slice(finished, 8, 16);
  while (tail.size() + 4 <= 16384)
    tail.insert(tail.end(), hello_request.begin(), hello_request.end());
  h.p.server.put_input(
      cat({h.client_flight[0], h.client_flight[1],
           h.client_write.seal(0, 22, slice(finished, 0, 8)), h.client_write.seal(1, 22, tail)}));
  auto r = h.p.server.handshake();
  // REVIEW (low, not asserted): OpenSSL takes it; Mbed TLS fails with "the peer sent data
  // that is not a valid TLS record", though each record was valid (only the joined one,
  // 8 + 16384 bytes, is too long). No peer in the wild does this.
  MESSAGE("status ", int(r.status), "; failure: ", h.p.server.failure_detail());
  CHECK(r.status != status::want_input);
}
