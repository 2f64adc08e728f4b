// TLS record framing, for looking at input before Mbed TLS does (internal).
//
// The one notion of "a record is here" that the engine's input, its read_ready() and the
// ClientHello pre-parser share.
#pragma once

#include <cstddef>
#include <span>

namespace tlsio::detail {

/// type (1 byte), version (2), length of the body (2, big-endian)
inline constexpr std::size_t record_header_size = 5;
/// The longest body a TLS 1.2 record may have: 2^14 bytes of plaintext plus 2048 of
/// expansion (RFC 5246, section 6.2.3).
inline constexpr std::size_t max_record_body = 16384 + 2048;

enum class record_state {
  partial,  ///< more bytes are needed to have all of it
  complete, ///< all `size` bytes are there
  invalid,  ///< its header alone shows it cannot be taken, whatever follows
};

struct record_extent {
  record_state state;
  /// Header included; 0 while the header itself is incomplete. For an invalid record, the
  /// header's size: the part that is enough for Mbed TLS to reject it with its own error.
  std::size_t size;
};

/// What the start of `input`, taken to be a record boundary, holds.
inline record_extent first_record(std::span<const std::byte> input) noexcept {
  if (input.size() < record_header_size)
    return {record_state::partial, 0};
  auto byte = [&](std::size_t i) { return std::to_integer<std::size_t>(input[i]); };
  std::size_t type = byte(0);
  std::size_t length = (byte(3) << 8) | byte(4);
  // Content types change_cipher_spec (20) to application_data (23); versions 3.x. Waiting
  // for the body of anything else (an HTTP request, say) would only delay the error.
  if (type < 20 || type > 23 || byte(1) != 3 || length > max_record_body)
    return {record_state::invalid, record_header_size};
  std::size_t size = record_header_size + length;
  return {input.size() >= size ? record_state::complete : record_state::partial, size};
}

} // namespace tlsio::detail
