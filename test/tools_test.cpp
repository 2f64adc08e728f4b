// The command-line tools against real peers over loopback: tlsio-client against
// `openssl s_server`, and `openssl s_client` and curl against tlsio-server. Certificates are
// made by the test and kept in a temporary directory. openssl and curl come from
// scripts/setup.sh --test; without them the test fails rather than skips.
#include "tools/fixtures.hpp"

#include <tlsio/acceptor.hpp>
#include <tlsio/testing/test_identity.hpp>
#include <tlsio/version.hpp>

#include <asio/io_context.hpp>
#include <asio/write.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <thread>

using namespace std::chrono_literals;
using namespace tools_test;
namespace fs = std::filesystem;
namespace ti = tlsio::test_identity;

TEST_CASE("tlsio-client against openssl s_server") {
  certificates c;
  auto client = tool("tlsio-client");
  openssl_server server(c, "server");

  SUBCASE("data goes both ways, from a pipe") {
    auto r = run({client, "localhost", server.port, "--ca", c.ca}, "hello tlsio\nsecond line\n",
                 c.path(), "pipe");
    INFO("stderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(r.out == "oislt olleh\nenil dnoces\n");
    CHECK(r.err.empty());
  }
  SUBCASE("from a regular file, to an IP address") {
    std::ofstream(c.path() / "input.txt") << "from a file\n";
    child_process p({client, "127.0.0.1", server.port, "--ca", c.ca}, c.path(), "file",
                    c.path() / "input.txt");
    CHECK(p.wait(20s) == 0);
    CHECK(p.out() == "elif a morf\n");
    CHECK(p.err().empty());
  }
  SUBCASE("a name the certificate does not have") {
    check_failure(
        run({client, "127.0.0.1", server.port, "--ca", c.ca, "--servername", "wrong.example"}, "",
            c.path(), "servername"),
        "host name mismatch: expected wrong.example", 4);
  }
  SUBCASE("trusting the system's store, which does not know the test CA") {
    auto r = run({client, "localhost", server.port}, "", c.path(), "system");
    REQUIRE(r.status.has_value());
    CHECK(*r.status != 0);
    CHECK(count(r.err, "\n") == 1);
  }
  SUBCASE("SSLKEYLOGFILE: the client logs the session's secrets, and says so") {
    auto log = c.path() / "keys.txt";
    REQUIRE(::setenv("SSLKEYLOGFILE", log.c_str(), 1) == 0);
    auto r = run({client, "localhost", server.port, "--ca", c.ca}, "hello\n", c.path(), "keylog");
    ::unsetenv("SSLKEYLOGFILE");
    INFO("stderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(r.out == "olleh\n");
    CHECK(contains(r.err, "SSLKEYLOGFILE"));
    std::string line;
    std::getline(std::ifstream(log), line);
    CHECK(line.starts_with("CLIENT_RANDOM "));
    CHECK(line.size() == 14 + 64 + 1 + 96);
  }
  SUBCASE("nothing listening") {
    asio::io_context io;
    asio::ip::tcp::acceptor closed(io, {asio::ip::make_address("127.0.0.1"), 0});
    auto port = std::to_string(closed.local_endpoint().port());
    closed.close();
    check_failure(run({client, "127.0.0.1", port, "--ca", c.ca}, "", c.path(), "refused"),
                  "tlsio-client: 127.0.0.1:" + port + ": cannot connect: ", 3);
  }
}

TEST_CASE("tlsio-client names what is wrong with a server's certificate") {
  certificates c;
  auto client = tool("tlsio-client");
  std::string port;
  auto attempt = [&](const std::string &identity, std::vector<std::string> extra = {}) {
    openssl_server server(c, identity);
    port = server.port;
    std::vector<std::string> args{client, "localhost", server.port, "--ca", c.ca};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args, "ping\n", c.path(), "client-" + identity);
  };
  auto r = attempt("elsewhere");
  check_failure(r,
                "tlsio-client: localhost:" + port +
                    ": host name mismatch: expected localhost, certificate is for DNS:"
                    "other.example",
                4);
  r = attempt("stranger");
  check_failure(r, "tlsio-client: localhost:" + port + ": certificate not trusted", 4);
  r = attempt("expired");
  check_failure(r, "tlsio-client: localhost:" + port + ": certificate expired", 4);

  auto insecure = attempt("stranger", {"--insecure"});
  CHECK(insecure.status == 0);
  CHECK(insecure.out == "gnip\n");
  CHECK(contains(insecure.err, "WARNING"));
}

TEST_CASE("tlsio-client: a server that closes without close_notify is a failure") {
  certificates c;
  auto client = tool("tlsio-client");
  tlsio::context ctx{tlsio::role::server};
  ctx.load_certificate_chain(c.pem("server"));
  ctx.load_private_key(c.key("server"));
  asio::io_context io;
  tlsio::acceptor acceptor(io.get_executor(), ctx, "127.0.0.1", 0);
  acceptor.async_accept([&](std::error_code ec, tlsio::stream<> s) {
    if (!ec) {
      asio::write(s, asio::buffer(std::string("partial\n")));
      s.lowest_layer().close(ec); // no close_notify
    }
    acceptor.close();
  });
  std::thread server([&] { io.run(); });
  auto r =
      run({client, "localhost", std::to_string(acceptor.local_endpoint().port()), "--ca", c.ca}, "",
          c.path(), "truncated");
  server.join();
  CHECK(r.out == "partial\n");
  check_failure(r, "without close_notify", 5);
}

TEST_CASE("tlsio-client with a client certificate, against openssl s_server -Verify") {
  certificates c;
  auto client = tool("tlsio-client");
  openssl_server server(c, "server", {"-Verify", "1", "-CAfile", c.ca.string()});

  auto r = run({client, "localhost", server.port, "--ca", c.ca, "--cert", c.pem("client"), "--key",
                c.key("client"), "--pass", "secret"},
               "with a certificate\n", c.path(), "with-cert");
  INFO("stderr: " << r.err);
  CHECK(r.status == 0);
  CHECK(r.out == "etacifitrec a htiw\n");

  auto without = run({client, "localhost", server.port, "--ca", c.ca}, "no certificate\n", c.path(),
                     "without-cert");
  REQUIRE(without.status.has_value());
  CHECK(*without.status != 0);
  CHECK(count(without.err, "\n") == 1);

  auto wrong_password = run({client, "localhost", server.port, "--ca", c.ca, "--cert",
                             c.pem("client"), "--key", c.key("client"), "--pass", "wrong"},
                            "", c.path(), "wrong-password");
  check_failure(wrong_password, "wrong password", 1);
}

TEST_CASE("openssl s_client against tlsio-server --echo") {
  certificates c;
  auto openssl = program("openssl");
  tlsio_server server(c.path(), {"--cert", c.pem("server"), "--key", c.key("server")});

  child_process s_client({openssl, "s_client", "-connect", "127.0.0.1:" + server.port, "-CAfile",
                          c.ca, "-verify_return_error", "-quiet", "-no_ign_eof"},
                         c.path(), "s_client");
  s_client.write_stdin("ping from openssl\n");
  CHECK(s_client.wait_for_output("ping from openssl\n", 10s));
  s_client.close_stdin(); // s_client sends close_notify; the server answers it
  CHECK(s_client.wait(10s) == 0);
  CHECK(server.stop() == 0);
  CHECK(contains(server.process.err(), "TLSv1.2"));
  CHECK(!contains(server.process.err(), "failed"));
}

// Load generators (h2load, openssl s_time -reuse) reconnect expecting to resume.
TEST_CASE("tlsio-server resumes by default (session tickets), not with --no-tickets") {
  certificates c;
  auto openssl = program("openssl");
  auto connect_twice = [&](tlsio_server &server) {
    std::vector<std::string> base{openssl,
                                  "s_client",
                                  "-connect",
                                  "127.0.0.1:" + server.port,
                                  "-CAfile",
                                  c.ca,
                                  "-verify_return_error",
                                  "-tls1_2"};
    auto with = [&](std::vector<std::string> extra) {
      auto args = base;
      args.insert(args.end(), extra.begin(), extra.end());
      return args;
    };
    auto session = (c.path() / "session.pem").string();
    auto first = run(with({"-sess_out", session}), "", c.path(), "s_client-first");
    REQUIRE(first.status == 0);
    auto second = run(with({"-sess_in", session}), "", c.path(), "s_client-second");
    REQUIRE(second.status == 0);
    return contains(second.out, "Reused, TLSv1.2");
  };

  tlsio_server resuming(c.path(), {"--cert", c.pem("server"), "--key", c.key("server")});
  CHECK(connect_twice(resuming));
  CHECK(resuming.stop() == 0);
  CHECK(count(resuming.process.err(), ", full handshake") == 1);
  CHECK(count(resuming.process.err(), ", resumed") == 1);

  tlsio_server full(c.path(),
                    {"--cert", c.pem("server"), "--key", c.key("server"), "--no-tickets"});
  CHECK(!connect_twice(full));
  CHECK(full.stop() == 0);
  CHECK(count(full.process.err(), ", full handshake") == 2);
  CHECK(!contains(full.process.err(), ", resumed"));
}

TEST_CASE("tlsio-server --ca requires a client certificate") {
  certificates c;
  auto openssl = program("openssl");
  tlsio_server server(c.path(),
                      {"--cert", c.pem("server"), "--key", c.key("server"), "--ca", c.ca});

  SUBCASE("openssl s_client with one") {
    child_process s_client({openssl, "s_client", "-connect", "127.0.0.1:" + server.port, "-CAfile",
                            c.ca, "-verify_return_error", "-quiet", "-no_ign_eof", "-cert",
                            c.pem("client"), "-key", c.key("client"), "-pass", "pass:secret"},
                           c.path(), "s_client");
    s_client.write_stdin("with a certificate\n");
    CHECK(s_client.wait_for_output("with a certificate\n", 10s));
    s_client.close_stdin();
    CHECK(s_client.wait(10s) == 0);
  }
  SUBCASE("tlsio-client with one") {
    auto r = run({tool("tlsio-client"), "localhost", server.port, "--ca", c.ca, "--cert",
                  c.pem("client"), "--key", c.key("client"), "--pass", "secret"},
                 "echo me\n", c.path(), "tlsio-client");
    INFO("stderr: " << r.err);
    CHECK(r.status == 0);
    CHECK(r.out == "echo me\n");
  }
  SUBCASE("openssl s_client without one") {
    auto r = run({openssl, "s_client", "-connect", "127.0.0.1:" + server.port, "-CAfile", c.ca,
                  "-quiet", "-no_ign_eof"},
                 "", c.path(), "s_client-without");
    CHECK(r.status.value_or(0) != 0);
    CHECK(server.process.wait_for_error("failed", 10s));
    CHECK(contains(server.process.err(), "handshake with 127.0.0.1:"));
  }
  CHECK(server.stop() == 0);
}

TEST_CASE("curl against tlsio-server --http") {
  certificates c;
  auto curl = program("curl");
  tlsio_server server(c.path(), {"--cert", c.pem("server"), "--key", c.key("server"), "--http",
                                 "--alpn", "http/1.1,http/1.0"});
  auto url = "https://localhost:" + server.port + "/";
  auto resolve = "localhost:" + server.port + ":127.0.0.1";
  std::vector<std::string> base{curl, "-sS", "--cacert", c.ca.string(), "--resolve", resolve};
  auto curl_run = [&](std::vector<std::string> extra, const std::string &name) {
    auto args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = run(args, "", c.path(), name);
    INFO("curl stderr: " << r.err);
    CHECK(r.status == 0);
    return r;
  };

  SUBCASE("two requests on one connection") {
    auto r = curl_run({"-v", url, url + "again"}, "keep-alive");
    CHECK(count(r.out, "hello") == 2);
    CHECK(contains(r.err, "Re-using existing connection"));
    CHECK(contains(r.err, "ALPN: server accepted http/1.1"));
  }
  SUBCASE("HTTP/1.0 closes after the response") {
    auto r = curl_run({"-i", "--http1.0", url}, "http1.0");
    CHECK(contains(r.out, "HTTP/1.1 200 OK\r\n"));
    CHECK(contains(r.out, "Content-Type: text/plain\r\n"));
    CHECK(contains(r.out, "Connection: close\r\n"));
    CHECK(contains(r.out, "hello"));
  }
  SUBCASE("HEAD, and a POST body is skipped") {
    auto head = curl_run({"-I", url}, "head");
    CHECK(contains(head.out, "Content-Length: "));
    CHECK(!contains(head.out, "hello"));
    auto post = curl_run({"-d", "some=body", url, url}, "post");
    CHECK(count(post.out, "hello") == 2);
  }
  CHECK(server.stop() == 0);
}

TEST_CASE("tlsio-server --http answers a request whose lines end in a bare LF") {
  // RFC 9112 §2.2 lets a recipient take a bare LF as a line end; tlsfuzzer sends exactly this.
  certificates c;
  tlsio_server server(c.path(), {"--cert", c.pem("server"), "--key", c.key("server"), "--http"});
  auto r = run({program("openssl"), "s_client", "-connect", "127.0.0.1:" + server.port, "-CAfile",
                c.ca.string(), "-quiet"},
               "GET / HTTP/1.0\nUser-Agent: test\n\n", c.path(), "bare-lf");
  INFO("s_client stderr: " << r.err);
  CHECK(r.status == 0);
  CHECK(contains(r.out, "HTTP/1.1 200 OK\r\n"));
  CHECK(contains(r.out, "hello from tlsio"));
  CHECK(server.stop() == 0);
}

TEST_CASE("tlsio-server --generate writes a CA that curl trusts") {
  tools_test::temp_dir dir;
  auto curl = program("curl");
  auto ca = (dir.path() / "generated-ca.pem").string();
  tlsio_server server(dir.path(), {"--generate", ca, "--http"});
  auto r = run({curl, "-sS", "--cacert", ca, "--resolve", "localhost:" + server.port + ":127.0.0.1",
                "https://localhost:" + server.port + "/"},
               "", dir.path(), "curl");
  INFO("curl stderr: " << r.err);
  CHECK(r.status == 0);
  CHECK(contains(r.out, "hello"));
  CHECK(server.stop() == 0);
}

TEST_CASE("the tools refuse a command line they cannot read") {
  tools_test::temp_dir dir;
  auto client = run({tool("tlsio-client"), "localhost"}, "", dir.path(), "client");
  CHECK(client.status == 2);
  CHECK(contains(client.err, "usage: tlsio-client"));
  auto server = run({tool("tlsio-server"), "--echo"}, "", dir.path(), "server");
  CHECK(server.status == 2);
  CHECK(contains(server.err, "usage: tlsio-server"));
}

TEST_CASE("the tools' --help says that they honour SSLKEYLOGFILE") {
  tools_test::temp_dir dir;
  for (auto name : {"tlsio-client", "tlsio-server"}) {
    auto r = run({tool(name), "--help"}, "", dir.path(), name);
    CHECK(r.status == 0);
    CHECK(contains(r.out, "SSLKEYLOGFILE"));
  }
}

#if TLSIO_HAS_OPENSSL
// --engine openssl --tls1.3: the tools on OpenSSL reach, and are reached by, a TLS
// 1.3-only peer; the Mbed TLS engine cannot and says so.
TEST_CASE("tlsio-client --engine openssl --tls1.3 against openssl s_server -tls1_3") {
  certificates c;
  openssl_server server(c, "server", {"-tls1_3"});
  auto r = run({tool("tlsio-client"), "--engine", "openssl", "--tls1.3", "-v", "--cacert", c.ca,
                "localhost:" + server.port},
               "abc\n", c.path(), "tls13");
  INFO("stderr: " << r.err);
  CHECK(r.status == 0);
  CHECK(r.out == "cba\n");
  CHECK(contains(r.err, "* engine: OpenSSL "));
  CHECK(contains(r.err, "* protocol: TLSv1.3\n"));
  CHECK(contains(r.err, "* cipher suite: TLS_AES_"));
}

TEST_CASE("tlsio-client on Mbed TLS against a TLS 1.3-only server names TLS 1.3") {
  certificates c;
  openssl_server server(c, "server", {"-tls1_3"});
  std::vector<std::string> args{tool("tlsio-client")};
  if (tlsio::default_backend() != tlsio::backend::mbedtls)
    args.insert(args.end(), {"--engine", "mbedtls"});
  args.insert(args.end(), {"--cacert", c.ca, "localhost:" + server.port});
  auto r = run(args, "abc\n", c.path(), "mbedtls-vs-tls13");
  check_failure(r, "TLS 1.3", 5);
  CHECK(contains(r.err, "localhost:" + server.port));
  CHECK(r.out.empty());
}

TEST_CASE("openssl s_client -tls1_3 against tlsio-server --engine openssl --tls1.3") {
  certificates c;
  tlsio_server server(c.path(), {"--engine", "openssl", "--tls1.3", "--cert", c.pem("server"),
                                 "--key", c.key("server")});
  child_process s_client({program("openssl"), "s_client", "-tls1_3", "-connect",
                          "127.0.0.1:" + server.port, "-CAfile", c.ca, "-verify_return_error",
                          "-quiet", "-no_ign_eof"},
                         c.path(), "s_client-tls13");
  s_client.write_stdin("ping over TLS 1.3\n");
  CHECK(s_client.wait_for_output("ping over TLS 1.3\n", 10s));
  s_client.close_stdin();
  CHECK(s_client.wait(10s) == 0);
  CHECK(server.stop() == 0);
  INFO("server log: " << server.process.err());
  CHECK(contains(server.process.err(), "engine OpenSSL "));
  CHECK(contains(server.process.err(), "TLS 1.3 only"));
  CHECK(contains(server.process.err(), ": TLSv1.3 TLS_AES_"));
  CHECK(!contains(server.process.err(), "failed"));
}
#endif
