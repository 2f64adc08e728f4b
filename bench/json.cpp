// --json FILE: one object per figure.
#include "report.hpp"

#include <fstream>

namespace bench {
namespace {

std::string quoted(const std::string &s) {
  std::string q = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\')
      q += '\\';
    if (static_cast<unsigned char>(ch) >= 0x20)
      q += ch;
  }
  return q + "\"";
}

struct object {
  std::string text;
  void add(const char *key, const std::string &raw_value) {
    text += (text.empty() ? "{" : ", ") + quoted(key) + ": " + raw_value;
  }
  void add(const char *key, double v) {
    char number[64];
    std::snprintf(number, sizeof number, "%.6g", v);
    add(key, std::string(number));
  }
  void add(const char *key, const std::optional<double> &v) {
    if (v)
      add(key, *v);
  }
};

std::string to_json(const figure_result &r) {
  const auto &s = r.spec;
  object o;
  o.add("impl", quoted(name(s.impl)));
  o.add("mode", quoted(name(s.mode)));
  o.add("threads", double(s.threads));
  o.add("concurrency", double(s.concurrency));
  o.add("cert", quoted(name(s.cert)));
  o.add("group", quoted(name(s.group)));
  o.add("value", r.value);
  o.add("unit", quoted(r.unit));
  o.add("p50_ms", r.p50_ms);
  o.add("p99_ms", r.p99_ms);
  o.add("cpu_s_per_hs", r.cpu_s_per_hs);
  if (s.write_bytes)
    o.add("write_bytes", double(s.write_bytes));
  o.add("cpu_s_per_mb", r.cpu_s_per_mb);
  o.add("kib_per_end", r.kib_per_end);
  o.add("heap_kib_per_end", r.heap_kib_per_end);
  o.add("establish_s", r.establish_s);
  if (!is_throughput(s.mode))
    o.add("count", double(r.count));
  if (s.mode == mode::dtls_echo) {
    o.add("sent", double(r.sent));
    o.add("lost", double(r.lost));
  }
  if (s.mode == mode::handshake_resumed)
    o.add("resumed", double(r.resumed));
  o.add("errors", double(r.errors));
  o.add("others_cores", r.others_cores);
  if (r.rounds > 0)
    o.add("rounds", double(r.rounds));
  o.add("negotiated", quoted(r.negotiated));
  return o.text + "}";
}

} // namespace

bool write_json(const std::string &path, const std::vector<figure_result> &all) {
  std::ofstream out(path);
  out << "[\n";
  for (std::size_t i = 0; i < all.size(); ++i)
    out << "  " << to_json(all[i]) << (i + 1 < all.size() ? ",\n" : "\n");
  out << "]\n";
  return bool(out);
}

} // namespace bench
