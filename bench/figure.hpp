// What one figure is (implementation, mode, threads, concurrency, certificate, group) and
// what measuring it gave.
#pragma once

#include "measure.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace bench {

/// raw and tlsio run on Mbed TLS; raw_openssl and tlsio_openssl are the same on tlsio's
/// OpenSSL engine (TLS 1.2, to compare with the rest), tlsio_openssl_tls13 is it on TLS 1.3.
/// raw_dtls (two tlsio::dtls::engine's in memory) and tlsio_dtls (tlsio::dtls over loopback
/// UDP) run the DTLS modes only, on Mbed TLS (the only backend with DTLS).
enum class impl {
  raw,
  tlsio,
  asio_ssl,
  asio_ssl_tls13,
  raw_openssl,
  tlsio_openssl,
  tlsio_openssl_tls13,
  raw_dtls,
  tlsio_dtls
};
enum class mode { handshake_full, handshake_resumed, bulk, idle, dtls_handshake, dtls_echo };
enum class cert { ecdsa_p256, rsa_2048 };
enum class group { x25519, secp256r1 };

const char *name(impl i);
const char *name(mode m);
const char *name(cert c);
const char *name(group g);

/// The informational TLS 1.3 rows, which the plan leaves out where they cost most.
bool is_tls13(impl i);
/// The tlsio rows, which the ratio columns and the targets compare with baselines.
bool is_tlsio(impl i);
/// The DTLS implementations and modes, which only go with each other.
bool is_dtls(impl i);
bool is_dtls(mode m);
/// The modes measured in MB/s (bulk, dtls_echo) rather than in handshakes/s.
bool is_throughput(mode m);
/// The in-memory limit of the engine a tlsio row runs on (raw, raw_openssl or raw_dtls);
/// nullopt for TLS 1.3, which has no raw row.
std::optional<impl> raw_of(impl i);
/// The asio-ssl row of the same TLS version as a tlsio row.
impl asio_of(impl i);

struct figure_spec {
  bench::impl impl = impl::tlsio;
  bench::mode mode = mode::handshake_full;
  int threads = 1;
  int concurrency = 16;
  bench::cert cert = cert::ecdsa_p256;
  bench::group group = group::x25519;
  std::size_t write_bytes = 0; // bulk: the size of each application write; dtls_echo: message

  /// write_bytes as the tables show it: "16K", "1K", "100B"; empty if not bulk.
  std::string write_label() const {
    if (write_bytes == 0)
      return "";
    return write_bytes % 1024 == 0 ? std::to_string(write_bytes / 1024) + "K"
                                   : std::to_string(write_bytes) + "B";
  }

  /// Everything but the implementation: figures with equal keys are compared.
  std::string key() const;
};

struct figure_result {
  figure_spec spec;
  double value = 0;
  std::string unit; // "hs/s", "MB/s", "KiB/conn"
  std::optional<double> p50_ms, p99_ms, cpu_s_per_hs;
  std::optional<double> establish_s;      // idle: time to open all connections
  std::optional<double> kib_per_end;      // idle: per TLS endpoint (a connection has two here)
  std::optional<double> heap_kib_per_end; // idle: heap bytes allocated (resident or not)
  std::optional<double> cpu_s_per_mb;     // bulk
  std::uint64_t count = 0;                // handshakes (or connections) in the window
  std::uint64_t resumed = 0;              // of which were resumed
  std::uint64_t sent = 0, lost = 0;       // dtls_echo: messages sent; not back in time
  std::uint64_t errors = 0;
  std::string first_error;
  std::string negotiated;  // "TLSv1.2 TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"
  double others_cores = 0; // CPU other processes used during the window (noise)

  // What a timed figure's window measured (several rounds add up).
  double seconds = 0, cpu_seconds = 0, others_cpu_seconds = 0;
  std::uint64_t bytes = 0;
  std::vector<double> latencies_ms;
  int rounds = 0;
};

/// A timed figure's result from its window: hs/s with latencies and CPU per handshake, or
/// MB/s with CPU per MB.
figure_result timed_result(const figure_spec &spec, const window &w, const counters &c,
                           const std::vector<latency_sample> &latencies);

/// The rounds of one timed figure as one result: windows, counts and latencies added up.
figure_result merge(const std::vector<figure_result> &rounds);

} // namespace bench
