// Joining handshake messages split across records (internal).
//
// Mbed TLS 2.28 takes a handshake message only if one record holds all of it. Before the
// peer's ChangeCipherSpec the records are plaintext, so the engine can join the fragments
// and hand Mbed TLS one record per whole message. The transcript hash covers messages, not
// records, so nothing else changes.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <vector>

namespace tlsio::detail {

/// msg_type (1 byte), length of the body (3)
inline constexpr std::size_t handshake_header_size = 4;
/// The longest handshake message, header included, that one record can carry
/// (2^14 bytes of plaintext, RFC 5246 §6.2.1) and so Mbed TLS can take.
inline constexpr std::size_t max_handshake_message = 16384;

/// A handshake message not yet whole: its first bytes and the version of the record that
/// began it.
struct handshake_carry {
  std::array<std::byte, 2> version{};
  std::vector<std::byte> bytes;
};

enum class reframe_error {
  none,
  message_too_long, ///< a message's header announces more than max_handshake_message
  empty_record,     ///< a handshake record with no fragment (RFC 5246 §6.2.1 forbids it)
};

struct reframed {
  /// Records of type handshake, each holding exactly one whole message, and the alert
  /// records that came among them, in order.
  std::vector<std::byte> records;
  /// Input bytes taken: the complete handshake and alert records at its start.
  std::size_t consumed = 0;
  handshake_carry carry;
  reframe_error error = reframe_error::none;
};

/// Takes the complete handshake and alert records at the start of `input`, stopping at the
/// first record of another type or one not yet complete, and joins the handshake fragments
/// after the message begun in `carry`; alerts pass through unchanged, in their place.
reframed reframe_handshake(handshake_carry carry, std::span<const std::byte> input);

} // namespace tlsio::detail
