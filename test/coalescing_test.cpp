// Small writes in a row share socket writes when the stream coalesces them, and one read
// takes every whole record already here (issue 11's speed items). By default a completed
// write means the socket has its records (a program may close the socket in the handler);
// with set_write_coalescing(true), its records leave after its handler with no further
// call, a stream destroyed at once still sends what the socket takes, and a socket error met
// later reaches the next operation.
#include "loopback.hpp"
#include "support/test_stream.hpp"

#include <tlsio/stream.hpp>

#include <asio.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

using namespace tlsio_test;
using namespace std::chrono_literals;

namespace {

using memory_stream = tlsio::stream<test_stream>;

struct memory_pair {
  asio::io_context io;
  std::optional<memory_stream> client, server;

  explicit memory_pair(test_stream_options options = {}) {
    auto [a, b] = make_test_stream_pair(io.get_executor(), options);
    client.emplace(test_pki::shared().client_context(), std::move(a));
    server.emplace(test_pki::shared().server_context(), std::move(b));
    client->set_server_name("localhost");
    client->set_write_coalescing(true);
    std::error_code c = asio::error::would_block, s = asio::error::would_block;
    client->async_handshake([&](std::error_code ec) { c = ec; });
    server->async_handshake([&](std::error_code ec) { s = ec; });
    settle();
    REQUIRE(!c);
    REQUIRE(!s);
  }

  // Runs ready handlers until none is: in memory, nothing else can make progress.
  void settle() {
    io.restart();
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (io.poll_one() > 0 && std::chrono::steady_clock::now() < deadline) {
    }
  }

  // One read on the server: what it returned.
  std::string read_once() {
    std::string buffer(64 * 1024, '\0');
    std::size_t got = 0;
    server->async_read_some(asio::buffer(buffer), [&](std::error_code ec, std::size_t n) {
      CHECK(!ec);
      got = n;
    });
    settle();
    return buffer.substr(0, got);
  }
};

std::string numbered(int i) { return "<" + std::to_string(i) + std::string(94, '.') + ">"; }

} // namespace

TEST_CASE("small writes in a row share socket writes, and one read takes them together") {
  memory_pair p;
  auto writes_before = p.client->next_layer().writes();
  constexpr int count = 200; // about 26 KiB of records
  std::string expected;
  for (int i = 0; i < count; ++i)
    expected += numbered(i);
  bool done = false;
  asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < count; ++i) {
          auto text = numbered(i);
          co_await asio::async_write(*p.client, asio::buffer(text), asio::use_awaitable);
        }
        done = true;
      },
      asio::detached);
  p.settle();
  REQUIRE(done);
  auto socket_writes = p.client->next_layer().writes() - writes_before;
  CAPTURE(socket_writes);
  CHECK(socket_writes <= 10);

  auto first = p.read_once();
  CHECK(first.size() > numbered(0).size() * 10); // many records in one read
  std::string got = first;
  while (got.size() < expected.size()) {
    auto more = p.read_once();
    REQUIRE(!more.empty());
    got += more;
  }
  CHECK(got == expected);
}

TEST_CASE("a completed write's records leave with no further call") {
  memory_pair p;
  bool written = false;
  asio::async_write(*p.client, asio::buffer("hello", 5), [&](std::error_code ec, std::size_t n) {
    CHECK(!ec);
    CHECK(n == 5);
    written = true;
  });
  p.settle();
  REQUIRE(written);
  CHECK(p.server->next_layer().available() > 0);
  CHECK(p.read_once() == "hello");
}

TEST_CASE("a socket error met after a write completed is reported by the next operation") {
  memory_pair p;
  std::error_code first = asio::error::would_block, second = asio::error::would_block;
  asio::async_write(*p.client, asio::buffer("one", 3), [&](std::error_code ec, std::size_t) {
    first = ec;
    p.server->next_layer().close(); // before the write's records have left
  });
  p.settle();
  CHECK(!first);
  asio::async_write(*p.client, asio::buffer("two", 3),
                    [&](std::error_code ec, std::size_t) { second = ec; });
  p.settle();
  CHECK(second == asio::error::broken_pipe);
}

TEST_CASE("a stream destroyed as its write completes still sends what the socket takes") {
  asio::io_context io;
  auto p = std::make_unique<stream_pair>(io);
  require_handshake(*p);
  std::optional<tlsio::stream<>> client(std::move(p->client));
  client->set_write_coalescing(true);
  asio::async_write(*client, asio::buffer("bye", 3), [&](std::error_code ec, std::size_t) {
    CHECK(!ec);
    client.reset();
  });
  std::array<char, 16> buffer{};
  std::error_code read_error;
  std::size_t read = 0;
  p->server.async_read_some(asio::buffer(buffer), [&](std::error_code ec, std::size_t n) {
    read_error = ec;
    read = n;
  });
  io.restart();
  io.run_for(10s);
  CHECK(!client);
  CHECK(!read_error);
  CHECK(std::string(buffer.data(), read) == "bye");
}

TEST_CASE("by default a completed write means the socket has its records") {
  for (bool close : {true, false}) {
    CAPTURE(close);
    asio::io_context io;
    stream_pair p(io);
    require_handshake(p);
    CHECK(!p.client.write_coalescing());
    // HTTP/1.0's way: write the answer, then close (or half-close) the socket at once.
    asio::async_write(p.client, asio::buffer("hello", 5), [&](std::error_code ec, std::size_t) {
      CHECK(!ec);
      std::error_code ignored;
      if (close)
        p.client.next_layer().close(ignored);
      else
        p.client.next_layer().shutdown(asio::socket_base::shutdown_send, ignored);
    });
    std::array<char, 16> buffer{};
    std::size_t read = 0;
    p.server.async_read_some(asio::buffer(buffer),
                             [&](std::error_code, std::size_t n) { read = n; });
    io.restart();
    io.run_for(10s);
    CHECK(std::string(buffer.data(), read) == "hello");
  }
}

TEST_CASE("a bad record met by a read that took good ones: the failing read waits for its alert") {
  // The client's 8 KiB write keeps the socket busy, so the alert queues behind it.
  memory_pair p({.capacity = 2048});
  std::string bulk(8 * 1024, 'b');
  p.client->async_write_some(asio::buffer(bulk), [](std::error_code, std::size_t) {});
  bool good_sent = false;
  asio::async_write(*p.server, asio::buffer("good", 4),
                    [&](std::error_code ec, std::size_t) { good_sent = !ec; });
  p.settle();
  REQUIRE(good_sent);
  std::array<unsigned char, 45> forged{0x17, 0x03, 0x03, 0x00, 0x28}; // fails authentication
  std::fill(forged.begin() + 5, forged.end(), 0x5a);
  asio::write(p.server->next_layer(), asio::buffer(forged));

  std::array<char, 1024> buffer{};
  std::string got;
  std::error_code second;
  p.client->async_read_some(asio::buffer(buffer), [&](std::error_code ec, std::size_t n) {
    CHECK(!ec);
    got.assign(buffer.data(), n);
    p.client->async_read_some(asio::buffer(buffer), [&](std::error_code e, std::size_t) {
      second = e;
      p.client.reset(); // a program drops the connection on the error
    });
  });
  std::array<char, 4096> into{};
  std::function<void()> drain = [&] {
    p.server->async_read_some(asio::buffer(into), [&](std::error_code ec, std::size_t) {
      if (!ec)
        drain();
    });
  };
  drain();
  p.settle();
  CHECK(got == "good");
  CHECK(second);
  INFO(p.server->failure_detail());
  CHECK(p.server->failure_detail().find("bad_record_mac") != std::string::npos);
}
