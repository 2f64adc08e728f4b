// libFuzzer target: the handshake re-framer (src/handshake_reframer.cpp) on fuzzed records.
//
// Input: [chunk][records...]. The records are fed in pieces of 1 + chunk bytes (more when
// a piece holds no whole record), the carry passed from call to call, as the engine does.
// Beyond "no crash": what comes out is exactly what went in, re-cut. The bodies of the
// handshake records taken, joined, equal the messages of the handshake records given out
// followed by the final carry; every such record out holds one whole message, no longer than
// max_handshake_message; the alert records taken come out unchanged and in order; only whole
// records are taken.
#include "fuzz_support.hpp"
#include "handshake_reframer.hpp"
#include "record.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace {

using bytes = std::vector<std::byte>;
namespace d = tlsio::detail;
using tlsio_fuzz::require;

std::size_t number(std::span<const std::byte> field) {
  std::size_t n = 0;
  for (auto b : field)
    n = (n << 8) | std::to_integer<std::size_t>(b);
  return n;
}

constexpr std::byte handshake{22}, alert{21};

// Appends the bodies of the handshake records in `taken` to `out` and its alert records to
// `alerts`, checking they are whole records of these two types.
void append_bodies(std::span<const std::byte> taken, bytes &out, bytes &alerts) {
  while (!taken.empty()) {
    auto r = d::first_record(taken);
    require(r.state == d::record_state::complete && (taken[0] == handshake || taken[0] == alert),
            "took something other than whole handshake and alert records");
    if (taken[0] == alert)
      alerts.insert(alerts.end(), taken.begin(), taken.begin() + r.size);
    else
      out.insert(out.end(), taken.begin() + d::record_header_size, taken.begin() + r.size);
    taken = taken.subspan(r.size);
  }
}

// Appends the messages of the handshake records given out to `out`, checking there is one
// whole message each, and the alert records to `alerts`.
void append_messages(std::span<const std::byte> records, bytes &out, bytes &alerts) {
  while (!records.empty()) {
    require(records.size() >= d::record_header_size, "a record cut short");
    auto size = number(records.subspan(3, 2));
    require(records.size() >= d::record_header_size + size, "a record cut short");
    if (records[0] == alert) {
      alerts.insert(alerts.end(), records.begin(),
                    records.begin() + static_cast<std::ptrdiff_t>(d::record_header_size + size));
      records = records.subspan(d::record_header_size + size);
      continue;
    }
    require(records[0] == handshake, "gave out a record of another type");
    auto message = records.subspan(d::record_header_size, size);
    require(message.size() >= d::handshake_header_size &&
                d::handshake_header_size + number(message.subspan(1, 3)) == size,
            "a record that is not one whole message");
    require(size <= d::max_handshake_message, "a message longer than one record takes");
    out.insert(out.end(), message.begin(), message.end());
    records = records.subspan(d::record_header_size + size);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  if (size < 1)
    return 0;
  std::size_t chunk = 1 + data[0];
  std::span<const std::byte> input(reinterpret_cast<const std::byte *>(data) + 1, size - 1);
  bytes taken_bodies, given_messages, taken_alerts, given_alerts;
  d::handshake_carry carry;
  std::size_t at = 0, end = 0;
  while (end < input.size()) {
    end = std::min(input.size(), std::max(end, at) + chunk);
    auto r = d::reframe_handshake(std::move(carry), input.subspan(at, end - at));
    require(r.consumed <= end - at, "took more than it was given");
    append_bodies(input.subspan(at, r.consumed), taken_bodies, taken_alerts);
    append_messages(r.records, given_messages, given_alerts);
    carry = std::move(r.carry);
    at += r.consumed;
    if (r.error != d::reframe_error::none)
      return 0;
  }
  require(given_alerts == taken_alerts, "the alerts out are not the alerts in");
  given_messages.insert(given_messages.end(), carry.bytes.begin(), carry.bytes.end());
  require(given_messages == taken_bodies, "the messages out are not the fragments in");
  return 0;
}
