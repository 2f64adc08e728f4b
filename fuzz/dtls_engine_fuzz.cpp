// libFuzzer target: a DTLS engine (server or client) fed the fuzz input cut into datagrams,
// with the clock moved and retransmission timers fired between them.
//
// Input: one byte of settings (bit 0: client, else server; bit 1: a 300-byte MTU), then
// operations of three bytes and a body: op (low two bits: 0 a datagram from the peer,
// 1 the clock moves 1.5 s and on_timeout() runs, 2 a message to send, 3 a receive), the
// body's length (2 bytes, big-endian), the body. The server has a client address, so
// datagrams meet the cookie check; the client starts with a ClientHello and takes what
// comes as the server's flights.
#include <tlsio/context.hpp>
#include <tlsio/dtls/engine.hpp>
#include <tlsio/error.hpp>
#include <tlsio/testing/test_identity.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

namespace {

using clock = tlsio::dtls::clock;

clock::time_point fake_now;

struct contexts {
  tlsio::context server{tlsio::role::server, tlsio::backend::mbedtls};
  tlsio::context client{tlsio::role::client, tlsio::backend::mbedtls};
  contexts() {
    auto ca = tlsio::test_identity::authority::create("tlsio DTLS fuzz CA");
    auto id = ca.issue({.common_name = "localhost", .dns_names = {"localhost"}});
    server.load_certificate_chain_pem(id.certificate_pem);
    server.load_private_key_pem(id.private_key_pem);
    client.add_certificate_authority(ca.certificate_pem());
  }
};

const contexts &shared_contexts() {
  static const contexts c;
  return c;
}

// What the engine promises whatever the input: a queued datagram is never empty and never
// larger than the MTU it was given, and a failed engine stays failed.
void check_output(tlsio::dtls::engine &e) {
  while (e.queued_output() > 0) {
    auto d = e.pending_datagram();
    if (d.empty() || d.size() > e.mtu())
      std::abort();
    e.pop_datagram();
  }
}

void step(tlsio::dtls::engine &e) {
  if (!e.handshake_done()) {
    e.handshake();
    return;
  }
  std::array<std::byte, 2048> buffer;
  e.receive(buffer);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  if (size == 0)
    return 0;
  const auto &ctx = shared_contexts();
  fake_now = clock::time_point{};
  bool client = data[0] & 1;
  tlsio::dtls::engine e(client ? ctx.client : ctx.server, [] { return fake_now; });
  if (data[0] & 2)
    e.set_mtu(300);
  if (client) {
    e.set_server_name("localhost");
  } else {
    const std::byte address[] = {std::byte{127}, std::byte{0},    std::byte{0},
                                 std::byte{1},   std::byte{0x30}, std::byte{0x39}};
    e.set_client_id(address);
  }
  e.handshake();
  check_output(e);
  std::span<const std::uint8_t> rest(data + 1, size - 1);
  while (rest.size() >= 3) {
    std::size_t length =
        std::min<std::size_t>((std::size_t{rest[1]} << 8) | rest[2], rest.size() - 3);
    auto body = std::as_bytes(rest.subspan(3, length));
    switch (rest[0] & 3) {
    case 0:
      e.put_datagram(body);
      step(e);
      break;
    case 1:
      fake_now += std::chrono::milliseconds(1500);
      if (auto due = e.next_timeout(); due && *due <= fake_now)
        e.on_timeout();
      break;
    case 2:
      if (e.handshake_done())
        e.send(body);
      break;
    default:
      step(e);
      break;
    }
    bool failed = static_cast<bool>(e.failure());
    check_output(e);
    if (failed && e.handshake().status != tlsio::status::failed)
      std::abort(); // a failed engine must stay failed
    rest = rest.subspan(3 + length);
  }
  return 0;
}
