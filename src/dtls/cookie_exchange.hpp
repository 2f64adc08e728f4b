// The stateless half of DTLS's cookie exchange (RFC 6347 §4.2.1): reading a first
// ClientHello's random and cookie out of a datagram, and writing the HelloVerifyRequest
// that answers it, with no per-peer state (internal).
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace tlsio::dtls::detail {

/// The parts of a ClientHello the cookie exchange needs, viewing the datagram.
struct client_hello_view {
  std::span<const std::byte, 6> record_sequence; // the record's sequence number (epoch 0)
  std::span<const std::byte, 2> message_seq;     // the handshake message's (RFC 6347 §4.2.2)
  std::span<const std::byte, 32> random;
  std::span<const std::byte> cookie; // empty in a first ClientHello
};

/// The ClientHello a datagram holds: one unfragmented handshake record of epoch 0 with a
/// DTLS version (RFC 6347 §4.1, §4.2.2, §4.3.2), its lengths consistent up to the cookie.
/// Nothing for anything else (garbage, another message, a fragment, several records).
std::optional<client_hello_view> parse_client_hello(std::span<const std::byte> datagram);

/// Bytes of a HelloVerifyRequest record carrying `cookie` (at most 255 bytes), in answer to
/// `hello`: its record sequence number and message_seq copied from the ClientHello (§4.2.1:
/// a client that sent a second ClientHello, message_seq 1, takes only an answer in step
/// with it), and DTLS 1.0 as server_version and record version (§4.2.1: "SHOULD use DTLS
/// version 1.0 regardless of the version ... expected to be negotiated").
std::vector<std::byte> hello_verify_request(const client_hello_view &hello,
                                            std::span<const std::byte> cookie);

} // namespace tlsio::dtls::detail
