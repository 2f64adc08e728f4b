// What every figure shares: the certificates, the durations, and (two-process mode) the
// server to talk to.
#pragma once

#include "measure.hpp"
#include "pki.hpp"

#include <asio/ip/tcp.hpp>

#include <optional>

namespace bench {

struct environment {
  bench::pki pki;
  timing durations;
  int idle_connections = 2000;
  bool write_coalescing = false; ///< tlsio streams use stream::set_write_coalescing(true)
  /// --role client: the server in the other process, and its CA certificate.
  std::optional<asio::ip::tcp::endpoint> remote;
  identity_set remote_identity;

  const identity_set &identities(cert c) { return remote ? remote_identity : pki.get(c); }
};

struct figure_spec;
struct figure_result;

figure_result run_raw(environment &env, const figure_spec &spec);
figure_result run_tlsio(environment &env, const figure_spec &spec);
figure_result run_asio_ssl(environment &env, const figure_spec &spec);
figure_result run_raw_dtls(environment &env, const figure_spec &spec);
figure_result run_tlsio_dtls(environment &env, const figure_spec &spec);

/// --role server: serves every mode's connections on `port` with `threads` threads until
/// SIGINT or SIGTERM.
void serve_tlsio(environment &env, cert c, impl i, int threads, unsigned short port);
void serve_asio_ssl(environment &env, cert c, bool tls13, int threads, unsigned short port);

} // namespace bench
