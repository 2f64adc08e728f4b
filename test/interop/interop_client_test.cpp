// tlsio as the client against servers nobody here wrote: openssl s_server, gnutls-serv,
// nginx and Python's ssl. ECDSA and RSA chains with an intermediate, by name and by address,
// payloads up to 1 MiB, close_notify both ways, mutual TLS, and peers tlsio cannot talk to.
#include "interop.hpp"

#include "../engine_pair.hpp"

#include <tlsio/error.hpp>

#include <doctest/doctest.h>

#include <mbedtls/ssl.h>

#include <map>

using namespace interop;
namespace ti = tlsio::test_identity;
using tlsio::compat::as_tuple;

namespace {

const ti::key_type key_types[] = {ti::key_type::ecdsa_p256, ti::key_type::rsa_2048};
const std::string hosts[] = {"localhost", "127.0.0.1"};

// A cipher suite's name says which kind of key the server proved it holds.
const char *suite_key_name(ti::key_type key) {
  return key == ti::key_type::ecdsa_p256 ? "ECDSA" : "RSA";
}

struct echo_result {
  std::string got;
  std::error_code shutdown; ///< empty: the peer answered our close_notify with its own
  std::string protocol, cipher;
};

// Connect, echo data, then send close_notify and wait for the peer's.
asio::awaitable<echo_result> echo_and_close(tlsio::context ctx, std::string host,
                                            unsigned short port, std::string data) {
  auto c = co_await try_connect(ctx, host, port);
  if (c.ec)
    throw std::system_error(c.ec, "connect: " + c.detail);
  auto &s = *c.stream;
  s.set_shutdown_timeout(5s);
  echo_result r;
  r.got = co_await exchange(s, data);
  r.protocol = s.protocol_version();
  r.cipher = s.cipher_suite();
  std::tie(r.shutdown) = co_await s.async_shutdown(as_tuple(asio::use_awaitable));
  co_return r;
}

// The echo matrix against one server peer: every payload size, by name and by address.
void echo_matrix(const pki &p, unsigned short port) {
  asio::io_context io;
  for (const auto &host : hosts) {
    for (auto size : payload_sizes) {
      CAPTURE(host);
      CAPTURE(size);
      auto data = payload(size);
      auto r = run_bounded(io, echo_and_close(p.client_context(), host, port, data));
      INTEROP_CHECK_SAME(r.got, data);
      CHECK(r.protocol == tlsio_test::expected_protocol());
      // TLS 1.3's suites do not name the key.
      CHECK(r.cipher.find(tlsio_test::on_openssl() ? "TLS_AES" : suite_key_name(p.key)) !=
            std::string::npos);
      CHECK_MESSAGE(!r.shutdown, "close_notify exchange: ", r.shutdown.message());
    }
  }
}

// Connect, echo data, call peer_closes(), then read: the peer's close_notify must come as
// asio::error::eof, with nothing after the echo.
asio::awaitable<std::error_code> echo_then_peer_closes(tlsio::context ctx, unsigned short port,
                                                       std::string data,
                                                       std::function<void()> peer_closes) {
  auto c = co_await try_connect(ctx, "localhost", port);
  if (c.ec)
    throw std::system_error(c.ec, "connect: " + c.detail);
  auto &s = *c.stream;
  auto got = co_await exchange(s, data);
  if (got != data)
    co_return make_error_code(std::errc::bad_message);
  peer_closes();
  std::string rest;
  auto end = co_await read_to_end(s, rest);
  if (!rest.empty())
    co_return make_error_code(std::errc::bad_message);
  s.set_shutdown_timeout(2s);
  co_await s.async_shutdown(as_tuple(asio::use_awaitable)); // ours; the peer may be gone
  co_return end;
}

// `openssl s_server -quiet` prints what it receives and sends what it reads: with its stdout
// looped into its stdin it echoes. (-quiet also hides the port that -accept 0 would print,
// hence a free port picked beforehand.)
server_peer start_s_server(const pki &p, std::vector<std::string> extra = {}, bool loop = true) {
  return start_server(
      [&](unsigned short port) {
        std::vector<std::string> argv{"openssl",     "s_server",           "-quiet",
                                      "-accept",     std::to_string(port), "-cert",
                                      p.server_leaf, "-cert_chain",        p.intermediate_pem,
                                      "-key",        p.server_key};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return argv;
      },
      {.loop_stdout_to_stdin = loop});
}

} // namespace

TEST_CASE("tlsio client and openssl s_server") {
  for (auto key : key_types) {
    const auto &p = pki::get(key);
    CAPTURE(p.name);
    auto peer = start_s_server(p);
    echo_matrix(p, peer.port);

    // s_server sends close_notify when its stdin ends: tlsio reads that as eof.
    asio::io_context io;
    auto end = run_bounded(io, echo_then_peer_closes(p.client_context(), peer.port, payload(100),
                                                     [&] { peer.proc->close_stdin(); }));
    CHECK_MESSAGE(end == asio::error::eof, end.message(), "\n", peer.proc->describe());
  }
}

// The engine joins handshake messages split across records (Mbed TLS 2.28 alone cannot):
// the server's Certificate comes in 512-byte records.
TEST_CASE("tlsio client and openssl s_server -max_send_frag 512") {
  for (auto key : key_types) {
    const auto &p = pki::get(key);
    CAPTURE(p.name);
    auto peer = start_s_server(p, {"-max_send_frag", "512"});
    asio::io_context io;
    auto data = payload(3000);
    auto r = run_bounded(io, echo_and_close(p.client_context(), "localhost", peer.port, data));
    INTEROP_CHECK_SAME(r.got, data);
    // TLS 1.3's suites do not name the key.
    CHECK(r.cipher.find(tlsio_test::on_openssl() ? "TLS_AES" : suite_key_name(p.key)) !=
          std::string::npos);
  }
}

TEST_CASE("tlsio client and gnutls-serv --echo") {
  for (auto key : key_types) {
    const auto &p = pki::get(key);
    CAPTURE(p.name);
    auto peer = start_server([&](unsigned short port) {
      return std::vector<std::string>{"gnutls-serv",
                                      "--echo",
                                      "-q",
                                      "-a",
                                      "-p",
                                      std::to_string(port),
                                      "--x509certfile",
                                      p.server_chain,
                                      "--x509keyfile",
                                      p.server_key};
    });
    echo_matrix(p, peer.port);
  }
}

TEST_CASE("tlsio client and Python's ssl server") {
  for (auto key : key_types) {
    const auto &p = pki::get(key);
    CAPTURE(p.name);
    process peer(python_peer({"server", "--cert", p.server_chain, "--key", p.server_key}));
    auto port = python_port(peer);
    echo_matrix(p, port);
    // Python saw our close_notify each time and answered it: one "CLEAN" per connection.
    std::string expected;
    for (int i = 0; i < 2; ++i)
      for (auto size : payload_sizes)
        expected += "CLEAN " + std::to_string(size) + "\n";
    CHECK_MESSAGE(peer.wait_for_text(expected, 10s), peer.describe());

    // A server that sends close_notify first, once it has echoed 100 bytes.
    process closer(python_peer(
        {"server", "--cert", p.server_chain, "--key", p.server_key, "--close-after", "100"}));
    auto closer_port = python_port(closer);
    asio::io_context io;
    auto end = run_bounded(
        io, echo_then_peer_closes(p.client_context(), closer_port, payload(100), [] {}));
    CHECK_MESSAGE(end == asio::error::eof, end.message());
    CHECK_MESSAGE(closer.wait_for_text("CLEAN 100", 10s), closer.describe());
  }
}

namespace {

// GET one file; returns the status line and body, and how reading ended.
asio::awaitable<std::tuple<std::string, std::string, std::error_code>>
https_get(tlsio::context ctx, std::string host, unsigned short port, std::string path) {
  auto c = co_await try_connect(ctx, host, port);
  if (c.ec)
    throw std::system_error(c.ec, "connect: " + c.detail);
  auto &s = *c.stream;
  std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  co_await asio::async_write(s, asio::buffer(request), asio::use_awaitable);
  std::string response;
  auto end = co_await read_to_end(s, response);
  s.set_shutdown_timeout(1s);
  co_await s.async_shutdown(as_tuple(asio::use_awaitable));
  auto split = response.find("\r\n\r\n");
  if (split == std::string::npos)
    co_return std::tuple(response, std::string(), end);
  co_return std::tuple(response.substr(0, response.find("\r\n")), response.substr(split + 4), end);
}

std::string fill_template(std::string text, const std::map<std::string, std::string> &values) {
  for (const auto &[key, value] : values)
    for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at))
      text.replace(at, key.size(), value);
  return text;
}

} // namespace

TEST_CASE("tlsio client and nginx serving files over HTTPS") {
  auto nginx = require_program("nginx");
  for (auto key : key_types) {
    const auto &p = pki::get(key);
    CAPTURE(p.name);
    temp_dir dir;
    std::filesystem::create_directory(dir / "www");
    for (auto size : payload_sizes)
      dir.write("www/file" + std::to_string(size), payload(size));
    auto peer = start_server([&](unsigned short port) {
      auto conf = fill_template(read_text(source_dir() / "nginx.conf.in"),
                                {{"@DIR@", dir.path().string()},
                                 {"@PORT@", std::to_string(port)},
                                 {"@CHAIN@", p.server_chain.string()},
                                 {"@KEY@", p.server_key.string()}});
      auto conf_path = dir.write("nginx.conf", conf);
      return std::vector<std::string>{
          nginx.string(),    "-p", dir.path().string(), "-e", (dir / "error.log").string(), "-c",
          conf_path.string()};
    });
    asio::io_context io;
    for (const auto &host : hosts) {
      for (auto size : payload_sizes) {
        CAPTURE(host);
        CAPTURE(size);
        auto [status, body, end] = run_bounded(
            io, https_get(p.client_context(), host, peer.port, "/file" + std::to_string(size)));
        CHECK(status == "HTTP/1.1 200 OK");
        INTEROP_CHECK_SAME(body, payload(size));
        // nginx closes with close_notify after the response: tlsio reads that as eof.
        CHECK_MESSAGE(end == asio::error::eof, end.message());
      }
    }
  }
}

TEST_CASE("mutual TLS: tlsio client certificate against openssl s_server -Verify") {
  const auto &p = pki::ecdsa();
  auto peer =
      start_s_server(p, {"-Verify", "1", "-verify_return_error", "-CAfile", p.root_pem.string()});
  asio::io_context io;

  SUBCASE("accepted with a certificate from the trusted root") {
    auto data = payload(16384);
    auto r = run_bounded(
        io, echo_and_close(p.client_context_with_certificate(), "localhost", peer.port, data));
    INTEROP_CHECK_SAME(r.got, data);
    CHECK(!r.shutdown);
  }
  SUBCASE("refused without one, with the server's reason") {
    // TLS 1.2, where the refusal ends the handshake (under TLS 1.3 it comes on the first
    // read: engine_test and features_test).
    auto ctx = p.client_context();
    ctx.set_max_version(tlsio::tls_version::tls1_2);
    auto c = run_bounded(io, try_connect(ctx, "localhost", peer.port));
    MESSAGE("refused: ", c.ec.message(), " / ", c.detail);
    CHECK(c.ec.category() == tlsio_test::backend_category());
    if (!tlsio_test::on_openssl()) // OpenSSL has its own reason codes
      CHECK(c.ec.value() == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE);
    CHECK(c.detail.find("fatal alert") != std::string::npos);
    CHECK(c.elapsed < 5s);
  }
}

namespace {

// Connects to an s_server run with flags; the handshake must fail, soon, with a reason.
connect_result refused_by(const pki &p, const std::vector<std::string> &flags) {
  auto peer = start_s_server(p, flags, false);
  asio::io_context io;
  auto c = run_bounded(io, try_connect(p.client_context(), "localhost", peer.port), 15s);
  std::string command = "openssl s_server";
  for (const auto &f : flags)
    command += " " + f;
  MESSAGE(command, " -> ", std::string(c.ec.category().name()), ":", c.ec.value(), " ",
          c.ec.message(), " / ", c.detail, " (", c.elapsed.count(), " ms)");
  CHECK(c.ec);
  CHECK(c.elapsed < 5s);
  CHECK(!c.detail.empty());
  return c;
}

} // namespace

TEST_CASE("peers tlsio cannot talk to fail at once, with their reason") {
  const auto &p = pki::ecdsa();

  SUBCASE("a TLS 1.3-only server") {
    if (tlsio_test::on_openssl()) { // reached: the OpenSSL backend speaks TLS 1.3
      auto peer = start_s_server(p, {"-tls1_3"});
      asio::io_context io;
      auto data = payload(3000);
      auto r = run_bounded(io, echo_and_close(p.client_context(), "localhost", peer.port, data));
      INTEROP_CHECK_SAME(r.got, data);
      CHECK(r.protocol == "TLSv1.3");
      return;
    }
    auto c = refused_by(p, {"-tls1_3"});
    CHECK(c.ec.category() == tlsio_test::backend_category());
    CHECK(c.detail.find("protocol_version") != std::string::npos);
    CHECK(c.detail.find("only TLS 1.3") != std::string::npos); // not the bare alert name
  }
  // Before TLS 1.2 there are no AEAD suites, so such a server finds no suite in common
  // with tlsio's before it gets to versions, and says handshake_failure.
  SUBCASE("a TLS 1.0-only server") {
    auto c = refused_by(p, {"-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"});
    CHECK(c.ec.category() == tlsio_test::backend_category());
    CHECK(c.detail.find("handshake_failure") != std::string::npos);
  }
  SUBCASE("a TLS 1.1-only server") {
    auto c = refused_by(p, {"-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"});
    CHECK(c.ec.category() == tlsio_test::backend_category());
    CHECK(c.detail.find("handshake_failure") != std::string::npos);
  }
  SUBCASE("a TLS 1.1-only Python server") {
    process peer(python_peer({"server", "--cert", p.server_chain, "--key", p.server_key,
                              "--max-version", "TLSv1_1", "--seclevel0"}));
    asio::io_context io;
    auto c = run_bounded(io, try_connect(p.client_context(), "localhost", python_port(peer)));
    MESSAGE("python TLS 1.1 -> ", c.ec.message(), " / ", c.detail);
    CHECK(c.ec.category() == tlsio_test::backend_category());
    CHECK(c.detail.find("fatal alert") != std::string::npos);
    CHECK(c.elapsed < 5s);
  }
  SUBCASE("a server without an AEAD cipher suite") {
    auto c = refused_by(p, {"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"});
    CHECK(c.ec.category() == tlsio_test::backend_category());
    CHECK(c.detail.find("handshake_failure") != std::string::npos);
  }
}
