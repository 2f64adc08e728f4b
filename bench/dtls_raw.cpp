// The DTLS limit (raw-dtls): two tlsio::dtls::engine's back to back in memory, in one
// thread, with no sockets and no event loop: the most anything built on the DTLS engine can
// do. The wire is a copy per datagram (put_datagram()), where tlsio-dtls has a UDP send and
// receive. The method is dtls_method.hpp's.
#include "dtls_method.hpp"
#include "environment.hpp"
#include "raw_pair.hpp"

#include <tlsio/dtls/engine.hpp>

#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>

namespace bench {
namespace {

namespace dtls = tlsio::dtls;

/// The client's transport address as the server engine is told it (the acceptor uses the
/// peer's address and port).
constexpr std::array<std::byte, 6> client_id{std::byte{127}, std::byte{0},    std::byte{0},
                                             std::byte{1},   std::byte{0x9c}, std::byte{0x40}};

bool is(const tlsio::step_result &r, tlsio::status s) { return r.status == s; }

/// The named group of an ECDHE ServerKeyExchange in a datagram of plaintext DTLS handshake
/// records (record header of 13 bytes; handshake header of 12: type, 24-bit length, 16-bit
/// message_seq, 24-bit fragment offset and length; the body starts with curve_type 3 and
/// the 16-bit group). Empty if there is none.
std::string key_exchange_group(std::span<const std::byte> d) {
  auto at = [&](std::size_t i) { return std::to_integer<unsigned>(d[i]); };
  auto u24 = [&](std::size_t i) { return at(i) << 16 | at(i + 1) << 8 | at(i + 2); };
  for (std::size_t r = 0; r + 13 <= d.size();) {
    std::size_t end = std::min(d.size(), r + 13 + (at(r + 11) << 8 | at(r + 12)));
    for (std::size_t m = r + 13; at(r) == 22 && m + 15 <= end;) {
      if (at(m) == 12 && u24(m + 6) == 0 && at(m + 12) == 3)
        return group_name(at(m + 13) << 8 | at(m + 14));
      m += 12 + u24(m + 9);
    }
    r = end;
  }
  return {};
}

/// Every datagram `from` queued becomes `to`'s input, one put_datagram() each; the group
/// of a ServerKeyExchange among them goes to *group, if given and still empty.
void pass(dtls::engine &from, dtls::engine &to, std::string *group = nullptr) {
  for (; from.queued_output() > 0; from.pop_datagram()) {
    if (group && group->empty())
      *group = key_exchange_group(from.pending_datagram());
    to.put_datagram(from.pending_datagram());
  }
}

/// One association in memory: a client and a server engine.
struct dtls_pair {
  explicit dtls_pair(tlsio_contexts &ctx) : client(ctx.client), server(ctx.server) {
    client.set_server_name(server_name);
    server.set_client_id(client_id);
  }

  /// One flight each way. true once both handshakes are done; throws on a failure.
  bool handshake_round() {
    auto c = client.handshake();
    pass(client, server);
    auto s = server.handshake();
    pass(server, client, inspect ? &group : nullptr);
    if (is(c, tlsio::status::failed) || is(s, tlsio::status::failed))
      throw std::runtime_error("handshake failed: " + detail());
    return client.handshake_done() && server.handshake_done();
  }

  /// The client's close_notify, taken by the server.
  void close() {
    std::array<std::byte, 16> buffer;
    if (!is(client.shutdown(), tlsio::status::done))
      throw std::runtime_error("client shutdown failed: " + detail());
    pass(client, server);
    if (!is(server.receive(buffer), tlsio::status::closed))
      throw std::runtime_error("server did not see close_notify: " + detail());
  }

  std::string detail() const {
    for (const auto *e : {&client, &server})
      if (e->failure())
        return e->failure_detail();
    return "no engine failed";
  }

  std::string negotiated() const {
    return client.protocol_version() + " " + client.cipher_suite() +
           (group.empty() ? "" : " " + group + " (from the ServerKeyExchange)");
  }

  dtls::engine client, server;
  bool inspect = false; ///< read the group from the ServerKeyExchange (for negotiated())
  std::string group;
};

struct handshake_loop {
  tlsio_contexts &ctx;
  counters &c;
  std::vector<latency_sample> latencies;
  std::string negotiated;

  struct slot {
    std::unique_ptr<dtls_pair> pair;
    clock::time_point started;
  };

  /// One flight each way of the slot's association; true when it has closed.
  bool advance(slot &s) {
    if (!s.pair) {
      s.started = clock::now();
      s.pair = std::make_unique<dtls_pair>(ctx);
      s.pair->inspect = negotiated.empty();
    }
    if (!s.pair->handshake_round())
      return false;
    s.pair->close();
    if (negotiated.empty())
      negotiated = s.pair->negotiated();
    auto end = clock::now();
    latencies.push_back({end, end - s.started});
    c.done.fetch_add(1, std::memory_order_relaxed);
    s.pair.reset();
    return true;
  }

  /// As raw.cpp's loop: one association, one more each time one completes, up to N.
  void run(int concurrency) {
    std::vector<slot> slots(static_cast<std::size_t>(concurrency));
    std::size_t active = 1;
    c.loops.fetch_add(1);
    while (!c.stop.load(std::memory_order_relaxed))
      for (std::size_t i = 0; i < active; ++i) {
        try {
          if (advance(slots[i]) && active < slots.size()) {
            ++active;
            c.loops.fetch_add(1);
          }
        } catch (const std::exception &e) {
          c.error(std::string("raw-dtls: ") + e.what());
          slots[i].pair.reset();
        }
      }
  }
};

struct echo_loop {
  tlsio_contexts &ctx;
  counters &c;
  std::size_t message_bytes;
  std::string negotiated;

  /// Receives every message waiting on e; returns how many there were.
  static int drain(dtls::engine &e, std::span<std::byte> buffer, std::size_t expect) {
    int n = 0;
    for (tlsio::step_result r; is(r = e.receive(buffer), tlsio::status::done);) {
      if (r.error || r.bytes != expect)
        throw std::runtime_error("a message came back wrong");
      ++n;
    }
    return n;
  }

  void batch(dtls_pair &p, std::span<const std::byte> message, std::span<std::byte> buffer) {
    for (int i = 0; i < echo_window; ++i)
      if (!is(p.client.send(message), tlsio::status::done))
        throw std::runtime_error("client send failed: " + p.detail());
    c.sent.fetch_add(echo_window, std::memory_order_relaxed);
    pass(p.client, p.server);
    for (tlsio::step_result r; is(r = p.server.receive(buffer), tlsio::status::done);)
      if (!is(p.server.send(buffer.first(r.bytes)), tlsio::status::done))
        throw std::runtime_error("server send failed: " + p.detail());
    pass(p.server, p.client);
    int back = drain(p.client, buffer, message.size());
    c.bytes.fetch_add(std::uint64_t(back) * message.size(), std::memory_order_relaxed);
    c.lost.fetch_add(std::uint64_t(echo_window - back), std::memory_order_relaxed);
  }

  void run() {
    try {
      dtls_pair p(ctx);
      p.inspect = true;
      for (int i = 0; !p.handshake_round(); ++i)
        if (i > 16)
          throw std::runtime_error("handshake made no progress");
      negotiated = p.negotiated();
      c.loops.fetch_add(1);
      std::vector<std::byte> message(message_bytes, std::byte{'x'}), buffer(2048);
      while (!c.stop.load(std::memory_order_relaxed))
        batch(p, message, buffer);
    } catch (const std::exception &e) {
      c.error(std::string("raw-dtls echo: ") + e.what());
    }
  }
};

} // namespace

figure_result run_raw_dtls(environment &env, const figure_spec &spec) {
  auto ctx = make_tlsio_contexts(env.pki.get(spec.cert), spec.group, false, spec.impl);
  counters c;
  if (spec.mode == mode::dtls_echo) {
    echo_loop l{ctx, c, spec.write_bytes, {}};
    auto w = run_measured(c, env.durations, 1, {[&l] { l.run(); }});
    auto r = timed_result(spec, w, c, {});
    r.negotiated = l.negotiated;
    return r;
  }
  handshake_loop l{ctx, c, {}, {}};
  auto w =
      run_measured(c, env.durations, spec.concurrency, {[&l, n = spec.concurrency] { l.run(n); }});
  auto r = timed_result(spec, w, c, l.latencies);
  r.negotiated = l.negotiated;
  return r;
}

} // namespace bench
