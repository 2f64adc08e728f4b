// Joining a handshake message the peer split across encrypted records (internal).
//
// After the peer's ChangeCipherSpec its records are encrypted, so the re-framer
// (handshake_reframer.hpp) cannot see inside them, and Mbed TLS 2.28 takes a handshake
// message only if one record holds all of it. A peer may still split its Finished, down to
// one byte a record (RFC 5246 §6.2.1 allows it). So the engine decrypts such records ahead of
// Mbed TLS, with Mbed TLS's own keys and sequence numbers, and hands it the joined message
// as one plaintext record, read with the record protection set aside for that one record.
// Every fragment is authenticated before anything is joined.
#pragma once

#include <mbedtls/ssl.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace tlsio::detail {

struct encrypted_join {
  enum class outcome {
    not_split,  ///< the first record holds whole messages, or is not a handshake record
    incomplete, ///< the message goes on in records not yet here
    joined,     ///< `record` holds the message
    failed,     ///< a fragment failed authentication: `error`
  };
  outcome result = outcome::not_split;
  /// One plaintext handshake record: the message and whatever else its last fragment held.
  std::vector<std::byte> record;
  /// Input bytes and records of the peer's that `record` replaces.
  std::size_t consumed = 0;
  std::uint64_t records = 0;
  /// Mbed TLS's error for the fragment that failed.
  int error = 0;
};

/// Looks at the records at the start of `input` (a record boundary after the peer's
/// ChangeCipherSpec, once ssl's incoming protection is on) and joins a handshake message
/// they split. Changes nothing in ssl.
encrypted_join join_encrypted_handshake(const mbedtls_ssl_context &ssl,
                                        std::span<const std::byte> input);

/// ssl's incoming sequence number (RFC 5246 §6.1) moved on by n records.
void advance_incoming_sequence(mbedtls_ssl_context &ssl, std::uint64_t n);

} // namespace tlsio::detail
