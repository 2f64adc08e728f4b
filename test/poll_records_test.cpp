// Records that carry no application data (empty records, warning alerts, a HelloRequest)
// and half records, against poll and read: read is ready exactly when a read would not wait.
#include "loopback.hpp"
#include "raw_server.hpp"

#include <tlsio/poll.hpp>

#include <doctest/doctest.h>

using namespace tlsio_test;
using namespace std::chrono_literals;
using tlsio::wait;

namespace {

// A tlsio client over loopback TCP whose server is a raw Mbed TLS context the test steps by
// hand; pump() moves bytes between that context's wires and its socket.
struct raw_peer {
  asio::io_context io;
  raw_server server;
  asio::ip::tcp::socket server_socket{io};
  std::optional<tlsio::stream<>> client;

  explicit raw_peer(bool renegotiation = false) : server(renegotiation) {
    auto [a, b] = tcp_pair(io);
    client.emplace(test_pki::shared().client_context(), std::move(a));
    client->set_server_name("localhost");
    server_socket = std::move(b);
    server_socket.non_blocking(true);
    handshake();
  }

  void pump() {
    std::error_code ec;
    char buffer[65536];
    for (;;) {
      auto n = server_socket.read_some(asio::buffer(buffer), ec);
      if (ec)
        break;
      auto p = reinterpret_cast<const std::byte *>(buffer);
      server.to_server.bytes.insert(server.to_server.bytes.end(), p, p + n);
    }
    send_to_client(server.to_client.bytes.size());
  }
  // Sends the first n bytes the server has queued (a test may hold back the rest).
  void send_to_client(std::size_t n) {
    auto &out = server.to_client.bytes;
    n = std::min(n, out.size());
    server_socket.non_blocking(false);
    asio::write(server_socket, asio::buffer(out.data(), n));
    server_socket.non_blocking(true);
    out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n));
  }

  void handshake() {
    std::optional<std::error_code> done;
    client->async_handshake([&](std::error_code ec) { done = ec; });
    int server_result = MBEDTLS_ERR_SSL_WANT_READ;
    auto bound = std::chrono::steady_clock::now() + 10s;
    while ((!done || server_result != 0) && std::chrono::steady_clock::now() < bound) {
      io.restart();
      io.run_for(2ms);
      pump();
      if (server_result != 0)
        server_result = mbedtls_ssl_handshake(&server.ssl);
      pump();
    }
    REQUIRE(done);
    REQUIRE(!*done);
    REQUIRE(server_result == 0);
  }

  wait async_poll_read(std::chrono::milliseconds timeout) {
    std::optional<wait> ready;
    tlsio::async_poll(*client, wait::read, timeout,
                      [&](std::error_code ec, wait w) { ready = ec ? wait::none : w; });
    run_until([&] { return ready.has_value(); });
    REQUIRE(ready);
    return *ready;
  }

  // Reads once without pumping: the data must already be on the client's side.
  std::string read_now() {
    std::optional<std::error_code> done;
    char buffer[256];
    std::size_t got = 0;
    client->async_read_some(asio::buffer(buffer), [&](std::error_code ec, std::size_t n) {
      done = ec;
      got = n;
    });
    run_until([&] { return done.has_value(); }, 5s);
    REQUIRE(done);
    REQUIRE(!*done);
    return std::string(buffer, got);
  }

  void run_until(const std::function<bool()> &ready, std::chrono::seconds bound = 10s) {
    auto deadline = std::chrono::steady_clock::now() + bound;
    while (!ready() && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_for(5ms);
    }
  }
};

} // namespace

TEST_CASE("empty records are not read readiness; data behind them is") {
  raw_peer p;
  p.server.send_records({"", ""});
  p.pump();
  CHECK(p.async_poll_read(200ms) == wait::none);
  CHECK(tlsio::poll(*p.client, wait::read, 100ms) == wait::none);
  p.server.send_records({"hello"});
  p.pump();
  CHECK(p.async_poll_read(5000ms) == wait::read);
  CHECK(p.read_now() == "hello");
}

TEST_CASE("a read through two empty records returns the data after them") {
  raw_peer p;
  p.server.send_records({"", "", "hello"});
  p.pump();
  CHECK(p.read_now() == "hello");
}

TEST_CASE("a warning alert is not read readiness") {
  raw_peer p;
  p.server.send_warning(MBEDTLS_SSL_ALERT_MSG_USER_CANCELED);
  p.pump();
  CHECK(p.async_poll_read(200ms) == wait::none);
  CHECK(tlsio::poll(*p.client, wait::read, 100ms) == wait::none);
  p.server.send_records({"after"});
  p.pump();
  CHECK(p.async_poll_read(5000ms) == wait::read);
  CHECK(p.read_now() == "after");
}

TEST_CASE("a HelloRequest is answered by poll, and is not read readiness") {
  for (bool blocking : {false, true}) {
    raw_peer p(/*renegotiation=*/true);
    REQUIRE(mbedtls_ssl_renegotiate(&p.server.ssl) == 0); // the HelloRequest is queued
    p.pump();
    if (blocking)
      CHECK(tlsio::poll(*p.client, wait::read, 200ms) == wait::none);
    else
      CHECK(p.async_poll_read(200ms) == wait::none);
    p.pump();
    // The client refused with a no_renegotiation warning, which the poll itself sent.
    CHECK(!p.server.to_server.bytes.empty());
    p.server.send_records({"still here"});
    p.pump();
    CHECK(p.async_poll_read(5000ms) == wait::read);
    CHECK(p.read_now() == "still here");
  }
}

TEST_CASE("after a read timed out on half a record, poll waits for the rest") {
  raw_peer p;
  p.server.send_records({"0123456789"});
  auto half = p.server.to_client.bytes.size() / 2;
  p.send_to_client(half);
  std::optional<std::error_code> timed;
  char buffer[64];
  p.client->async_read_some_for(asio::buffer(buffer), 50ms,
                                [&](std::error_code ec, std::size_t) { timed = ec; });
  p.run_until([&] { return timed.has_value(); });
  REQUIRE(timed);
  CHECK(*timed == tlsio::error::timed_out);
  CHECK(p.async_poll_read(100ms) == wait::none);
  CHECK(tlsio::poll(*p.client, wait::read, 50ms) == wait::none);
  p.pump();
  CHECK(p.async_poll_read(5000ms) == wait::read);
  CHECK(p.read_now() == "0123456789");
}

TEST_CASE("shutdown through empty records ends cleanly at the peer's close_notify") {
  raw_peer p;
  std::optional<std::error_code> done;
  p.client->async_shutdown([&](std::error_code ec) { done = ec; });
  p.server.send_records({"", ""});
  REQUIRE(mbedtls_ssl_close_notify(&p.server.ssl) == 0);
  p.run_until([&] {
    p.pump();
    return done.has_value();
  });
  REQUIRE(done);
  CHECK(!*done);
}
