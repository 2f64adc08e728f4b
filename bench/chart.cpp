// --chart FILE.png: full handshakes per second against concurrency, one line per
// implementation, drawn by gnuplot from a data file written next to the image.
#include "report.hpp"

#include <cstdlib>
#include <fstream>
#include <algorithm>
#include <map>

#ifndef TLSIO_BENCH_PLOT_SCRIPT
#define TLSIO_BENCH_PLOT_SCRIPT "bench/plot.gnuplot"
#endif

namespace bench {
namespace {

bool charted(const figure_result &r, const figure_result &first) {
  return r.spec.mode == mode::handshake_full && r.spec.threads == 1 &&
         r.spec.cert == first.spec.cert && r.spec.group == first.spec.group;
}

/// concurrency -> impl -> hs/s
using series = std::map<int, std::map<impl, double>>;

bool write_data(const std::string &path, const series &s, const std::vector<impl> &impls) {
  std::ofstream out(path);
  out << "concurrency";
  for (impl i : impls)
    out << ' ' << name(i);
  out << '\n';
  for (const auto &[n, values] : s) {
    out << n;
    for (impl i : impls) {
      auto it = values.find(i);
      if (it == values.end())
        out << " ?";
      else
        out << ' ' << it->second;
    }
    out << '\n';
  }
  return bool(out);
}

} // namespace

bool write_chart(const std::string &png, const std::vector<figure_result> &all,
                 std::string &message) {
  const figure_result *first = nullptr;
  series s;
  std::vector<impl> impls;
  for (const auto &r : all) {
    if (r.spec.mode != mode::handshake_full || r.spec.threads != 1)
      continue;
    if (!first)
      first = &r;
    if (!charted(r, *first))
      continue;
    s[r.spec.concurrency][r.spec.impl] = r.value;
    if (std::find(impls.begin(), impls.end(), r.spec.impl) == impls.end())
      impls.push_back(r.spec.impl);
  }
  if (!first || png.find('\'') != std::string::npos) {
    message = first ? "the chart's file name may not contain a quote" : "no handshake figures";
    return false;
  }
  auto data = png + ".dat";
  if (!write_data(data, s, impls)) {
    message = "cannot write " + data;
    return false;
  }
  auto subtitle = std::string(name(first->spec.cert)) + ", " + name(first->spec.group) +
                  ", TLS 1.2 AES-128-GCM, 1 thread, server and clients in one process";
  auto command = "gnuplot -e \"datafile='" + data + "'; outfile='" + png + "'; subtitle='" +
                 subtitle + "'; columns=" + std::to_string(impls.size() + 1) +
                 "; xmax=" + std::to_string(s.rbegin()->first) + "\" '" +
                 TLSIO_BENCH_PLOT_SCRIPT + "'";
  if (std::system(command.c_str()) != 0) {
    message = "gnuplot failed: " + command;
    return false;
  }
  return true;
}

} // namespace bench
