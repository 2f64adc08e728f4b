#include "plan.hpp"

#include <algorithm>

namespace bench {
namespace {

struct planner {
  const options &o;
  std::vector<figure_spec> plan;

  bool wanted(mode m) const {
    return std::find(o.modes.begin(), o.modes.end(), m) != o.modes.end();
  }

  /// Adds the figure for every chosen implementation; `tls13` says whether the
  /// informational TLS 1.3 row belongs here.
  void add(figure_spec f, bool tls13) {
    for (impl i : o.impls) {
      if ((is_tls13(i) && !tls13) || is_dtls(i) != is_dtls(f.mode))
        continue;
      f.impl = i;
      plan.push_back(f);
    }
  }

  figure_spec base(mode m) const {
    figure_spec f;
    f.mode = m;
    f.concurrency = o.concurrency;
    f.cert = o.certs.front();
    f.group = o.groups.front();
    return f;
  }

  void full_handshakes() {
    for (cert c : o.certs)
      for (group g : o.groups)
        for (int t : o.threads) {
          auto f = base(mode::handshake_full);
          f.cert = c, f.group = g, f.threads = t;
          add(f, !o.quick || t == 1);
        }
  }

  void sweep() {
    for (int n : o.sweep) {
      if (n == o.concurrency && std::count(o.threads.begin(), o.threads.end(), 1))
        continue; // measured above
      auto f = base(mode::handshake_full);
      f.concurrency = n;
      add(f, !o.quick);
    }
  }

  void resumed() {
    for (int t : o.threads) {
      if (o.quick && t != 1)
        continue;
      auto f = base(mode::handshake_resumed);
      f.threads = t;
      add(f, true);
    }
  }

  void bulk() {
    for (int size : o.write_bytes)
      for (int n : {1, o.concurrency}) {
        auto bytes = static_cast<std::size_t>(size);
        if (o.quick && bytes < 16384 && n != 1)
          continue;
        auto f = base(mode::bulk);
        f.write_bytes = bytes, f.concurrency = n;
        add(f, !o.quick);
      }
  }

  void idle() { add(base(mode::idle), !o.quick); }

  /// One thread: the acceptor and all its associations run on one strand. 4 handshake
  /// loops keep it busy; many more would leave each handshake's flights waiting behind the
  /// others' long enough to reach the 1 s retransmission timer, which no in-memory pair
  /// ever does. The echo: one association, 1 KiB messages (dtls_method.hpp).
  void dtls() {
    if (!o.role.empty())
      return; // both ends in this process only
    if (wanted(mode::dtls_handshake)) {
      auto f = base(mode::dtls_handshake);
      f.concurrency = std::min(o.concurrency, 4);
      add(f, true);
    }
    if (wanted(mode::dtls_echo)) {
      auto f = base(mode::dtls_echo);
      f.concurrency = 1, f.write_bytes = 1024;
      add(f, true);
    }
  }
};

} // namespace

std::vector<figure_spec> make_plan(const options &o) {
  planner p{o, {}};
  if (p.wanted(mode::handshake_full)) {
    p.full_handshakes();
    p.sweep();
  }
  if (p.wanted(mode::handshake_resumed))
    p.resumed();
  if (p.wanted(mode::bulk))
    p.bulk();
  if (p.wanted(mode::idle))
    p.idle();
  p.dtls();
  return p.plan;
}

} // namespace bench
