// The tools' command lines (issue 16): --help, --version, HOST:PORT, the curl and s_client
// option names, -v, the exit status of each kind of failure, --generate's printed command
// and --threads. Part of the tools_test executable; the peers are those of tools_test.cpp.
#include "tools/fixtures.hpp"

#include <tlsio/connect.hpp>
#include <tlsio/version.hpp>

#include <asio/io_context.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <thread>

using namespace tools_test;

namespace {

/// A port on 127.0.0.1 where nothing listens.
std::string closed_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor closed(io, {asio::ip::make_address("127.0.0.1"), 0});
  return std::to_string(closed.local_endpoint().port());
}

/// The command tlsio-server --generate suggests: the rest of its log line after "e.g.: ".
/// The line goes to standard error after "listening on" reaches standard output, so it is
/// waited for (CI once read standard error before it arrived).
std::string suggested_command(child_process &server) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    auto log = server.err();
    auto start = log.find("e.g.: ");
    if (start != std::string::npos && log.find('\n', start) != std::string::npos) {
      start += 6;
      return log.substr(start, log.find('\n', start) - start);
    }
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                    "no suggested command in: " << log);
    std::this_thread::sleep_for(10ms);
  }
}

} // namespace

TEST_CASE("--help lists every option with its default, and the exit statuses") {
  temp_dir dir;
  auto client = run({tool("tlsio-client"), "--help"}, "", dir.path(), "client");
  CHECK(client.status == 0);
  for (auto flag :
       {"--ca FILE", "--cacert FILE", "-k, --insecure", "--servername NAME", "--alpn P,...",
        "--cert FILE", "--key FILE", "--pass PASSWORD", "--engine NAME", "--tls1.2, --tls1.3",
        "-v, --verbose", "-h, --help", "--version", "HOST:PORT", "--dtls"})
    CHECK_MESSAGE(contains(client.out, flag), flag);
  CHECK(count(client.out, "(default: ") == 11);
  for (auto status : {"  0  success", "  2  a command line", "  3  cannot resolve",
                      "  4  the server's certificate failed", "  5  any other TLS failure"})
    CHECK_MESSAGE(contains(client.out, status), status);

  auto server = run({tool("tlsio-server"), "--help"}, "", dir.path(), "server");
  CHECK(server.status == 0);
  for (auto flag :
       {"--cert FILE", "--key FILE", "--pass PASSWORD", "--generate CA_FILE", "--host H",
        "--port N", "--threads N", "--ca FILE", "--echo", "--http", "--alpn P,...", "--no-tickets",
        "--engine NAME", "--tls1.2, --tls1.3", "--dtls", "-h, --help", "--version"})
    CHECK_MESSAGE(contains(server.out, flag), flag);
  CHECK(count(server.out, "(default") == 13);
  CHECK(contains(server.out, "  3  cannot listen"));
}

TEST_CASE("--version names tlsio's version and the engine's") {
  temp_dir dir;
  for (auto name : {"tlsio-client", "tlsio-server"}) {
    auto r = run({tool(name), "--version"}, "", dir.path(), name);
    CHECK(r.status == 0);
    CHECK(contains(r.out, std::string("tlsio ") + TLSIO_VERSION_STRING));
    CHECK(contains(r.out, tlsio::engine_name()));
  }
}

TEST_CASE("tlsio-client takes HOST:PORT, [v6]:PORT, --cacert and -k") {
  certificates c;
  auto client = tool("tlsio-client");
  SUBCASE("HOST:PORT and --cacert") {
    openssl_server server(c, "server");
    auto r = run({client, "--cacert", c.ca, "localhost:" + server.port}, "abc\n", c.path(), "hp");
    INFO("stderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(r.out == "cba\n");
  }
  SUBCASE("[::1]:PORT") {
    tlsio_server server(c.path(),
                        {"--cert", c.pem("server"), "--key", c.key("server"), "--host", "::1"});
    auto r = run({client, "--cacert", c.ca, "[::1]:" + server.port}, "v6\n", c.path(), "v6");
    INFO("stderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(r.out == "v6\n");
  }
  SUBCASE("-k accepts an unknown CA, and warns") {
    openssl_server server(c, "stranger");
    auto r = run({client, "-k", "--cacert", c.ca, "localhost:" + server.port}, "k\n", c.path(),
                 "insecure");
    CHECK(r.status == 0);
    CHECK(r.out == "k\n");
    CHECK(contains(r.err, "WARNING: --insecure"));
  }
}

TEST_CASE("tlsio-client -v prints what the handshake negotiated") {
  certificates c;
  openssl_server server(c, "server", {"-alpn", "http/1.1"});
  auto r = run({tool("tlsio-client"), "-v", "--alpn", "h2,http/1.1", "--cacert", c.ca,
                "localhost:" + server.port},
               "", c.path(), "verbose");
  INFO("stderr: " << r.err);
  CHECK(r.status == 0);
  CHECK(contains(r.err, "* connected to 127.0.0.1:" + server.port + "\n"));
  CHECK(contains(r.err, "* protocol: TLSv1.2\n"));
  CHECK(contains(r.err, "* cipher suite: TLS-ECDHE-"));
  CHECK(contains(r.err, "* ALPN: http/1.1\n"));
  CHECK(contains(r.err, "* resumed: no\n"));
  CHECK(contains(r.err, "* peer certificate subject: CN=localhost"));
  CHECK(contains(r.err, "* peer certificate issuer: CN=tlsio tools test CA"));
  CHECK(contains(r.err, " UTC\n")); // the expiry
}

TEST_CASE("each kind of failure has its exit status, and names host:port") {
  certificates c;
  auto client = tool("tlsio-client");
  SUBCASE("usage: 2") {
    for (auto args : std::vector<std::vector<std::string>>{
             {client}, {client, "::1"}, {client, "host:99999"}, {client, "a", "b", "c"}}) {
      auto r = run(args, "", c.path(), "usage");
      CHECK(r.status == 2);
      CHECK(contains(r.err, "usage: tlsio-client"));
    }
  }
  SUBCASE("nothing listening: 3") {
    auto port = closed_port();
    check_failure(run({client, "127.0.0.1:" + port}, "", c.path(), "refused"),
                  "tlsio-client: 127.0.0.1:" + port + ": cannot connect: ", 3);
  }
  SUBCASE("a host that does not resolve: 3") {
    check_failure(run({client, "no-such-host.invalid:443"}, "", c.path(), "unresolved"),
                  "tlsio-client: no-such-host.invalid:443: cannot resolve: ", 3);
  }
  SUBCASE("an untrusted certificate: 4") {
    openssl_server server(c, "stranger");
    check_failure(run({client, "--cacert", c.ca, "localhost:" + server.port}, "", c.path(), "v"),
                  "tlsio-client: localhost:" + server.port + ": certificate not trusted", 4);
  }
  SUBCASE("a server that refuses the handshake: 5") {
    openssl_server server(c, "server", {"-Verify", "1", "-CAfile", c.ca.string()});
    check_failure(run({client, "--cacert", c.ca, "localhost:" + server.port}, "", c.path(), "t"),
                  "tlsio-client: localhost:" + server.port + ": ", 5);
  }
  SUBCASE("a CA file that cannot be read: 1") {
    check_failure(run({client, "--cacert", "missing.pem", "localhost:" + closed_port()}, "",
                      c.path(), "missing"),
                  "missing.pem", 1);
  }
}

TEST_CASE("--engine takes an engine of this build; --tls1.3 one that speaks it") {
  certificates c;
  auto identity = std::vector<std::string>{"--cert", c.pem("server"), "--key", c.key("server")};
  for (auto name : {"tlsio-client", "tlsio-server"}) {
    CAPTURE(name);
    auto with = [&](std::vector<std::string> args) {
      args.insert(args.begin(), tool(name));
      if (std::string(name) == "tlsio-server")
        args.insert(args.end(), identity.begin(), identity.end());
      else
        args.push_back("localhost:" + closed_port());
      return run(args, "", c.path(), name);
    };
    auto bogus = with({"--engine", "bogus"});
    INFO("stderr: " << bogus.err);
    CHECK(bogus.status == 2);
    CHECK(
        contains(bogus.err, "--engine bogus: no such TLS engine in this build; it has mbedtls ("));
    CHECK(contains(bogus.err, "usage: " + std::string(name)));

    auto tls13 = with({"--engine", "mbedtls", "--tls1.3"});
    INFO("stderr: " << tls13.err);
    CHECK(tls13.status == 2);
    CHECK(contains(tls13.err, "--tls1.3: the Mbed TLS "));
#if TLSIO_HAS_OPENSSL
    CHECK(contains(tls13.err, " engine does not speak TLS 1.3; engines that do: openssl ("));
#endif
    CHECK(contains(tls13.err, "usage: " + std::string(name)));
  }
}

TEST_CASE("tlsio-server: usage 2, a port in use 3") {
  certificates c;
  auto server_tool = tool("tlsio-server");
  auto usage = run({server_tool, "--generate", "ca.pem", "--threads", "0"}, "", c.path(), "u");
  CHECK(usage.status == 2);
  tlsio_server first(c.path(), {"--cert", c.pem("server"), "--key", c.key("server")});
  check_failure(run({server_tool, "--cert", c.pem("server"), "--key", c.key("server"), "--host",
                     "127.0.0.1", "--port", first.port},
                    "", c.path(), "in-use"),
                "cannot listen on 127.0.0.1:" + first.port, 3);
  CHECK(first.stop() == 0);
}

TEST_CASE("tlsio-server --generate prints a command that works as printed") {
  temp_dir dir;
  auto ca = (dir.path() / "generated-ca.pem").string();
  SUBCASE("--http: curl") {
    tlsio_server server(dir.path(), {"--generate", ca, "--http"});
    auto command = suggested_command(server.process);
    CHECK(command.starts_with("curl --cacert " + ca + " https://127.0.0.1:" + server.port));
    if (auto curl = find_program("curl")) {
      auto r = run({"/bin/sh", "-c", command + " --silent --show-error"}, "", dir.path(), "curl");
      INFO("curl stderr: " << r.err);
      CHECK(r.status == 0);
      CHECK(contains(r.out, "hello from tlsio"));
    } else {
      MESSAGE("curl is not installed: the printed command was not run");
    }
    CHECK(server.stop() == 0);
  }
  SUBCASE("echo: tlsio-client, which the tools' directory provides") {
    tlsio_server server(dir.path(), {"--generate", ca});
    auto command = suggested_command(server.process);
    CHECK(contains(command, "tlsio-client --cacert " + ca + " 127.0.0.1:" + server.port));
    auto path = fs::path(tool("tlsio-client")).parent_path().string() + ":" + std::getenv("PATH");
    auto r = run({"/usr/bin/env", "PATH=" + path, "/bin/sh", "-c", command}, "", dir.path(),
                 "tlsio-client");
    INFO("stderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(r.out == "hello\n");
    CHECK(server.stop() == 0);
  }
  SUBCASE("--dtls: tlsio-client --dtls") {
    tlsio_server server(dir.path(), {"--dtls", "--generate", ca});
    auto command = suggested_command(server.process);
    CHECK(command ==
          "echo hello | tlsio-client --dtls --cacert " + ca + " 127.0.0.1:" + server.port);
    auto path = fs::path(tool("tlsio-client")).parent_path().string() + ":" + std::getenv("PATH");
    auto r = run({"/usr/bin/env", "PATH=" + path, "/bin/sh", "-c", command}, "", dir.path(),
                 "tlsio-client-dtls");
    INFO("stderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(r.out == "hello\n");
    CHECK(server.stop() == 0);
  }
}

TEST_CASE("tlsio-server --threads 2: two acceptors on one port, both serving") {
  certificates c;
  tlsio_server server(c.path(),
                      {"--cert", c.pem("server"), "--key", c.key("server"), "--threads", "2"});
  SUBCASE("two clients at once") {
    auto client = tool("tlsio-client");
    child_process first({client, "--cacert", c.ca.string(), "localhost:" + server.port}, c.path(),
                        "first");
    child_process second({client, "--cacert", c.ca.string(), "localhost:" + server.port}, c.path(),
                         "second");
    first.write_stdin("one\n");
    second.write_stdin("two\n");
    CHECK(first.wait_for_output("one\n", 10s));
    CHECK(second.wait_for_output("two\n", 10s));
    first.close_stdin();
    second.close_stdin();
    CHECK(first.wait(10s) == 0);
    CHECK(second.wait(10s) == 0);
  }
  SUBCASE("the kernel spreads connections over both threads") {
    // SO_REUSEPORT hashes each connection's addresses: 64 connections all reaching one of
    // two acceptors would happen once in 2^63 runs.
    tlsio::context ctx{tlsio::role::client};
    ctx.set_ca_bundle(c.ca);
    asio::io_context io;
    auto both_seen = [&] {
      auto log = server.process.err();
      return contains(log, "thread 1: ") && contains(log, "thread 2: ");
    };
    for (int i = 0; i < 64 && !both_seen(); ++i) {
      // The handshake is bounded by the context's timeout; nothing after it could wait.
      auto s = tlsio::connect(io, ctx, "localhost", server.port);
      s.lowest_layer().close();
    }
    CHECK(server.process.wait_for_error("thread 1: ", 10s));
    CHECK(server.process.wait_for_error("thread 2: ", 10s));
  }
  SUBCASE("a second server on its port is refused, not let into its SO_REUSEPORT group") {
    auto second = run({tool("tlsio-server"), "--host", "127.0.0.1", "--port", server.port, "--cert",
                       c.pem("server"), "--key", c.key("server"), "--threads", "2"},
                      "", c.path(), "second-server", 10s);
    CHECK(second.status == 3);
    CHECK(contains(second.err, "cannot listen on 127.0.0.1:" + server.port));
  }
  CHECK(server.stop() == 0);
}
