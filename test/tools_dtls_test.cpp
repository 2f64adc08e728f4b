// The tools' DTLS mode (issue 15): tlsio-client --dtls and tlsio-server --dtls against each
// other and against openssl s_server / s_client -dtls1_2, their exit statuses, and the
// options --dtls refuses (--generate's command: tools_cli_test.cpp). Part of the tools_test
// executable.
#include "tools/fixtures.hpp"

#include <tlsio/version.hpp>

#include <doctest/doctest.h>

using namespace tools_test;

namespace {

/// `openssl s_server -dtls1_2`: prints what it receives, sends each line written to it.
struct openssl_dtls_server {
  child_process process;
  std::string port;

  explicit openssl_dtls_server(const certificates &c)
      : process({program("openssl"), "s_server", "-dtls1_2", "-accept", "127.0.0.1:0", "-cert",
                 c.pem("server"), "-key", c.key("server")},
                c.path(), "s_server-dtls") {
    REQUIRE_MESSAGE(process.wait_for_output("ACCEPT", 10s), "s_server: " << process.err());
    port = port_after(process.out(), "ACCEPT");
  }
};

tlsio_server dtls_server(const certificates &c) {
  return tlsio_server(c.path(), {"--dtls", "--cert", c.pem("server"), "--key", c.key("server")});
}

} // namespace

TEST_CASE("tlsio-client --dtls against tlsio-server --dtls: each line echoed") {
  certificates c;
  auto client = tool("tlsio-client");
  auto server = dtls_server(c);

  SUBCASE("HOST:PORT, -v, an unterminated last line") {
    auto r = run({client, "--dtls", "-v", "--cacert", c.ca, "localhost:" + server.port},
                 "one\ntwo\nlast", c.path(), "dtls-echo");
    INFO("stderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(r.out == "one\ntwo\nlast");
    CHECK(contains(r.err, "* protocol: DTLSv1.2\n"));
    CHECK(contains(r.err, "* resumed: no\n"));
    CHECK(contains(r.err, "* peer certificate subject: CN=localhost"));
    CHECK(server.process.wait_for_error(": DTLSv1.2 ", 10s));
  }
  SUBCASE("HOST PORT, no input") {
    auto r =
        run({client, "--dtls", "--ca", c.ca, "127.0.0.1", server.port}, "", c.path(), "dtls-empty");
    INFO("stderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(r.out.empty());
    CHECK(r.err.empty());
  }
  SUBCASE("a name the certificate does not have: the certificate's exit status") {
    check_failure(run({client, "--dtls", "--cacert", c.ca, "--servername", "wrong.example",
                       "127.0.0.1:" + server.port},
                      "never sent\n", c.path(), "dtls-wrong-name"),
                  "tlsio-client: 127.0.0.1:" + server.port + ": host name mismatch", 4);
    CHECK(server.process.wait_for_error("handshake with 127.0.0.1:", 10s));
  }
  CHECK(server.stop() == 0);
  INFO("server log: " << server.process.err());
  CHECK(contains(server.process.err(), ", DTLS over UDP"));
}

TEST_CASE("tlsio-client --dtls against openssl s_server -dtls1_2") {
  certificates c;
  openssl_dtls_server server(c);
  child_process client(
      {tool("tlsio-client"), "--dtls", "--cacert", c.ca.string(), "localhost:" + server.port},
      c.path(), "client-dtls");
  client.write_stdin("hello from tlsio-client\n");
  CHECK_MESSAGE(server.process.wait_for_output("hello from tlsio-client\n", 10s),
                "client: " << client.err());
  server.process.write_stdin("hello from s_server\n");
  CHECK(client.wait_for_output("hello from s_server\n", 10s));
  client.close_stdin(); // one reply for one line: it ends at once, with close_notify
  CHECK(client.wait(10s) == 0);
  CHECK(client.err().empty());
}

TEST_CASE("openssl s_client -dtls1_2 against tlsio-server --dtls") {
  certificates c;
  auto server = dtls_server(c);
  child_process s_client({program("openssl"), "s_client", "-dtls1_2", "-connect",
                          "127.0.0.1:" + server.port, "-CAfile", c.ca, "-verify_hostname",
                          "localhost", "-verify_return_error", "-quiet", "-no_ign_eof"},
                         c.path(), "s_client-dtls");
  s_client.write_stdin("ping over DTLS\n");
  CHECK(s_client.wait_for_output("ping over DTLS\n", 10s));
  s_client.close_stdin(); // s_client sends close_notify and exits
  CHECK(s_client.wait(10s) == 0);
  CHECK(server.stop() == 0);
  INFO("server log: " << server.process.err());
  CHECK(contains(server.process.err(), ": DTLSv1.2 "));
  CHECK(!contains(server.process.err(), "failed"));
}

TEST_CASE("openssl s_client -dtls1_2 resumes with tlsio-server --dtls's ticket; ALPN is logged") {
  certificates c;
  auto server = tlsio_server(c.path(), {"--dtls", "--cert", c.pem("server"), "--key",
                                        c.key("server"), "--alpn", "x-echo"});
  const auto session_file = (c.path() / "dtls-session.pem").string();
  auto connect = [&](const std::string &session_option, const std::string &name) {
    child_process s_client({program("openssl"), "s_client", "-dtls1_2", "-connect",
                            "127.0.0.1:" + server.port, "-CAfile", c.ca, "-verify_hostname",
                            "localhost", "-verify_return_error", "-alpn", "x-echo", session_option,
                            session_file},
                           c.path(), name);
    s_client.write_stdin("ping\n");
    CHECK(s_client.wait_for_output("ping\n", 10s));
    s_client.close_stdin();
    CHECK(s_client.wait(10s) == 0);
    return s_client.out();
  };
  auto first = connect("-sess_out", "s_client-dtls-first");
  CHECK(contains(first, "New, "));
  auto second = connect("-sess_in", "s_client-dtls-resumed");
  CHECK(contains(second, "Reused, "));
  CHECK(server.stop() == 0);
  INFO("server log: " << server.process.err());
  CHECK(contains(server.process.err(), ", full handshake, ALPN x-echo"));
  CHECK(contains(server.process.err(), ", resumed, ALPN x-echo"));
}

TEST_CASE("--dtls refuses what it cannot do, with the command line's exit status") {
  certificates c;
  auto identity = std::vector<std::string>{"--cert", c.pem("server"), "--key", c.key("server")};
  auto server_run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), tool("tlsio-server"));
    args.insert(args.end(), identity.begin(), identity.end());
    return run(args, "", c.path(), "server-refuses");
  };
  SUBCASE("--http") {
    auto r = server_run({"--dtls", "--http"});
    CHECK(r.status == 2);
    CHECK(contains(r.err, "--http: HTTP needs TCP; --dtls serves only the echo"));
  }
  SUBCASE("--threads 2") {
    auto r = server_run({"--threads", "2", "--dtls"});
    CHECK(r.status == 2);
    CHECK(contains(r.err, "--threads: --dtls serves from one UDP socket"));
  }
#if TLSIO_HAS_OPENSSL
  SUBCASE("--engine openssl") {
    auto s = server_run({"--dtls", "--engine", "openssl"});
    CHECK(s.status == 2);
    CHECK(contains(s.err, "--dtls: the OpenSSL "));
    CHECK(contains(s.err, " engine has no DTLS in tlsio; engines that do: mbedtls ("));
    auto cl = run({tool("tlsio-client"), "--engine", "openssl", "--dtls", "localhost:4433"}, "",
                  c.path(), "client-refuses");
    CHECK(cl.status == 2);
    CHECK(contains(cl.err, " engine has no DTLS in tlsio; engines that do: mbedtls ("));
    CHECK(contains(cl.err, "usage: tlsio-client"));
  }
#endif
}
