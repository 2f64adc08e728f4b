// The targets against what this run measured. Reported, never asserted: a missed
// target is a finding, not a failure of the benchmark.
#include "report.hpp"

namespace bench {
namespace {

std::string where(const figure_spec &s) {
  char text[128];
  std::snprintf(text, sizeof text, "T=%d N=%d %s %s", s.threads, s.concurrency, name(s.cert),
                name(s.group));
  std::string w = text;
  if (s.write_bytes)
    w.append(" ").append(std::to_string(s.write_bytes / 1024)).append("K writes");
  return w;
}

void line(std::FILE *out, const char *what, double measured, bool at_least, double target,
          const std::string &at) {
  bool met = at_least ? measured >= target : measured <= target;
  std::fprintf(out, "  %-7s %-40s %7.2f (target %s %.2f)  %s\n", met ? "met" : "MISSED", what,
               measured, at_least ? ">=" : "<=", target, at.c_str());
}

/// tlsio / baseline for every figure of mode m that has both.
void ratio_targets(std::FILE *out, const std::vector<figure_result> &all, mode m, impl base,
                   const char *what, double target) {
  for (const auto &r : all) {
    if (r.spec.impl != impl::tlsio || r.spec.mode != m)
      continue;
    if (const auto *b = counterpart(all, r.spec, base); b && b->value > 0)
      line(out, what, r.value / b->value, true, target, where(r.spec));
  }
}

void scaling_targets(std::FILE *out, const std::vector<figure_result> &all) {
  for (const auto &two : all) {
    if (two.spec.mode != mode::handshake_full || two.spec.threads != 2)
      continue;
    auto one_spec = two.spec;
    one_spec.threads = 1;
    const auto *one = counterpart(all, one_spec, two.spec.impl);
    if (!one || one->value <= 0)
      continue;
    auto what = std::string("full hs ") + name(two.spec.impl) + " 2 threads / 1 thread";
    if (two.spec.impl == impl::tlsio)
      line(out, what.c_str(), two.value / one->value, true, 1.8, where(two.spec));
    else
      std::fprintf(out, "  %-7s %-40s %7.2f  (for comparison)  %s\n", "", what.c_str(),
                   two.value / one->value, where(two.spec).c_str());
  }
}

} // namespace

void print_targets(std::FILE *out, const std::vector<figure_result> &all) {
  std::fprintf(out, "Targets (reported, not asserted):\n");
  ratio_targets(out, all, mode::handshake_full, impl::raw, "full handshakes tlsio/raw", 0.95);
  ratio_targets(out, all, mode::handshake_resumed, impl::asio_ssl,
                "resumed handshakes tlsio/asio-ssl", 1.3);
  ratio_targets(out, all, mode::bulk, impl::raw, "bulk tlsio/raw", 0.90);
  for (const auto &r : all)
    if (r.spec.impl == impl::tlsio && r.spec.mode == mode::idle) {
      line(out, "idle KiB per connection (both ends)", r.value, false, 40, where(r.spec));
      line(out, "idle KiB per connection end", r.kib_per_end.value_or(0), false, 40,
           where(r.spec));
    }
  scaling_targets(out, all);
}

} // namespace bench
