// tlsio::async_poll: TLS-aware readiness with timeouts.
#include "loopback.hpp"

#include <tlsio/poll.hpp>

#include <doctest/doctest.h>

using namespace tlsio_test;
using namespace std::chrono_literals;
using tlsio::wait;

namespace {

struct poll_outcome {
  std::optional<std::error_code> ec;
  wait ready = wait::none;
  std::chrono::steady_clock::duration took{};
};

template <class Timeout>
poll_outcome poll_and_wait(asio::io_context &io, tlsio::stream<> &s, wait what, Timeout t,
                           asio::cancellation_slot slot = {}) {
  poll_outcome o;
  auto start = std::chrono::steady_clock::now();
  tlsio::async_poll(s, what, t, asio::bind_cancellation_slot(slot, [&](std::error_code ec, wait w) {
                      o.ec = ec;
                      o.ready = w;
                      o.took = std::chrono::steady_clock::now() - start;
                    }));
  auto bound = start + 30s;
  while (!o.ec && std::chrono::steady_clock::now() < bound) {
    io.restart();
    io.run_for(5ms);
  }
  REQUIRE(o.ec);
  return o;
}

void write_now(stream_pair &p, tlsio::stream<> &s, const std::string &data) {
  std::optional<std::error_code> done;
  asio::async_write(s, asio::buffer(data), [&](std::error_code ec, std::size_t) { done = ec; });
  while (!done) {
    p.io.restart();
    p.io.run_one_for(100ms);
  }
  REQUIRE(!*done);
  p.io.restart();
  p.io.poll(); // a completed write's records leave after its handler
}

} // namespace

TEST_CASE("data that arrives before the deadline makes read ready") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  asio::steady_timer later(io, 100ms);
  later.async_wait([&](std::error_code) {
    asio::async_write(p.client, asio::buffer("hi", 2), [](std::error_code, std::size_t) {});
  });
  auto o = poll_and_wait(io, p.server, wait::read, 10s);
  CHECK(!*o.ec);
  CHECK(o.ready == wait::read);
  CHECK(o.took < 9s);
}

TEST_CASE("nothing arrives: the empty set after about the timeout") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  auto o = poll_and_wait(io, p.server, wait::read, 300ms);
  CHECK(!*o.ec);
  CHECK(o.ready == wait::none);
  CHECK(o.took >= 250ms);
  CHECK(o.took < 5s);

  SUBCASE("absolute deadlines, steady and system, including one in the past") {
    auto s = poll_and_wait(io, p.server, wait::read, std::chrono::steady_clock::now() + 200ms);
    CHECK(s.ready == wait::none);
    CHECK(s.took >= 150ms);
    auto sys = poll_and_wait(io, p.server, wait::read, std::chrono::system_clock::now() + 200ms);
    CHECK(sys.ready == wait::none);
    CHECK(sys.took >= 150ms);
    auto past = poll_and_wait(io, p.server, wait::read, std::chrono::system_clock::now() - 1s);
    CHECK(past.ready == wait::none);
    CHECK(past.took < 1s);
  }
}

TEST_CASE("a record already in the engine is ready at once") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  write_now(p, p.client, "first");
  write_now(p, p.client, "second");
  // Let both records reach the server's socket, then read only the first.
  io.restart();
  io.run_for(50ms);
  char buffer[5];
  std::optional<std::size_t> n;
  asio::async_read(p.server, asio::buffer(buffer), [&](std::error_code, std::size_t k) { n = k; });
  while (!n) {
    io.restart();
    io.run_one_for(100ms);
  }
  CHECK(std::string(buffer, 5) == "first");
  // Nothing more will come from the socket: only the engine can make this ready.
  auto o = poll_and_wait(io, p.server, wait::read, 10s);
  CHECK(o.ready == wait::read);
  CHECK(o.took < 2s);
}

TEST_CASE("half a record is not readiness") {
  asio::io_context io;
  auto [client_socket, proxy_in] = tcp_pair(io);
  auto [proxy_out, server_socket] = tcp_pair(io);
  const auto &pki = test_pki::shared();
  stream_pair p(io, pki.client_context(), pki.server_context(),
                {std::move(client_socket), std::move(server_socket)});
  // During the handshake the proxy relays every byte both ways.
  std::error_code a = asio::error::would_block, b = asio::error::would_block;
  p.client.async_handshake([&](std::error_code ec) { a = ec; });
  p.server.async_handshake([&](std::error_code ec) { b = ec; });
  std::vector<char> buffer(65536);
  while (a == asio::error::would_block || b == asio::error::would_block) {
    io.restart();
    io.run_for(5ms);
    for (auto [from, to] : {std::pair{&proxy_in, &proxy_out}, std::pair{&proxy_out, &proxy_in}}) {
      std::error_code ec;
      if (from->available(ec) > 0)
        asio::write(*to, asio::buffer(buffer, from->read_some(asio::buffer(buffer))));
    }
  }
  REQUIRE(!a);
  REQUIRE(!b);

  write_now(p, p.client, std::string(1000, 'x'));
  // TLS 1.2's AES-GCM records carry an 8-byte explicit nonce; TLS 1.3's a content-type byte.
  bool tls13 = p.client.engine().protocol_version() == "TLSv1.3";
  std::size_t record = tls13 ? 5 + 1000 + 1 + 16 : 5 + 8 + 1000 + 16;
  asio::read(proxy_in, asio::buffer(buffer, record));
  asio::write(proxy_out, asio::buffer(buffer.data(), record / 2));
  auto held = poll_and_wait(io, p.server, wait::read, 300ms);
  CHECK(held.ready == wait::none);
  CHECK(p.server.engine().pending_input() == record / 2); // taken in, not ready

  asio::write(proxy_out, asio::buffer(buffer.data() + record / 2, record - record / 2));
  auto complete = poll_and_wait(io, p.server, wait::read, 10s);
  CHECK(complete.ready == wait::read);
}

TEST_CASE("the peer closing makes read ready, and the read reports the end") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  p.client.async_shutdown([](std::error_code) {});
  auto o = poll_and_wait(io, p.server, wait::read, 10s);
  CHECK(o.ready == wait::read);
  char c;
  std::optional<std::error_code> ec;
  p.server.async_read_some(asio::buffer(&c, 1), [&](std::error_code e, std::size_t) { ec = e; });
  while (!ec) {
    io.restart();
    io.run_one_for(100ms);
  }
  CHECK(*ec == asio::error::eof);
}

TEST_CASE("forever, then cancelled: terminal, partial or total") {
  for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial,
                    asio::cancellation_type::total}) {
    CAPTURE(static_cast<int>(type));
    asio::io_context io;
    stream_pair p(io);
    require_handshake(p);
    asio::cancellation_signal signal;
    asio::steady_timer later(io, 100ms);
    later.async_wait([&](std::error_code) { signal.emit(type); });
    auto o = poll_and_wait(io, p.server, wait::read, tlsio::forever, signal.slot());
    CHECK(*o.ec == asio::error::operation_aborted);
    CHECK(o.ready == wait::none);
    io.restart();
    io.run(); // nothing is left waiting
  }
}

TEST_CASE("write is ready on a fresh connection; read and write together") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  CHECK(poll_and_wait(io, p.client, wait::write, 5s).ready == wait::write);
  CHECK(poll_and_wait(io, p.client, wait::read_write, 5s).ready == wait::write);
}

TEST_CASE("not connected: not_connected at once, never taken for a timeout") {
  asio::io_context io;
  stream_pair p(io);
  auto o = poll_and_wait(io, p.client, wait::read_write, 10s);
  CHECK(*o.ec == tlsio::error::not_connected);
  CHECK(o.ready == wait::none);
  CHECK(o.took < 2s);
  std::error_code ec;
  CHECK(tlsio::poll(p.client, wait::read, 10s, ec) == wait::none);
  CHECK(ec == tlsio::error::not_connected);
  CHECK_THROWS_AS(tlsio::poll(p.client, wait::read, 10s), tlsio::tls_error);

  SUBCASE("a socket the application closed: at once, no spinning until the timeout") {
    require_handshake(p);
    p.client.lowest_layer().close();
    auto closed = poll_and_wait(io, p.client, wait::write, 10s);
    CHECK(*closed.ec == asio::error::bad_descriptor);
    CHECK(closed.took < 2s);
    CHECK(tlsio::poll(p.client, wait::read_write, tlsio::forever, ec) == wait::none);
    CHECK(ec == asio::error::bad_descriptor);
  }
  SUBCASE("a timeout past the clock's end is forever, not an immediate timeout") {
    require_handshake(p);
    asio::steady_timer later(io, 300ms);
    later.async_wait([&](std::error_code) { p.server.write_some(asio::buffer("x", 1)); });
    auto o = poll_and_wait(io, p.client, wait::read, std::chrono::hours::max());
    CHECK(!*o.ec);
    CHECK(o.ready == wait::read);
  }
  SUBCASE("after our shutdown") {
    require_handshake(p);
    std::optional<std::error_code> done;
    p.client.async_shutdown([&](std::error_code e) { done = e; });
    p.server.async_shutdown([](std::error_code) {});
    while (!done) {
      io.restart();
      io.run_one_for(100ms);
    }
    auto closed = poll_and_wait(io, p.client, wait::read, 10s);
    CHECK(*closed.ec == tlsio::error::not_connected);
    CHECK(closed.took < 2s);
  }
}

TEST_CASE("blocking poll") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  auto start = std::chrono::steady_clock::now();
  CHECK(tlsio::poll(p.server, wait::read, 200ms) == wait::none);
  CHECK(std::chrono::steady_clock::now() - start >= 150ms);
  CHECK(tlsio::poll(p.client, wait::write, 1s) == wait::write);
  p.client.write_some(asio::buffer("x", 1));
  CHECK(tlsio::poll(p.server, wait::read, 5s) == wait::read);
}

TEST_CASE("poll on an acceptor") {
  asio::io_context io;
  const auto &pki = test_pki::shared();
  tlsio::acceptor acceptor(io.get_executor(), pki.server_context(), "127.0.0.1", 0);
  std::optional<std::error_code> ec;
  wait ready = wait::read;
  tlsio::async_poll(acceptor, 200ms, [&](std::error_code e, wait w) { ec = e, ready = w; });
  while (!ec) {
    io.restart();
    io.run_one_for(100ms);
  }
  CHECK(ready == wait::none);

  tlsio::stream<> client(pki.client_context(), io);
  client.next_layer().connect(acceptor.local_endpoint());
  client.set_server_name("localhost");
  client.async_handshake([](std::error_code) {});
  ec.reset();
  tlsio::async_poll(acceptor, 10s, [&](std::error_code e, wait w) { ec = e, ready = w; });
  while (!ec) {
    io.restart();
    io.run_one_for(100ms);
  }
  CHECK(ready == wait::read);
  CHECK(acceptor.ready());

  acceptor.close();
  ec.reset();
  tlsio::async_poll(acceptor, 10s, [&](std::error_code e, wait w) { ec = e, ready = w; });
  while (!ec) {
    io.restart();
    io.run_one_for(100ms);
  }
  CHECK(*ec == asio::error::bad_descriptor);
  CHECK(ready == wait::none);
}
