#include "figure.hpp"

namespace bench {

const char *name(impl i) {
  switch (i) {
  case impl::raw:
    return "raw";
  case impl::tlsio:
    return "tlsio";
  case impl::asio_ssl:
    return "asio-ssl";
  case impl::asio_ssl_tls13:
    return "asio-ssl-tls13";
  case impl::raw_openssl:
    return "raw-openssl";
  case impl::tlsio_openssl:
    return "tlsio-openssl";
  case impl::tlsio_openssl_tls13:
    return "tlsio-openssl-tls13";
  case impl::raw_dtls:
    return "raw-dtls";
  case impl::tlsio_dtls:
    return "tlsio-dtls";
  }
  return "?";
}

bool is_tls13(impl i) { return i == impl::asio_ssl_tls13 || i == impl::tlsio_openssl_tls13; }

bool is_tlsio(impl i) {
  return i == impl::tlsio || i == impl::tlsio_openssl || i == impl::tlsio_openssl_tls13 ||
         i == impl::tlsio_dtls;
}

bool is_dtls(impl i) { return i == impl::raw_dtls || i == impl::tlsio_dtls; }

bool is_dtls(mode m) { return m == mode::dtls_handshake || m == mode::dtls_echo; }

bool is_throughput(mode m) { return m == mode::bulk || m == mode::dtls_echo; }

std::optional<impl> raw_of(impl i) {
  switch (i) {
  case impl::tlsio:
    return impl::raw;
  case impl::tlsio_openssl:
    return impl::raw_openssl;
  case impl::tlsio_dtls:
    return impl::raw_dtls;
  default:
    return std::nullopt;
  }
}

impl asio_of(impl i) { return is_tls13(i) ? impl::asio_ssl_tls13 : impl::asio_ssl; }

const char *name(mode m) {
  switch (m) {
  case mode::handshake_full:
    return "handshake-full";
  case mode::handshake_resumed:
    return "handshake-resumed";
  case mode::bulk:
    return "bulk";
  case mode::idle:
    return "idle";
  case mode::dtls_handshake:
    return "dtls-handshake";
  case mode::dtls_echo:
    return "dtls-echo";
  }
  return "?";
}

const char *name(cert c) { return c == cert::ecdsa_p256 ? "ecdsa-p256" : "rsa-2048"; }

const char *name(group g) { return g == group::x25519 ? "x25519" : "secp256r1"; }

std::string figure_spec::key() const {
  return std::string(name(mode)) + "/" + std::to_string(threads) + "/" +
         std::to_string(concurrency) + "/" + name(cert) + "/" + name(group) + "/" +
         std::to_string(write_bytes);
}

namespace {

/// The figures from the window's sums.
void derive(figure_result &r) {
  r.others_cores = r.seconds > 0 ? r.others_cpu_seconds / r.seconds : 0;
  if (is_throughput(r.spec.mode)) {
    r.value = r.seconds > 0 ? double(r.bytes) / r.seconds / 1e6 : 0;
    r.unit = "MB/s";
    r.cpu_s_per_mb = r.bytes ? r.cpu_seconds / (double(r.bytes) / 1e6) : 0;
    return;
  }
  r.value = r.seconds > 0 ? double(r.count) / r.seconds : 0;
  r.unit = "hs/s";
  auto ms = r.latencies_ms;
  r.p50_ms = percentile(ms, 50);
  r.p99_ms = percentile(ms, 99);
  r.cpu_s_per_hs = r.count ? r.cpu_seconds / double(r.count) : 0;
}

} // namespace

figure_result timed_result(const figure_spec &spec, const window &w, const counters &c,
                           const std::vector<latency_sample> &latencies) {
  figure_result r;
  r.spec = spec;
  r.count = w.done;
  r.resumed = w.resumed;
  r.sent = w.sent;
  r.lost = w.lost;
  r.errors = c.errors.load();
  r.first_error = c.first_error();
  r.seconds = w.seconds;
  r.cpu_seconds = w.cpu_seconds;
  r.others_cpu_seconds = w.others_cores * w.seconds;
  r.bytes = w.bytes;
  if (!is_throughput(spec.mode))
    r.latencies_ms = durations_ms(latencies, w.from, w.to);
  r.rounds = 1;
  derive(r);
  return r;
}

figure_result merge(const std::vector<figure_result> &rounds) {
  if (rounds.size() == 1 || rounds.front().rounds == 0)
    return rounds.front(); // one round, or not timed (idle)
  figure_result sum = rounds.front();
  for (std::size_t i = 1; i < rounds.size(); ++i) {
    const auto &r = rounds[i];
    sum.count += r.count;
    sum.resumed += r.resumed;
    sum.sent += r.sent;
    sum.lost += r.lost;
    sum.errors += r.errors;
    if (sum.first_error.empty())
      sum.first_error = r.first_error;
    if (sum.negotiated.empty())
      sum.negotiated = r.negotiated;
    sum.seconds += r.seconds;
    sum.cpu_seconds += r.cpu_seconds;
    sum.others_cpu_seconds += r.others_cpu_seconds;
    sum.bytes += r.bytes;
    sum.latencies_ms.insert(sum.latencies_ms.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    sum.rounds += r.rounds;
  }
  derive(sum);
  return sum;
}

} // namespace bench
