// The raw baselines: two tlsio::engine's back to back in memory, in one thread each, with no
// sockets and no event loop: the most any stream built on this engine can do, on Mbed TLS
// (raw) or on OpenSSL (raw-openssl: the engine's OpenSSL backend, two SSL objects whose
// records pass through the engine's buffers by a custom BIO).
//
// The wire between them is one memcpy per flight (the output span handed straight to the
// peer's input), where the stream has a socket write and read. Concurrency N means N
// connections advanced in turn, one round each, so latencies compare with the stream's.
#include "environment.hpp"
#include "raw_pair.hpp"

#include <deque>

namespace bench {
namespace {

/// The engines of one connection being opened and closed again.
struct slot {
  std::unique_ptr<raw_pair> pair;
  clock::time_point started;
};

struct handshake_loop {
  tlsio_contexts &ctx;
  counters &c;
  bool resume;
  std::vector<latency_sample> latencies;
  std::optional<tlsio::session> session;
  std::string negotiated;

  void start(slot &s) {
    s.started = clock::now();
    s.pair = std::make_unique<raw_pair>(ctx);
    s.pair->inspect = negotiated.empty();
    if (resume && session)
      s.pair->client.set_session(*session);
  }

  void finish(slot &s) {
    auto end = clock::now();
    latencies.push_back({end, end - s.started});
    if (s.pair->client.resumed())
      c.resumed.fetch_add(1, std::memory_order_relaxed);
    c.done.fetch_add(1, std::memory_order_relaxed);
    s.pair.reset();
  }

  /// One round of the slot's connection; true when the connection is complete.
  bool advance(slot &s) {
    if (!s.pair)
      start(s);
    auto state = s.pair->round(resume && !session ? &session : nullptr);
    if (state == raw_pair::state::running)
      return false;
    if (state == raw_pair::state::failed) {
      c.error("raw: " + s.pair->failure());
      s.pair.reset();
      return false;
    }
    if (negotiated.empty())
      negotiated = s.pair->negotiated();
    finish(s);
    return true;
  }

  /// Starts with one connection and adds one each time a connection completes, up to
  /// `concurrency`, so that the connections are spread out in their life as the stream
  /// loops' are.
  void run(int concurrency) {
    if (concurrency == 0)
      return; // more threads than connections: this one has none
    std::vector<slot> slots(static_cast<std::size_t>(concurrency));
    std::size_t active = 0;
    auto grow = [&] {
      if (active < slots.size()) {
        ++active;
        c.loops.fetch_add(1);
      }
    };
    grow();
    while (!c.stop.load(std::memory_order_relaxed))
      for (std::size_t i = 0; i < active; ++i)
        if (advance(slots[i]))
          grow();
  }
};

struct bulk_loop {
  tlsio_contexts &ctx;
  counters &c;
  std::size_t write_bytes;
  std::string negotiated;

  void run(int concurrency) {
    if (concurrency == 0)
      return;
    std::vector<std::unique_ptr<raw_pair>> pairs;
    for (int i = 0; i < concurrency; ++i) {
      auto &p = pairs.emplace_back(std::make_unique<raw_pair>(ctx));
      p->inspect = true;
      if (!p->open())
        return c.error("raw: " + p->failure());
      c.loops.fetch_add(1);
    }
    negotiated = pairs.front()->negotiated();
    std::vector<std::byte> data(write_bytes, std::byte{'x'});
    std::vector<std::byte> sink(64 * 1024);
    while (!c.stop.load(std::memory_order_relaxed))
      for (auto &p : pairs)
        if (!p->transfer(data, sink, c.bytes))
          return c.error("raw bulk: " + p->failure());
  }
};

figure_result timed(environment &env, const figure_spec &spec, tlsio_contexts &ctx) {
  counters c;
  std::deque<handshake_loop> hs; // a deque: the threads hold references into it
  std::deque<bulk_loop> bulk;
  std::vector<std::function<void()>> bodies;
  // Concurrency is per thread divided as the stream figures divide it.
  for (int i = 0; i < spec.threads; ++i) {
    int n = spec.concurrency / spec.threads + (i < spec.concurrency % spec.threads ? 1 : 0);
    if (spec.mode == mode::bulk) {
      auto &l = bulk.emplace_back(bulk_loop{ctx, c, spec.write_bytes, {}});
      bodies.push_back([&l, n] { l.run(n); });
    } else {
      bool resume = spec.mode == mode::handshake_resumed;
      auto &l = hs.emplace_back(handshake_loop{ctx, c, resume, {}, {}, {}});
      bodies.push_back([&l, n] { l.run(n); });
    }
  }
  auto w = run_measured(c, env.durations, spec.concurrency, bodies);
  std::vector<latency_sample> all;
  for (auto &l : hs)
    all.insert(all.end(), l.latencies.begin(), l.latencies.end());
  auto r = timed_result(spec, w, c, all);
  r.negotiated = spec.mode == mode::bulk ? bulk.front().negotiated : hs.front().negotiated;
  return r;
}

figure_result idle(environment &env, const figure_spec &spec, tlsio_contexts &ctx) {
  int n = env.idle_connections;
  figure_result r;
  r.spec = spec;
  release_free_memory();
  long before = resident_kib(), heap_before = heap_in_use_kib();
  auto start = clock::now();
  std::vector<std::unique_ptr<raw_pair>> pairs;
  for (int i = 0; i < n; ++i) {
    auto &p = pairs.emplace_back(std::make_unique<raw_pair>(ctx));
    p->inspect = i == 0;
    if (!p->open()) {
      ++r.errors;
      r.first_error = "raw: " + p->failure();
    }
  }
  r.establish_s = std::chrono::duration<double>(clock::now() - start).count();
  long after = resident_kib(), heap_after = heap_in_use_kib();
  r.count = std::uint64_t(n);
  r.value = double(after - before) / double(n);
  r.unit = "KiB/conn";
  r.kib_per_end = r.value / 2;
  r.heap_kib_per_end = double(heap_after - heap_before) / (2.0 * n);
  r.negotiated = pairs.front()->negotiated();
  return r;
}

} // namespace

figure_result run_raw(environment &env, const figure_spec &spec) {
  // Both engines live here, also when the streams talk to a server in another process.
  auto ctx = make_tlsio_contexts(env.pki.get(spec.cert), spec.group,
                                 spec.mode == mode::handshake_resumed, spec.impl);
  return spec.mode == mode::idle ? idle(env, spec, ctx) : timed(env, spec, ctx);
}

} // namespace bench
