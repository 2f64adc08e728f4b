#include "report.hpp"

#include <map>
#include <set>

namespace bench {
namespace {

std::string format(const char *fmt, double v) {
  char text[64];
  std::snprintf(text, sizeof text, fmt, v);
  return text;
}

std::string ratio(const figure_result &r, const std::vector<figure_result> &all,
                  std::optional<impl> base) {
  if (!is_tlsio(r.spec.impl) || !base)
    return "";
  const auto *b = counterpart(all, r.spec, *base);
  if (!b || b->value <= 0)
    return "";
  return format("%.2f", r.value / b->value);
}

std::string cpu_column(const figure_result &r) {
  if (r.cpu_s_per_hs)
    return format("%.2fms/hs", *r.cpu_s_per_hs * 1e3);
  if (r.cpu_s_per_mb)
    return format("%.2fms/MB", *r.cpu_s_per_mb * 1e3);
  return "";
}

std::string notes(const figure_result &r) {
  std::string n;
  if (r.spec.mode == mode::dtls_echo)
    n += format("lost %.0f ", double(r.lost)) + format("of %.0f ", double(r.sent)) +
         format("(%.0f msg/s) ", r.seconds > 0 ? double(r.sent - r.lost) / r.seconds : 0);
  if (r.spec.mode == mode::handshake_resumed && r.count)
    n += format("resumed %.0f%% ", 100.0 * double(r.resumed) / double(r.count));
  if (r.kib_per_end)
    n += format("%.1f KiB/end ", *r.kib_per_end);
  if (r.heap_kib_per_end)
    n += format("(heap %.1f) ", *r.heap_kib_per_end);
  if (r.establish_s)
    n += format("opened in %.2fs ", *r.establish_s);
  if (r.seconds > 0)
    n += format("used %.2f CPUs ", r.cpu_seconds / r.seconds);
  if (r.others_cores >= 0.1)
    n += format("others %.1f cores ", r.others_cores);
  if (r.errors)
    n += std::to_string(r.errors) + " ERRORS";
  return n;
}

std::string optional_ms(const std::optional<double> &v) { return v ? format("%.2f", *v) : ""; }

} // namespace

const figure_result *counterpart(const std::vector<figure_result> &all, const figure_spec &like,
                                 impl which) {
  auto key = like.key();
  for (const auto &r : all)
    if (r.spec.impl == which && r.spec.key() == key)
      return &r;
  return nullptr;
}

std::string one_line(const figure_result &r) {
  const auto &s = r.spec;
  char text[256];
  std::snprintf(text, sizeof text, "%-17s T=%d N=%-3d %-10s %-9s %5s %-19s %10.1f %s %s",
                name(s.mode), s.threads, s.concurrency, name(s.cert), name(s.group),
                s.write_label().c_str(), name(s.impl), r.value, r.unit.c_str(), notes(r).c_str());
  return text;
}

void print_negotiated(std::FILE *out, const std::vector<figure_result> &all) {
  std::set<std::string> seen;
  std::fprintf(out, "Negotiated (first connection of each implementation, certificate, group):\n");
  for (const auto &r : all) {
    auto line = std::string(name(r.spec.impl)) + " " + name(r.spec.cert) + " " +
                name(r.spec.group) + ": " + r.negotiated;
    if (!r.negotiated.empty() && seen.insert(line).second)
      std::fprintf(out, "  %s\n", line.c_str());
  }
  std::fprintf(out, "  (tlsio uses the contexts raw uses, tlsio-openssl those of raw-openssl, "
                    "tlsio-dtls those of raw-dtls; raw and raw-dtls read the group from the "
                    "ServerKeyExchange)\n\n");
}

void print_table(std::FILE *out, const std::vector<figure_result> &all) {
  std::fprintf(out, "%-17s %2s %4s %-10s %-9s %5s %-19s %10s %-8s %7s %7s %10s %6s %6s  %s\n",
               "mode", "T", "N", "cert", "group", "write", "impl", "value", "unit", "p50ms",
               "p99ms", "cpu", "/raw", "/asio", "notes");
  std::string last_key;
  for (const auto &r : all) {
    const auto &s = r.spec;
    if (!last_key.empty() && s.key() != last_key)
      std::fprintf(out, "\n");
    last_key = s.key();
    std::fprintf(out, "%-17s %2d %4d %-10s %-9s %5s %-19s %10.1f %-8s %7s %7s %10s %6s %6s  %s\n",
                 name(s.mode), s.threads, s.concurrency, name(s.cert), name(s.group),
                 s.write_bytes ? s.write_label().c_str() : "-", name(s.impl), r.value,
                 r.unit.c_str(), optional_ms(r.p50_ms).c_str(), optional_ms(r.p99_ms).c_str(),
                 cpu_column(r).c_str(), ratio(r, all, raw_of(s.impl)).c_str(),
                 ratio(r, all, asio_of(s.impl)).c_str(), notes(r).c_str());
  }
  std::fprintf(out, "\n/raw and /asio: tlsio's value divided by the baseline's in the same row "
                    "group (tlsio-openssl: by raw-openssl's and asio-ssl's; tlsio-openssl-tls13: "
                    "by asio-ssl-tls13's; tlsio-dtls: by raw-dtls's). MB = 10^6 bytes of "
                    "application data (dtls-echo: of the messages that came back).\n");
}

void print_errors(std::FILE *out, const std::vector<figure_result> &all) {
  for (const auto &r : all)
    if (r.errors)
      std::fprintf(out, "ERRORS in %s: %llu, first: %s\n", one_line(r).c_str(),
                   static_cast<unsigned long long>(r.errors), r.first_error.c_str());
}

} // namespace bench
