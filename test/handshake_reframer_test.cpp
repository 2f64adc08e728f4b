// The handshake re-framer alone: fragments in, one record per whole message out.
#include "handshake_reframer.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <vector>

using tlsio::detail::handshake_carry;
using tlsio::detail::reframe_error;
using tlsio::detail::reframe_handshake;
using bytes = std::vector<std::byte>;

namespace {

// A handshake message of `size` bytes in all: type, length, then a counting body.
bytes message(std::size_t size, unsigned char type = 11) {
  std::size_t body = size - 4;
  bytes m{std::byte{type}, std::byte(body >> 16), std::byte((body >> 8) & 0xff),
          std::byte(body & 0xff)};
  for (std::size_t i = 0; i < body; ++i)
    m.push_back(std::byte(i * 7 & 0xff));
  return m;
}

bytes record(const bytes &fragment, unsigned char type = 22) {
  bytes r{std::byte{type}, std::byte{3}, std::byte{3}, std::byte(fragment.size() >> 8),
          std::byte(fragment.size() & 0xff)};
  r.insert(r.end(), fragment.begin(), fragment.end());
  return r;
}

// The messages in `data` cut into records of at most `size` bytes each.
bytes fragmented(const bytes &data, std::size_t size) {
  bytes out;
  for (std::size_t at = 0; at < data.size(); at += size) {
    auto r =
        record(bytes(data.begin() + static_cast<std::ptrdiff_t>(at),
                     data.begin() + static_cast<std::ptrdiff_t>(std::min(data.size(), at + size))));
    out.insert(out.end(), r.begin(), r.end());
  }
  return out;
}

bytes join(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto &p : parts)
    out.insert(out.end(), p.begin(), p.end());
  return out;
}

} // namespace

TEST_CASE("a message in 1-byte records comes out whole, fed one record at a time") {
  auto m = message(300);
  auto input = fragmented(m, 1);
  handshake_carry carry;
  bytes out;
  for (std::size_t at = 0; at < input.size(); at += 6) {
    auto r = reframe_handshake(std::move(carry), std::span(input).subspan(at, 6));
    REQUIRE(r.error == reframe_error::none);
    CHECK(r.consumed == 6);
    out.insert(out.end(), r.records.begin(), r.records.end());
    carry = std::move(r.carry);
  }
  CHECK(out == record(m));
  CHECK(carry.bytes.empty());
}

TEST_CASE("a message spanning many records, and a partial record after them") {
  auto m = message(16384); // the longest that one record carries
  auto whole = fragmented(m, 512);
  auto input = join({whole, bytes(whole.begin(), whole.begin() + 3)});
  auto r = reframe_handshake({}, input);
  CHECK(r.error == reframe_error::none);
  CHECK(r.consumed == whole.size());
  CHECK(r.records == record(m));
}

TEST_CASE("several messages in one record come out one record each") {
  auto a = message(40, 2), b = message(1000, 11), c = message(4, 14);
  auto r = reframe_handshake({}, record(join({a, b, c})));
  CHECK(r.error == reframe_error::none);
  CHECK(r.records == join({record(a), record(b), record(c)}));
  CHECK(r.carry.bytes.empty());
}

TEST_CASE("a message ending inside a record: the rest waits in the carry") {
  auto a = message(40), b = message(100);
  auto ab = join({a, b});
  auto input = join({record(bytes(ab.begin(), ab.begin() + 60)), record(bytes{std::byte{1}}, 20)});
  auto r = reframe_handshake({}, input);
  CHECK(r.records == record(a));
  CHECK(r.carry.bytes == bytes(b.begin(), b.begin() + 20));
  CHECK(r.consumed == 65); // stops at the ChangeCipherSpec record
  auto rest = record(bytes(ab.begin() + 60, ab.end()));
  auto r2 = reframe_handshake(std::move(r.carry), rest);
  CHECK(r2.records == record(b));
}

TEST_CASE("a 16 385-byte message is refused as soon as its header is in") {
  auto m = message(16385);
  auto r = reframe_handshake({}, fragmented(bytes(m.begin(), m.begin() + 10), 2));
  CHECK(r.error == reframe_error::message_too_long);
  CHECK(r.records.empty());
}

TEST_CASE("an empty handshake record is refused; other records are left alone") {
  CHECK(reframe_handshake({}, record(bytes{})).error == reframe_error::empty_record);
  auto ccs = record(bytes{std::byte{1}}, 20);
  auto r = reframe_handshake({}, ccs);
  CHECK(r.consumed == 0);
  CHECK(r.records.empty());
}

TEST_CASE("an alert among the fragments goes on in its place, ahead of the unfinished message") {
  auto a = message(100);
  bytes alert{std::byte{1}, std::byte{90}}; // warning, user_canceled
  auto input = join({record(bytes(a.begin(), a.begin() + 30)), record(alert, 21),
                     record(bytes(a.begin() + 30, a.end()))});
  auto r = reframe_handshake({}, input);
  CHECK(r.error == reframe_error::none);
  CHECK(r.records == join({record(alert, 21), record(a)}));
  CHECK(r.consumed == input.size());
  CHECK(r.carry.bytes.empty());
}
