// Production features against real peers: ALPN with openssl s_client and curl, SNI virtual
// hosts with openssl s_client, session resumption with openssl's saved sessions.
#include "interop.hpp"

#include "../engine_pair.hpp"

#include <doctest/doctest.h>

using namespace interop;
namespace ti = tlsio::test_identity;

namespace {

// openssl s_client that connects, prints what was negotiated, and leaves.
std::string s_client_report(const pki &p, unsigned short port, std::vector<std::string> extra) {
  std::vector<std::string> argv{"openssl",  "s_client",
                                "-connect", "127.0.0.1:" + std::to_string(port),
                                "-CAfile",  p.root_pem.string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  require_program("openssl");
  process client(argv, {.timeout = 20s});
  client.close_stdin();
  auto status = client.wait(20s);
  CHECK_MESSAGE(status, client.describe());
  return client.out() + client.err();
}

} // namespace

TEST_CASE("ALPN with openssl s_client and curl") {
  const auto &p = pki::ecdsa();
  auto ctx = p.server_context();
  ctx.set_alpn({"h2", "http/1.1"});
  tls_server server(ctx, echo_until_close());

  auto h2 = s_client_report(p, server.port(), {"-servername", "localhost", "-alpn", "h2,http/1.1"});
  CHECK_MESSAGE(h2.find("ALPN protocol: h2") != std::string::npos, h2);
  auto h1 = s_client_report(p, server.port(), {"-servername", "localhost", "-alpn", "http/1.1"});
  CHECK_MESSAGE(h1.find("ALPN protocol: http/1.1") != std::string::npos, h1);
  auto none = s_client_report(p, server.port(), {"-servername", "localhost", "-alpn", "imap"});
  CHECK_MESSAGE(none.find("no application protocol") != std::string::npos, none);

  require_program("curl");
  process curl({"curl", "-sv", "--http2", "--max-time", "5", "--cacert", p.root_pem.string(),
                "https://localhost:" + server.port_text() + "/"},
               {.timeout = 20s});
  curl.close_stdin();
  curl.wait(20s);
  CHECK_MESSAGE(curl.err().find("ALPN: server accepted h2") != std::string::npos, curl.describe());
}

TEST_CASE("SNI virtual hosts with openssl s_client") {
  const auto &p = pki::ecdsa();
  auto other = p.intermediate.issue({.common_name = "other.test", .dns_names = {"other.test"}});
  auto ctx = p.server_context();
  ctx.add_virtual_host({"other.test"}, other.chain_pem, other.private_key_pem);
  tls_server server(ctx, echo_until_close());

  auto named = s_client_report(
      p, server.port(),
      {"-servername", "other.test", "-verify_hostname", "other.test", "-verify_return_error"});
  CHECK_MESSAGE(named.find("CN = other.test") != std::string::npos, named);
  CHECK_MESSAGE(named.find("Verify return code: 0 (ok)") != std::string::npos, named);
  auto unnamed = s_client_report(p, server.port(), {"-noservername"});
  CHECK_MESSAGE(unnamed.find("CN = localhost") != std::string::npos, unnamed);
}

TEST_CASE("session tickets: openssl s_client resumes with the tlsio server") {
  const auto &p = pki::ecdsa();
  auto ctx = p.server_context();
  ctx.enable_session_tickets();
  tls_server server(ctx, echo_until_close());
  temp_dir dir;
  auto saved = (dir / "session.pem").string();

  // TLS 1.2: s_client, its input closed, may leave before a TLS 1.3 ticket (which comes after
  // the handshake) arrives; TLS 1.3 resumption is tested in memory and through the cache.
  auto first = s_client_report(p, server.port(),
                               {"-servername", "localhost", "-tls1_2", "-sess_out", saved});
  CHECK_MESSAGE(first.find("New, TLSv1.2") != std::string::npos, first);
  auto second =
      s_client_report(p, server.port(), {"-servername", "localhost", "-tls1_2", "-sess_in", saved});
  CHECK_MESSAGE(second.find("Reused, TLSv1.2") != std::string::npos, second);
}
