// tlsio as the server (tlsio::acceptor on its own thread) against clients nobody here wrote:
// openssl s_client, gnutls-cli, curl and Python's ssl. ECDSA and RSA chains with an
// intermediate, by name and by address, payloads up to 1 MiB, close_notify both ways,
// mutual TLS, and clients tlsio cannot talk to.
#include "interop.hpp"

#include "../engine_pair.hpp"

#include <tlsio/error.hpp>

#include <doctest/doctest.h>

#include <mbedtls/ssl.h>

using namespace interop;
namespace ti = tlsio::test_identity;

namespace {

const ti::key_type key_types[] = {ti::key_type::ecdsa_p256, ti::key_type::rsa_2048};

// How a client names the server: by host name (SNI, DNS name check) or by IP address.
// Every client connects to 127.0.0.1 either way, where the server listens.
enum class by { name, address };
const by namings[] = {by::name, by::address};
std::string text(by b) { return b == by::name ? "localhost" : "127.0.0.1"; }

std::string cipher_key(const pki &p) { return p.key == ti::key_type::ecdsa_p256 ? "ECDSA" : "RSA"; }

std::vector<std::string> s_client(const pki &p, unsigned short port, by naming) {
  std::vector<std::string> argv{"openssl",
                                "s_client",
                                "-quiet",
                                "-no_ign_eof",
                                "-nocommands",
                                "-connect",
                                "127.0.0.1:" + std::to_string(port),
                                "-CAfile",
                                p.root_pem.string(),
                                "-verify_return_error"};
  if (naming == by::name)
    argv.insert(argv.end(), {"-servername", "localhost", "-verify_hostname", "localhost"});
  else
    argv.insert(argv.end(), {"-noservername", "-verify_ip", "127.0.0.1"});
  return argv;
}

// Feeds data to a client that echoes through the server, waits for all of it to come back,
// then ends its input (and with it, for s_client, the session).
void feed_and_collect(process &client, const std::string &data) {
  REQUIRE_MESSAGE(client.write(data), client.describe());
  CHECK_MESSAGE(client.wait_for_output(data.size(), 30s), client.describe());
  INTEROP_CHECK_SAME(client.out(), data);
  client.close_stdin();
}

void check_session(const pki &p, const std::optional<session_record> &s, std::size_t bytes) {
  REQUIRE_MESSAGE(s, "the server saw no session");
  CHECK(s->bytes == bytes);
  CHECK(s->protocol == tlsio_test::expected_protocol());
  CHECK(s->cipher.find(tlsio_test::on_openssl() ? "TLS_AES" : cipher_key(p)) != std::string::npos);
  CHECK(!s->write_error);
}

} // namespace

TEST_CASE("openssl s_client and the tlsio server") {
  for (auto key : key_types) {
    const auto &p = pki::get(key);
    tls_server server(p.server_context(), echo_until_close());
    for (auto naming : namings) {
      for (auto size : payload_sizes) {
        CAPTURE(p.name);
        CAPTURE(text(naming));
        CAPTURE(size);
        auto data = payload(size);
        process client(s_client(p, server.port(), naming));
        feed_and_collect(client, data);
        auto status = client.wait(20s);
        CHECK_MESSAGE((status && status->ok()), client.describe());
        // s_client ends with close_notify when its input ends: tlsio reads eof.
        auto s = server.next_session();
        check_session(p, s, size);
        CHECK_MESSAGE(s->read_end == asio::error::eof, s->read_end.message());
      }
    }
    CHECK(server.failures() == 0);
  }
}

TEST_CASE("gnutls-cli and the tlsio server, which closes first") {
  temp_dir dir;
  int run = 0;
  for (auto key : key_types) {
    const auto &p = pki::get(key);
    for (auto naming : namings) {
      for (auto size : payload_sizes) {
        CAPTURE(p.name);
        CAPTURE(text(naming));
        CAPTURE(size);
        // The server sends close_notify once it has echoed the payload.
        tls_server server(p.server_context(), echo_then_close(size));
        auto log = dir / ("gnutls-cli-" + std::to_string(++run) + ".log");
        std::vector<std::string> argv{"gnutls-cli",       "--logfile",         log.string(),
                                      "--x509cafile",     p.root_pem.string(), "-p",
                                      server.port_text(), "127.0.0.1"};
        if (naming == by::name)
          argv.insert(argv.end(),
                      {"--sni-hostname", "localhost", "--verify-hostname", "localhost"});
        process client(argv);
        REQUIRE_MESSAGE(client.write(payload(size)), client.describe());
        // gnutls-cli exits 0 on the server's close_notify, and logs that the peer closed; a
        // bare TCP close would be "The TLS connection was non-properly terminated", status 1.
        auto status = client.wait(20s);
        CHECK_MESSAGE((status && status->ok()), client.describe());
        INTEROP_CHECK_SAME(client.out(), payload(size));
        auto said = read_text(log) + client.err();
        CHECK_MESSAGE(said.find("Peer has closed the GnuTLS connection") != std::string::npos,
                      said);
        check_session(p, server.next_session(), size);
      }
    }
  }
}

TEST_CASE("curl and the tlsio server: a close-delimited HTTP response") {
  auto curl = require_program("curl");
  temp_dir dir;
  for (auto key : key_types) {
    const auto &p = pki::get(key);
    tls_server server(p.server_context(), http_echo());
    for (auto naming : namings) {
      for (auto size : payload_sizes) {
        CAPTURE(p.name);
        CAPTURE(text(naming));
        CAPTURE(size);
        auto body = dir.write("body", payload(size));
        auto url = std::string("https://") + text(naming) + ":" + server.port_text() + "/echo";
        std::vector<std::string> argv{curl.string(),
                                      "-sS",
                                      "--http1.1",
                                      "--cacert",
                                      p.root_pem.string(),
                                      "--data-binary",
                                      "@" + body.string(),
                                      "-H",
                                      "Expect:",
                                      "-H",
                                      "Content-Type: application/octet-stream",
                                      url};
        if (naming == by::name)
          argv.insert(argv.end(), {"--resolve", "localhost:" + server.port_text() + ":127.0.0.1"});
        process client(argv);
        // The body has no Content-Length: curl knows it has all of it only by close_notify,
        // and reports an unexpected EOF (status 56) without it.
        auto status = client.wait(30s);
        CHECK_MESSAGE((status && status->ok()), client.describe());
        INTEROP_CHECK_SAME(client.out(), payload(size));
        check_session(p, server.next_session(), size);
      }
    }
  }
}

TEST_CASE("Python's ssl client and the tlsio server, closing either way") {
  for (auto key : key_types) {
    const auto &p = pki::get(key);
    for (bool server_closes : {false, true}) {
      for (auto naming : namings) {
        for (auto size : payload_sizes) {
          CAPTURE(p.name);
          CAPTURE(server_closes);
          CAPTURE(text(naming));
          CAPTURE(size);
          tls_server server(p.server_context(),
                            server_closes ? echo_then_close(size) : echo_until_close());
          std::vector<std::string> args{"client",
                                        "--port",
                                        server.port_text(),
                                        "--host",
                                        "127.0.0.1",
                                        "--server-name",
                                        text(naming),
                                        "--ca",
                                        p.root_pem.string(),
                                        "--size",
                                        std::to_string(size)};
          if (server_closes)
            args.push_back("--server-closes");
          process client(python_peer(args));
          // Exit 0 and "CLEAN": the echo matched and Python saw a close_notify, not an EOF.
          auto status = client.wait(30s);
          CHECK_MESSAGE((status && status->ok()), client.describe());
          CHECK(client.out().find("CLEAN " + std::to_string(size)) != std::string::npos);
          auto s = server.next_session();
          check_session(p, s, size);
          if (!server_closes)
            CHECK_MESSAGE(s->read_end == asio::error::eof, s->read_end.message());
          CHECK_MESSAGE(!s->shutdown, s->shutdown.message());
        }
      }
    }
  }
}

namespace {

tlsio::context mtls_server_context(const pki &p) {
  auto ctx = p.server_context();
  ctx.no_ca();
  ctx.add_certificate_authority(p.root.certificate_pem());
  ctx.set_client_certificate(tlsio::client_certificate::required);
  return ctx;
}

} // namespace

TEST_CASE("mutual TLS: openssl s_client certificates against a tlsio server that requires one") {
  const auto &p = pki::ecdsa();
  tls_server server(mtls_server_context(p), echo_until_close());
  auto argv = s_client(p, server.port(), by::name);

  SUBCASE("accepted with a certificate from the trusted root") {
    argv.insert(argv.end(), {"-cert", p.client_leaf.string(), "-cert_chain",
                             p.intermediate_pem.string(), "-key", p.client_key.string()});
    process client(argv);
    feed_and_collect(client, payload(1000));
    auto status = client.wait(20s);
    CHECK_MESSAGE((status && status->ok()), client.describe());
    auto s = server.next_session();
    check_session(p, s, 1000);
    REQUIRE(s->peer_certificate);
    CHECK(s->peer_certificate->subject.find("tlsio interop client") != std::string::npos);
  }
  SUBCASE("refused without a certificate") {
    process client(argv);
    auto f = server.next_failure();
    REQUIRE(f);
    MESSAGE("server: ", f->error.message(), " / ", f->detail);
    CHECK(f->error == tlsio::error::no_peer_certificate);
    auto status = client.wait(20s);
    CHECK((status && !status->ok()));
  }
  SUBCASE("refused with a certificate from another root") {
    auto other = ti::authority::create("some other root");
    auto stranger =
        other.issue({.common_name = "stranger", .extended_usage = ti::usage::client_only});
    temp_dir dir;
    argv.insert(argv.end(), {"-cert", dir.write("c.pem", stranger.certificate_pem).string(), "-key",
                             dir.write("k.pem", stranger.private_key_pem).string()});
    process client(argv);
    auto f = server.next_failure();
    REQUIRE(f);
    MESSAGE("server: ", f->error.message(), " / ", f->detail);
    CHECK(f->error == tlsio::error::untrusted_issuer);
    CHECK(f->detail.find("stranger") != std::string::npos);
    auto status = client.wait(20s);
    CHECK((status && !status->ok()));
  }
  CHECK(server.sessions() + server.failures() == 1);
}

TEST_CASE("clients tlsio cannot talk to are refused at once, with their reason") {
  const auto &p = pki::ecdsa();
  tls_server server(p.server_context(), echo_until_close());
  auto refuse = [&](std::vector<std::string> flags) {
    auto argv = s_client(p, server.port(), by::name);
    argv.insert(argv.end(), flags.begin(), flags.end());
    process client(argv);
    auto start = std::chrono::steady_clock::now();
    auto f = server.next_failure(10s);
    REQUIRE(f);
    std::string command;
    for (const auto &a : flags)
      command += " " + a;
    MESSAGE("s_client", command, " -> ", std::string(f->error.category().name()), ":",
            f->error.value(), " ", f->error.message(), " / ", f->detail);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    CHECK(!f->detail.empty());
    auto status = client.wait(20s);
    CHECK_MESSAGE((status && !status->ok()), client.describe());
    return *f;
  };

  SUBCASE("TLS 1.3 only") {
    if (tlsio_test::on_openssl()) {
      MESSAGE("not refused: the OpenSSL backend speaks TLS 1.3 (the first test case's "
              "s_client negotiates it)");
      return;
    }
    // Its ClientHello looks like TLS 1.2 with only TLS 1.3 suites to Mbed TLS 2.28, which
    // does not read supported_versions: "no cipher suite in common".
    auto f = refuse({"-tls1_3"});
    CHECK(f.error.category() == tlsio_test::backend_category());
    if (!tlsio_test::on_openssl()) // OpenSSL has its own reason codes
      CHECK(f.error.value() == MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN);
    CHECK(f.detail.find("cipher suite") != std::string::npos);
  }
  SUBCASE("TLS 1.0 only") {
    auto f = refuse({"-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"});
    CHECK(f.error.category() == tlsio_test::backend_category());
    if (!tlsio_test::on_openssl()) // OpenSSL has its own reason codes
      CHECK(f.error.value() == MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION);
  }
  SUBCASE("no AEAD cipher suite") {
    auto f = refuse({"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"});
    CHECK(f.error.category() == tlsio_test::backend_category());
    CHECK(f.detail.find("cipher suite") != std::string::npos);
  }
  CHECK(server.sessions() == 0);
}
