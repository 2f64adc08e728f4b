// A DTLS server's first look at a datagram from an address with no handshake under way
// (internal): a ClientHello whose cookie verifies may start one; any other ClientHello gets
// a HelloVerifyRequest (RFC 6347 §4.2.1); anything else nothing. Stateless: it allocates
// nothing per peer, so the acceptor runs it before making an engine and the engine before
// handing Mbed TLS a datagram.
#pragma once

#include "../context_impl.hpp"
#include "../dtls/cookie_exchange.hpp"

#include <cstddef>
#include <span>
#include <vector>

namespace tlsio::dtls::detail {

struct hello_screen {
  /// The datagram is a ClientHello whose cookie is valid for this client id.
  bool verified = false;
  /// Otherwise, the HelloVerifyRequest to send back (empty: send nothing).
  std::vector<std::byte> answer;
};

/// Screens `hello`, parsed from a datagram of `datagram_size` bytes (parse_client_hello()),
/// from the client known by `client_id` (its address and port as bytes) with the cookie key
/// of `ctx`, a server's context prepared for DTLS. An empty client id verifies and answers
/// nothing. An answer is never larger than the datagram.
hello_screen screen_client_hello(context::impl &ctx, const client_hello_view &hello,
                                 std::size_t datagram_size,
                                 std::span<const unsigned char> client_id);

} // namespace tlsio::dtls::detail
