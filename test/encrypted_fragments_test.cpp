// A peer that splits its Finished across encrypted records, down to one byte a record
// (RFC 5246 §6.2.1 lets it; tlsfuzzer's record-layer-fragmentation does it). The test plays
// that peer: it takes the keys from the key log, re-seals the real Finished in 1-byte
// AES-128-GCM records (RFC 5288), and then sends application data under the sequence number
// that follows them, so a receiver that counted the records wrong fails to read it.
#include "engine_pair.hpp"

#include <tlsio/error.hpp>

#include <doctest/doctest.h>
#include <mbedtls/gcm.h>
#include <mbedtls/md.h>

#include <unistd.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
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
    CHECK(h.p.server.failure_detail().find("split a handshake message") != std::string::npos);
}
