// Two engines back to back in memory: the wires between them and a pump (test helper).
#pragma once

#include <tlsio/context.hpp>
#include <tlsio/engine.hpp>
#include <tlsio/error.hpp>
#include <tlsio/testing/test_identity.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tlsio_test {

/// The backend the tests run on: $TLSIO_TEST_BACKEND ("mbedtls" or "openssl"), else the
/// build's default. CTest runs each backend-neutral test once per backend ("name[openssl]").
tlsio::backend backend_under_test();

/// The tests run on the OpenSSL backend (TLS 1.3 by default).
inline bool on_openssl() { return backend_under_test() == tlsio::backend::openssl; }

/// The error category of the backend under test's own codes.
inline const std::error_category &backend_category() {
  return on_openssl() ? tlsio::openssl_category() : tlsio::engine_category();
}
/// What the peer programs report negotiating by default: TLS 1.3 on OpenSSL.
inline const char *expected_protocol() { return on_openssl() ? "TLSv1.3" : "TLSv1.2"; }

/// A context of the backend under test.
inline tlsio::context tested_context(tlsio::role r) {
  return tlsio::context{r, backend_under_test()};
}

/// Bytes written by one engine and not yet delivered to the other.
struct wire {
  std::vector<std::byte> bytes;

  void take_from(tlsio::engine &e) {
    auto out = e.pending_output();
    bytes.insert(bytes.end(), out.begin(), out.end());
    e.consume_output(out.size());
  }
  /// Delivers up to max bytes; false if the wire was empty.
  bool deliver_to(tlsio::engine &e, std::size_t max) {
    std::size_t n = std::min(max, bytes.size());
    if (n == 0)
      return false;
    e.put_input({bytes.data(), n});
    bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    return true;
  }
};

/// How many bytes the wire hands over at once: everything, one byte, or a random amount.
using chunker = std::function<std::size_t()>;
inline chunker whole() {
  return [] { return static_cast<std::size_t>(-1); };
}
inline chunker one_byte() {
  return [] { return std::size_t{1}; };
}
chunker random_chunks(unsigned seed, std::size_t max = 3000);

/// A client and a server engine and the two wires between them.
struct engine_pair {
  tlsio::engine client;
  tlsio::engine server;
  wire to_server, to_client;
  chunker chunk = whole();

  engine_pair(const tlsio::context &client_ctx, const tlsio::context &server_ctx,
              const std::string &server_name = "localhost")
      : client(client_ctx), server(server_ctx) {
    if (!server_name.empty())
      client.set_server_name(server_name);
  }

  struct handshake_outcome {
    tlsio::step_result client, server;
  };
  /// Runs both handshakes until both finish, one fails, or nothing moves.
  handshake_outcome handshake();

  /// Writes data from one side; reads it all on the other. Returns what was read.
  std::string send(tlsio::engine &from, wire &w, tlsio::engine &to, const std::string &data);
  /// The client's session to resume, once a server-to-client exchange has carried its
  /// ticket (under TLS 1.3 it comes after the handshake).
  std::optional<tlsio::session> client_session();
  /// Reads on e until it has n bytes or the step stops: returns the last step's result.
  tlsio::step_result read_until(tlsio::engine &e, wire &w, std::size_t n, std::string &got);
};

/// A throwaway CA with contexts that trust it, shared by the tests of one executable.
struct test_pki {
  tlsio::test_identity::authority ca = tlsio::test_identity::authority::create("tlsio test CA");
  tlsio::test_identity::identity server_identity = ca.issue({.common_name = "localhost",
                                                             .dns_names = {"localhost"},
                                                             .ip_addresses = {"127.0.0.1", "::1"}});

  tlsio::context client_context() const;
  tlsio::context server_context(const tlsio::test_identity::identity &id) const;
  tlsio::context server_context() const { return server_context(server_identity); }

  static const test_pki &shared();
};

} // namespace tlsio_test
