// Small writes in a row share socket writes, and one read takes every whole record already
// here (issue 11's speed items); and what that changes about a write's completion: its
// records leave after its handler with no further call, a stream destroyed at once still
// sends what the socket takes, and a socket error met later reaches the next operation.
#include "loopback.hpp"
#include "support/test_stream.hpp"

#include <tlsio/stream.hpp>

#include <asio.hpp>

#include <doctest/doctest.h>

#include <chrono>
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

  memory_pair() {
    auto [a, b] = make_test_stream_pair(io.get_executor(), {});
    client.emplace(test_pki::shared().client_context(), std::move(a));
    server.emplace(test_pki::shared().server_context(), std::move(b));
    client->set_server_name("localhost");
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
