#include "raw_pair.hpp"

#include <algorithm>

namespace bench {
namespace {

/// The wire: what `from` produced becomes `to`'s input (one memcpy, no intermediate buffer).
void pass(tlsio::engine &from, tlsio::engine &to) {
  auto out = from.pending_output();
  if (out.empty())
    return;
  to.put_input(out);
  from.consume_output(out.size());
}

bool is(const tlsio::step_result &r, tlsio::status s) { return r.status == s; }

} // namespace

std::string group_name(unsigned id) {
  switch (id) {
  case 0x001d:
    return "x25519";
  case 0x0017:
    return "secp256r1";
  case 0x0018:
    return "secp384r1";
  default:
    return "group " + std::to_string(id);
  }
}

namespace {

/// The named group of an ECDHE ServerKeyExchange in a flight of plaintext handshake records
/// (TLS 1.2: record header of 5 bytes; messages: type, 24-bit length, body whose first
/// bytes are curve_type 3 and the 16-bit named group). Empty if there is none.
std::string key_exchange_group(std::span<const std::byte> flight) {
  auto at = [&](std::size_t i) { return std::to_integer<unsigned>(flight[i]); };
  for (std::size_t r = 0; r + 5 <= flight.size();) {
    std::size_t end = std::min(flight.size(), r + 5 + (at(r + 3) << 8 | at(r + 4)));
    for (std::size_t m = r + 5; at(r) == 22 && m + 7 <= end;) {
      if (at(m) == 12 && at(m + 4) == 3)
        return group_name(at(m + 5) << 8 | at(m + 6));
      m += 4 + (at(m + 1) << 16 | at(m + 2) << 8 | at(m + 3));
    }
    r = end;
  }
  return {};
}

} // namespace

raw_pair::raw_pair(tlsio_contexts &ctx) : client(ctx.client), server(ctx.server) {
  client.set_server_name(server_name);
}

bool raw_pair::fail(const char *what) {
  failure_ = what;
  return false;
}

std::optional<bool> raw_pair::handshake_round() {
  auto c = client.handshake();
  pass(client, server);
  auto s = server.handshake();
  if (inspect && group_.empty())
    group_ = key_exchange_group(server.pending_output());
  pass(server, client);
  if (is(c, tlsio::status::failed) || is(s, tlsio::status::failed)) {
    fail("handshake failed");
    return std::nullopt;
  }
  return is(c, tlsio::status::done) && is(s, tlsio::status::done);
}

bool raw_pair::exchange(std::optional<tlsio::session> *keep) {
  std::byte byte{'h'};
  std::span<std::byte> one(&byte, 1);
  if (!is(client.write(one), tlsio::status::done))
    return fail("client write failed");
  pass(client, server);
  if (server.read(one).bytes != 1 || !is(server.write(one), tlsio::status::done))
    return fail("server read or write failed");
  pass(server, client);
  if (client.read(one).bytes != 1)
    return fail("client read failed");
  if (keep)
    *keep = client.get_session();
  return true;
}

bool raw_pair::shutdown() {
  auto c = client.shutdown(); // sends close_notify, wants the server's
  pass(client, server);
  auto s = server.shutdown(); // reads the client's, sends its own
  pass(server, client);
  auto c2 = client.shutdown();
  if (is(c, tlsio::status::failed) || is(s, tlsio::status::failed) ||
      is(c2, tlsio::status::failed) || is(c2, tlsio::status::want_input))
    return fail("shutdown failed");
  return true;
}

raw_pair::state raw_pair::round(std::optional<tlsio::session> *keep) {
  if (phase_ == phase::handshake) {
    auto done = handshake_round();
    if (!done)
      return state::failed;
    if (!*done)
      return state::running;
    phase_ = phase::exchange;
  }
  if (!exchange(keep) || !shutdown())
    return state::failed;
  phase_ = phase::closed;
  return state::done;
}

bool raw_pair::open() {
  for (int i = 0; i < 16; ++i) {
    auto done = handshake_round();
    if (!done)
      return false;
    if (*done) {
      phase_ = phase::exchange;
      return exchange(nullptr);
    }
  }
  return fail("handshake made no progress");
}

bool raw_pair::transfer(std::span<const std::byte> data, std::span<std::byte> sink,
                        std::atomic<std::uint64_t> &bytes) {
  // One write handed over at a time: batching 64 KiB of writes per hand-over measured no
  // faster (slightly slower: larger buffers), so this is the engine's own pace.
  if (!is(client.write(data), tlsio::status::done))
    return fail("client write failed");
  pass(client, server);
  std::uint64_t got = 0;
  for (;;) {
    auto r = server.read(sink);
    if (!is(r, tlsio::status::done))
      break;
    got += r.bytes;
  }
  bytes.fetch_add(got, std::memory_order_relaxed);
  return got == data.size() || fail("server read failed");
}

std::string raw_pair::failure() const {
  for (const auto *e : {&client, &server})
    if (e->failure())
      return failure_ + ": " + e->failure_detail();
  return failure_;
}

std::string raw_pair::negotiated() const {
  return client.protocol_version() + " " + client.cipher_suite() +
         (group_.empty() ? "" : " " + group_ + " (from the ServerKeyExchange)");
}

} // namespace bench
