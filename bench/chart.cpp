// --chart FILE.png: full handshakes per second against concurrency, one line per
// implementation (1 thread, the first certificate and group of the run), drawn by gnuplot
// with bench/plot.gnuplot from a data file written next to the image (FILE.png.dat).
#include "report.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>

#ifndef TLSIO_BENCH_PLOT_SCRIPT
#define TLSIO_BENCH_PLOT_SCRIPT "bench/plot.gnuplot"
#endif

namespace bench {
namespace {

struct series {
  std::map<int, std::map<impl, double>> by_concurrency; // N -> impl -> hs/s
  std::vector<impl> impls;                              // in the order of the run
  const figure_result *first = nullptr;                 // gives the certificate and group
  double others_cores = 0, points = 0;                  // noise: other processes' CPU
};

series collect(const std::vector<figure_result> &all) {
  series s;
  for (const auto &r : all) {
    if (r.spec.mode != mode::handshake_full || r.spec.threads != 1)
      continue;
    if (!s.first)
      s.first = &r;
    if (r.spec.cert != s.first->spec.cert || r.spec.group != s.first->spec.group)
      continue;
    s.by_concurrency[r.spec.concurrency][r.spec.impl] = r.value;
    s.others_cores += r.others_cores;
    s.points += 1;
    if (std::find(s.impls.begin(), s.impls.end(), r.spec.impl) == s.impls.end())
      s.impls.push_back(r.spec.impl);
  }
  return s;
}

bool write_data(const std::string &path, const series &s) {
  std::ofstream out(path);
  out << "concurrency";
  for (impl i : s.impls)
    out << ' ' << name(i);
  out << '\n';
  for (const auto &[n, values] : s.by_concurrency) {
    out << n;
    for (impl i : s.impls) {
      auto it = values.find(i);
      out << ' ';
      if (it == values.end())
        out << '?'; // not measured at this concurrency
      else
        out << it->second;
    }
    out << '\n';
  }
  return bool(out);
}

std::string gnuplot_command(const std::string &data, const std::string &png, const series &s) {
  char noise[96];
  std::snprintf(noise, sizeof noise, "; other processes used %.1f CPUs meanwhile",
                s.others_cores / s.points);
  auto subtitle = std::string(name(s.first->spec.cert)) + ", " + name(s.first->spec.group) +
                  ", 1 thread, server and clients in one process" + noise;
  return "gnuplot -e \"datafile='" + data + "'; outfile='" + png + "'; subtitle='" + subtitle +
         "'; columns=" + std::to_string(s.impls.size() + 1) +
         "; xmax=" + std::to_string(s.by_concurrency.rbegin()->first) + "\" '" +
         TLSIO_BENCH_PLOT_SCRIPT + "'";
}

} // namespace

bool write_chart(const std::string &png, const std::vector<figure_result> &all,
                 std::string &message) {
  auto s = collect(all);
  if (!s.first) {
    message = "no full handshake figure with 1 thread";
    return false;
  }
  if (png.find_first_of("'\"") != std::string::npos) {
    message = "the chart's file name may not contain quotes";
    return false;
  }
  auto data = png + ".dat";
  if (!write_data(data, s)) {
    message = "cannot write " + data;
    return false;
  }
  auto command = gnuplot_command(data, png, s);
  if (std::system(command.c_str()) != 0) {
    message = "gnuplot failed: " + command;
    return false;
  }
  return true;
}

} // namespace bench
