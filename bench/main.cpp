// tlsio-bench: tlsio measured beside its baselines in the same run, on the same certificate,
// suite and loop (GitHub issue 5). See --help and scripts/bench.sh.
#include "environment.hpp"
#include "options.hpp"
#include "plan.hpp"
#include "report.hpp"

#include <tlsio/engine.hpp>

#include <openssl/crypto.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

namespace bench {
namespace {

figure_result run_figure(environment &env, const figure_spec &spec) {
  switch (spec.impl) {
  case impl::raw:
  case impl::raw_openssl:
    return run_raw(env, spec);
  case impl::tlsio:
  case impl::tlsio_openssl:
  case impl::tlsio_openssl_tls13:
    return run_tlsio(env, spec);
  case impl::asio_ssl:
  case impl::asio_ssl_tls13:
    return run_asio_ssl(env, spec);
  case impl::raw_dtls:
    return run_raw_dtls(env, spec);
  case impl::tlsio_dtls:
    return run_tlsio_dtls(env, spec);
  }
  return {};
}

void print_header(const options &o, long file_limit) {
  std::printf("tlsio-bench: %s vs %s, %u CPUs, open files limit %ld\n",
              tlsio::engine_name().c_str(), OpenSSL_version(OPENSSL_VERSION),
              std::thread::hardware_concurrency(), file_limit);
  if (o.role == "client")
    std::printf("Stream figures: clients here, the server in another process (--role server) "
                "at %s:%u; CPU figures count this process only. raw: both engines here.\n",
                o.host.c_str(), unsigned(o.port));
  else
    std::printf("Stream figures: server and clients in one process over loopback; T threads = "
                "one io_context per thread, each with its own acceptor on the shared port "
                "(SO_REUSEPORT). raw: two engines in memory, N connections per thread.\n");
  std::printf("Each figure: the loops start one per completed connection up to N, warm up, "
              "then count over a fixed time; with --rounds R the time is split into R slices "
              "taken in turn with the baselines'.\n\n");
  std::fflush(stdout);
}

std::string read_text(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    throw std::invalid_argument("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int serve(const options &o, environment &env) {
  impl which = o.impls.size() == 1 ? o.impls.front() : impl::tlsio;
  if (is_dtls(which))
    throw std::invalid_argument("--role server serves TLS over TCP; the DTLS modes run in one "
                                "process");
  std::ofstream(o.ca_file) << env.pki.get(o.certs.front()).ca_pem;
  std::printf("server: %s, %s; CA certificate written to %s\n", name(which), name(o.certs.front()),
              o.ca_file.c_str());
  if (is_tlsio(which))
    serve_tlsio(env, o.certs.front(), which, o.threads.front(), o.port);
  else if (which == impl::raw || which == impl::raw_openssl)
    throw std::invalid_argument("--role server serves a stream implementation, not raw");
  else
    serve_asio_ssl(env, o.certs.front(), which == impl::asio_ssl_tls13, o.threads.front(), o.port);
  return 0;
}

void set_up(const options &o, environment &env) {
  // Each round measures its share of the figure's time.
  env.durations.measure = std::chrono::milliseconds(
      static_cast<long>(1000 * o.measure_s.value_or(o.quick ? 1.0 : 3.0) / o.rounds));
  env.durations.warmup =
      std::chrono::milliseconds(static_cast<long>(1000 * o.warmup_s.value_or(o.quick ? 0.2 : 0.5)));
  env.idle_connections = o.idle_connections;
  env.write_coalescing = o.write_coalescing;
  if (o.role == "client") {
    env.remote.emplace(asio::ip::make_address(o.host), o.port);
    env.remote_identity.ca_pem = read_text(o.ca_file);
  }
}

/// Runs the figures of one key (the implementations side by side) round after round, each
/// implementation in turn, and adds each one's rounds up.
void measure_group(const options &o, environment &env, const std::vector<figure_spec> &group,
                   std::vector<figure_result> &results, std::size_t total) {
  int rounds = group.front().mode == mode::idle ? 1 : o.rounds;
  std::vector<std::vector<figure_result>> parts(group.size());
  for (int round = 1; round <= rounds; ++round)
    for (std::size_t i = 0; i < group.size(); ++i) {
      parts[i].push_back(run_figure(env, group[i]));
      std::fprintf(stderr, "[%2zu/%zu r%d/%d] %s\n", results.size() + i + 1, total, round, rounds,
                   one_line(parts[i].back()).c_str());
    }
  for (const auto &p : parts)
    results.push_back(merge(p));
}

std::vector<figure_result> measure_all(const options &o, environment &env) {
  auto plan = make_plan(o);
  std::vector<figure_result> results;
  for (std::size_t i = 0; i < plan.size();) {
    std::size_t j = i;
    while (j < plan.size() && plan[j].key() == plan[i].key())
      ++j;
    measure_group(o, env, {plan.begin() + std::ptrdiff_t(i), plan.begin() + std::ptrdiff_t(j)},
                  results, plan.size());
    i = j;
  }
  return results;
}

void report(const options &o, const std::vector<figure_result> &results) {
  std::printf("\n");
  print_negotiated(stdout, results);
  print_table(stdout, results);
  std::printf("\n");
  print_errors(stdout, results);
  std::printf("tlsio streams: write coalescing %s.\n",
              o.write_coalescing ? "on (--write-coalescing)" : "off (the default)");
  print_targets(stdout, results);
  if (!o.json_file.empty())
    std::printf("\nJSON: %s%s\n", o.json_file.c_str(),
                write_json(o.json_file, results) ? "" : " (could not be written)");
  std::string message;
  if (!o.chart_file.empty())
    std::printf("Chart: %s%s\n", o.chart_file.c_str(),
                write_chart(o.chart_file, results, message) ? ""
                                                            : (" NOT drawn: " + message).c_str());
}

int run(const options &o) {
  long file_limit = raise_file_limit();
  environment env;
  set_up(o, env);
  if (o.role == "server")
    return serve(o, env);
  print_header(o, file_limit);
  auto start = clock::now();
  auto results = measure_all(o, env);
  report(o, results);
  std::printf("Measured in %.1f s.\n", std::chrono::duration<double>(clock::now() - start).count());
  return 0;
}

} // namespace
} // namespace bench

int main(int argc, char **argv) {
  try {
    return bench::run(bench::parse_options(argc, argv));
  } catch (const std::exception &e) {
    std::fprintf(stderr, "tlsio-bench: %s\n", e.what());
    return 2;
  }
}
