// What the fuzz targets and the seed generator share: repeatable randomness, a throwaway PKI
// with the contexts built on it, recorded handshakes, the input format of the engine targets
// and a driver that feeds an engine the way a socket loop would.
#pragma once

#include <tlsio/context.hpp>
#include <tlsio/engine.hpp>
#include <tlsio/testing/test_identity.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tlsio_fuzz {

using bytes = std::vector<std::byte>;

/// Restarts every random generator, so that an engine made after this call draws the same
/// numbers as one made after any other call (see repeatable.cpp for how).
void reset_random();
/// What time() tells Mbed TLS in the engine targets: 2025-01-01 00:00:00 UTC.
inline constexpr std::int64_t frozen_time = 1735689600;

/// Certificate options with fixed validity dates (2020 to 2045), so that certificates made
/// with repeatable randomness are the same on every run.
tlsio::test_identity::certificate_options fixed_options(std::string common_name,
                                                        std::vector<std::string> dns_names = {});

/// The throwaway PKI: a CA, the server's and the client's identities (ECDSA, fixed dates).
struct pki {
  std::string ca_pem;
  std::string server_chain_pem, server_key_pem;
  std::string client_chain_pem, client_key_pem;
};
const pki &shared_pki();

/// The pairs of contexts a handshake can use; each context is made once. Every server
/// issues session tickets.
enum class scenario {
  skip_verify,        ///< the client skips verification
  verify,             ///< the client verifies the server against the CA, for "localhost"
  client_certificate, ///< as verify, with secp256r1 only, and the server asks for the
                      ///< client's certificate
  resumption,         ///< as verify, resuming a session from a ticket (made once)
};
inline constexpr int scenario_count = 4;
struct endpoints {
  tlsio::context client, server;
};
const endpoints &contexts_for(scenario s);
/// The engines of s, as recordings and replays make them (the client has its server name
/// and, for resumption, the session to resume).
tlsio::engine make_client(scenario s);
tlsio::engine make_server(scenario s);

/// Everything each side sent in one complete exchange: the handshake, one message each way
/// and close_notify both ways. *_flights hold where each flight ends.
struct transcript {
  bytes from_client, from_server;
  std::vector<std::size_t> client_flights, server_flights;
};
/// Records scenario::verify twice and warns on stderr unless both are the same and carry the
/// frozen time (else edited and spliced inputs fail at the key exchange).
void warn_if_not_repeatable();
/// A fresh recording of s (throws std::runtime_error if the handshake fails).
transcript record(scenario s);
/// The recording of s, made once.
const transcript &recorded(scenario s);

/// The engine targets' input: [mode][chunk][payload...].
///   mode bits 0-1: 0 payload is the peer's bytes; 1 payload edits the peer's recorded bytes
///                  (edits of 4 bytes: [op][offset high][offset low][value], op % 4 flips
///                  bits, inserts a byte, erases 1 to 16 bytes or cuts the rest); 2 payload
///                  follows a prefix of them ([length high][length low] first); 3 as 0
///   mode bits 2-3: the scenario (modulo the targets' count)
///   mode bit  4:   use prepare_input/commit_input and swap_output instead of
///                  put_input/consume_output
///   chunk:         bytes handed over per step, 0 for all at once
enum class feed_mode { raw, edited, spliced };
struct engine_input {
  feed_mode feed = feed_mode::raw;
  unsigned scenario_bits = 0;
  bool zero_copy = false;
  std::size_t chunk = 0;
  std::span<const std::byte> payload;
};
engine_input parse_input(std::span<const std::uint8_t> data);
bytes make_input(std::uint8_t mode, std::uint8_t chunk, std::span<const std::byte> payload);

/// The peer's byte stream that input describes, given the peer's recorded bytes.
bytes peer_stream(const engine_input &input, std::span<const std::byte> recorded);

/// Feeds stream to e in chunks, taking the steps a socket loop would after each (handshake
/// until done, then reads; a reply once the handshake is done; output discarded), then ends
/// the input, takes one more step and shuts down if still connected.
void drive(tlsio::engine &e, std::span<const std::byte> stream, const engine_input &how);

/// Aborts (which the fuzzer reports) with what if ok is false: a broken promise of the API.
void require(bool ok, const char *what);

bytes to_bytes(std::string_view text);

} // namespace tlsio_fuzz
