// The command line.
#pragma once

#include "figure.hpp"

#include <optional>
#include <string>
#include <vector>

namespace bench {

struct options {
  bool quick = false;
  std::string json_file, chart_file;
  std::optional<double> measure_s, warmup_s;
  int rounds = 0; // 0: 1 with --quick, else 3
  int concurrency = 16;
  std::vector<int> threads{1, 2};
  std::vector<int> sweep{1, 4, 16, 64};
  std::vector<int> write_bytes{16384, 1024}; // the bulk figures' write sizes
  bool write_coalescing = false;             // tlsio streams coalesce their writes
  int idle_connections = 0;                  // 0: 2000, or 250 with --quick
  std::vector<impl> impls{impl::raw,      impl::tlsio,     impl::asio_ssl, impl::asio_ssl_tls13,
                          impl::raw_dtls, impl::tlsio_dtls};
  std::vector<mode> modes{mode::handshake_full, mode::handshake_resumed, mode::bulk,
                          mode::idle,           mode::dtls_handshake,    mode::dtls_echo};
  std::vector<cert> certs;   // empty: ecdsa-p256 (--quick) or both
  std::vector<group> groups; // empty: x25519 (--quick) or both

  // Two processes: --role server serves; --role client measures against it.
  std::string role;
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  std::string ca_file = "bench-ca.pem";
};

/// Parses argv; throws std::invalid_argument with a message. --help prints the usage and
/// exits.
options parse_options(int argc, char **argv);

} // namespace bench
