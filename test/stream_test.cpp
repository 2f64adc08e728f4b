// tlsio::stream over loopback TCP: every operation with every kind of completion token.
#include "loopback.hpp"

#include <tlsio/compat.hpp>

#include <doctest/doctest.h>

using namespace tlsio_test;
using asio::awaitable;
using asio::use_awaitable;

namespace {

// Runs a coroutine to completion on io; rethrows what it threw.
template <class F> void run_coroutine(asio::io_context &io, F f) {
  auto done = asio::co_spawn(io, f(), asio::use_future);
  REQUIRE(run_until_ready(io, done));
  done.get();
}

awaitable<void> co_handshake_both(stream_pair &p) {
  using namespace tlsio::compat::awaitable_operators;
  co_await (p.client.async_handshake(use_awaitable) && p.server.async_handshake(use_awaitable));
}

} // namespace

TEST_CASE("co_await: handshake, echo, shutdown") {
  asio::io_context io;
  stream_pair p(io);
  run_coroutine(io, [&]() -> awaitable<void> {
    co_await co_handshake_both(p);
    CHECK(p.client.protocol_version() == (on_openssl() ? "TLSv1.3" : "TLSv1.2"));
    CHECK(p.client.is_connected());
    CHECK(p.server.remote_endpoint() == p.client.local_endpoint());
    auto data = pattern(100000);
    std::string got(data.size(), '\0');
    using namespace tlsio::compat::awaitable_operators;
    co_await (asio::async_write(p.client, asio::buffer(data), use_awaitable) &&
              asio::async_read(p.server, asio::buffer(got), use_awaitable));
    CHECK(got == data);
    co_await (p.client.async_shutdown(use_awaitable) && p.server.async_shutdown(use_awaitable));
    CHECK(!p.client.is_connected());
  });
}

TEST_CASE("callbacks, futures and deferred") {
  asio::io_context io;
  stream_pair p(io);
  std::error_code client_ec = asio::error::would_block, server_ec = asio::error::would_block;
  p.client.async_handshake([&](std::error_code ec) { client_ec = ec; });
  p.server.async_handshake([&](std::error_code ec) { server_ec = ec; });
  CHECK(client_ec == asio::error::would_block); // never inside the initiating call
  io.run();
  CHECK(!client_ec);
  CHECK(!server_ec);

  io.restart();
  auto written = asio::async_write(p.client, asio::buffer("hello", 5), asio::use_future);
  char buffer[5];
  auto read = p.server.async_read_some(asio::buffer(buffer), tlsio::compat::deferred);
  std::size_t got = 0;
  std::move(read)([&](std::error_code ec, std::size_t n) {
    CHECK(!ec);
    got = n;
  });
  io.run();
  CHECK(written.get() == 5);
  CHECK(got == 5);
}

// Small buffers are joined into one record when the write is made, not when it starts: two
// deferred writes made before either runs must not share where they are joined.
TEST_CASE("deferred gather writes made before either starts keep their own bytes") {
  asio::io_context io;
  stream_pair p(io);
  run_coroutine(io, [&]() -> awaitable<void> {
    co_await co_handshake_both(p);
    std::array<asio::const_buffer, 2> first{asio::buffer("aaa", 3), asio::buffer("bbb", 3)};
    std::array<asio::const_buffer, 2> second{asio::buffer("ccc", 3), asio::buffer("ddd", 3)};
    auto w1 = p.client.async_write_some(first, tlsio::compat::deferred);
    auto w2 = p.client.async_write_some(second, tlsio::compat::deferred);
    CHECK(co_await std::move(w1)(use_awaitable) == 6);
    CHECK(co_await std::move(w2)(use_awaitable) == 6);
    std::string got(12, '\0');
    co_await asio::async_read(p.server, asio::buffer(got), use_awaitable);
    CHECK(got == "aaabbbcccddd");
  });
}

TEST_CASE("synchronous forms") {
  asio::io_context io;
  stream_pair p(io);
  auto server = std::async(std::launch::async, [&] {
    p.server.handshake();
    std::string line;
    asio::read_until(p.server, asio::dynamic_buffer(line), '\n');
    asio::write(p.server, asio::buffer(line));
    std::error_code ec;
    char c;
    p.server.read_some(asio::buffer(&c, 1), ec);
    CHECK(ec == asio::error::eof);
    p.server.shutdown();
  });
  p.client.handshake();
  asio::write(p.client, asio::buffer(std::string("ping\n")));
  std::string reply(5, '\0');
  asio::read(p.client, asio::buffer(reply));
  CHECK(reply == "ping\n");
  p.client.shutdown();
  server.get();
}
