#include "handshake_reframer.hpp"

#include "record.hpp"

namespace tlsio::detail {
namespace {

constexpr std::byte handshake_type{22};
constexpr std::byte alert_type{21};

std::size_t message_size(std::span<const std::byte> header) {
  std::size_t body = 0;
  for (auto b : header.subspan(1, 3))
    body = (body << 8) | std::to_integer<std::size_t>(b);
  return handshake_header_size + body;
}

void append_record(std::vector<std::byte> &out, std::array<std::byte, 2> version,
                   std::span<const std::byte> message) {
  auto size = message.size();
  std::byte header[record_header_size] = {handshake_type, version[0], version[1],
                                          std::byte(size >> 8), std::byte(size & 0xff)};
  out.insert(out.end(), std::begin(header), std::end(header));
  out.insert(out.end(), message.begin(), message.end());
}

// Moves the whole messages at the start of r.carry into r.records; false if one is too long.
bool take_whole_messages(reframed &r) {
  auto &bytes = r.carry.bytes;
  std::size_t taken = 0;
  bool ok = true;
  while (bytes.size() - taken >= handshake_header_size) {
    auto rest = std::span<const std::byte>(bytes).subspan(taken);
    auto size = message_size(rest);
    if (size > max_handshake_message) {
      ok = false;
      break;
    }
    if (rest.size() < size)
      break;
    append_record(r.records, r.carry.version, rest.first(size));
    taken += size;
  }
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(taken));
  return ok;
}

} // namespace

reframed reframe_handshake(handshake_carry carry, std::span<const std::byte> input) {
  reframed r;
  r.carry = std::move(carry);
  for (;;) {
    auto rest = input.subspan(r.consumed);
    auto record = first_record(rest);
    // An alert may come between fragments (record types interleave, RFC 5246 §6.2.1): it
    // goes on in its place, ahead of the message still being joined.
    if (record.state == record_state::complete && rest[0] == alert_type) {
      r.records.insert(r.records.end(), rest.begin(),
                       rest.begin() + static_cast<std::ptrdiff_t>(record.size));
      r.consumed += record.size;
      continue;
    }
    // Anything else, or a record longer than plaintext may be, is Mbed TLS's to judge.
    if (record.state != record_state::complete || rest[0] != handshake_type ||
        record.size - record_header_size > max_handshake_message)
      return r;
    if (record.size == record_header_size) {
      r.error = reframe_error::empty_record;
      return r;
    }
    std::array<std::byte, 2> version{rest[1], rest[2]};
    if (r.carry.bytes.empty())
      r.carry.version = version;
    auto fragment = rest.subspan(record_header_size, record.size - record_header_size);
    r.carry.bytes.insert(r.carry.bytes.end(), fragment.begin(), fragment.end());
    r.consumed += record.size;
    auto before = r.records.size();
    if (!take_whole_messages(r)) {
      r.error = reframe_error::message_too_long;
      return r;
    }
    // A message that ended inside this record: what follows it began here too.
    if (r.records.size() != before)
      r.carry.version = version;
  }
}

} // namespace tlsio::detail
