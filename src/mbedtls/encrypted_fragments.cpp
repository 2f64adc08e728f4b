#include "encrypted_fragments.hpp"

#include "../handshake_reframer.hpp" // handshake_header_size
#include "../record.hpp"

// Part of this header's declarations lack C linkage of their own.
extern "C" {
#include <mbedtls/ssl_internal.h>
}

#include <cstring>
#include <optional>

namespace tlsio::detail {
namespace {

constexpr std::uint8_t handshake_type = 22;
// After ChangeCipherSpec the handshake has one message left, Finished: 16 bytes in TLS 1.2
// (RFC 5246 §7.4.9). A longer one is not joined (Mbed TLS refuses it), which also bounds
// the fragments decrypted again on each call while the rest arrive.
constexpr std::size_t max_joined_message = 64;

std::uint64_t incoming_sequence(const mbedtls_ssl_context &ssl) {
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n = (n << 8) | ssl.in_ctr[i];
  return n;
}

// The plaintext of the handshake record `wire` (header included), the peer's number
// `sequence`; nullopt for a record of another type; `error` set if it fails authentication.
std::optional<std::vector<std::byte>> decrypt(const mbedtls_ssl_context &ssl,
                                              std::span<const std::byte> wire,
                                              std::uint64_t sequence, int &error) {
  if (std::to_integer<std::uint8_t>(wire[0]) != handshake_type)
    return std::nullopt;
  // Decrypted in place: a copy, so that the input stays as the peer sent it.
  std::vector<unsigned char> copy(wire.size());
  std::memcpy(copy.data(), wire.data(), wire.size());
  mbedtls_record rec{};
  for (int i = 7; i >= 0; --i, sequence >>= 8)
    rec.ctr[i] = static_cast<std::uint8_t>(sequence);
  rec.type = copy[0];
  rec.ver[0] = copy[1];
  rec.ver[1] = copy[2];
  rec.buf = copy.data();
  rec.buf_len = copy.size();
  rec.data_offset = record_header_size;
  rec.data_len = copy.size() - record_header_size;
  if (int ret = mbedtls_ssl_decrypt_buf(&ssl, ssl.transform_in, &rec); ret != 0) {
    error = ret;
    return std::nullopt;
  }
  auto plain = reinterpret_cast<const std::byte *>(copy.data() + rec.data_offset);
  return std::vector<std::byte>(plain, plain + rec.data_len);
}

std::size_t announced_size(const std::vector<std::byte> &message) {
  std::size_t body = 0;
  for (std::size_t i = 1; i < handshake_header_size; ++i)
    body = (body << 8) | std::to_integer<std::size_t>(message[i]);
  return handshake_header_size + body;
}

} // namespace

encrypted_join join_encrypted_handshake(const mbedtls_ssl_context &ssl,
                                        std::span<const std::byte> input) {
  encrypted_join j;
  const auto first_sequence = incoming_sequence(ssl);
  std::vector<std::byte> message;
  for (;;) {
    auto rest = input.subspan(j.consumed);
    auto extent = first_record(rest);
    if (extent.state != record_state::complete) {
      if (j.records > 0 && extent.state == record_state::partial)
        j.result = encrypted_join::outcome::incomplete;
      return j;
    }
    auto plain = decrypt(ssl, rest.first(extent.size), first_sequence + j.records, j.error);
    if (j.error != 0) {
      j.result = encrypted_join::outcome::failed;
      return j;
    }
    // A record of another type among the fragments, or an empty one: Mbed TLS's to judge.
    if (!plain || plain->empty())
      return encrypted_join{};
    message.insert(message.end(), plain->begin(), plain->end());
    j.consumed += extent.size;
    ++j.records;
    if (message.size() < handshake_header_size)
      continue;
    auto size = announced_size(message);
    if (size > max_joined_message || (j.records == 1 && message.size() >= size))
      return encrypted_join{}; // too long to join, or not split
    if (message.size() >= size)
      break;
  }
  std::byte header[record_header_size] = {std::byte{handshake_type}, input[1], input[2],
                                          std::byte(message.size() >> 8),
                                          std::byte(message.size() & 0xff)};
  j.record.assign(std::begin(header), std::end(header));
  j.record.insert(j.record.end(), message.begin(), message.end());
  j.result = encrypted_join::outcome::joined;
  return j;
}

void advance_incoming_sequence(mbedtls_ssl_context &ssl, std::uint64_t n) {
  auto sequence = incoming_sequence(ssl) + n;
  for (int i = 7; i >= 0; --i, sequence >>= 8)
    ssl.in_ctr[i] = static_cast<unsigned char>(sequence);
}

} // namespace tlsio::detail
