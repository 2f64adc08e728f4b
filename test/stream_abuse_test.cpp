// Cancellation at each wait, destruction and close with operations pending, silent peers.
#include "loopback.hpp"

#include <tlsio/compat.hpp>

#include <doctest/doctest.h>

#include <optional>

using namespace tlsio_test;
using namespace std::chrono_literals;

namespace {

// Collects one completion.
struct outcome {
  std::optional<std::error_code> ec;
  std::size_t bytes = 0;
  auto handler() {
    return [this](std::error_code e, std::size_t n = 0) {
      ec = e;
      bytes = n;
    };
  }
};

// Runs io until the outcome is known (bounded).
void settle(asio::io_context &io, const outcome &o, std::chrono::seconds bound = 10s) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  while (!o.ec && std::chrono::steady_clock::now() < deadline) {
    io.restart(); // run_for() stops the context whenever it runs out of work
    io.run_for(5ms);
  }
  REQUIRE(o.ec);
}

// Fills the socket buffers so that a write must wait for the peer to read.
void fill_until_write_blocks(stream_pair &p, outcome &w, asio::cancellation_signal &signal,
                             const std::string &chunk) {
  for (int i = 0; i < 400; ++i) {
    w = {};
    p.client.async_write_some(asio::buffer(chunk),
                              asio::bind_cancellation_slot(signal.slot(), w.handler()));
    p.io.restart();
    p.io.run_for(20ms);
    if (!w.ec)
      return; // waiting on the socket now
    REQUIRE(!*w.ec);
  }
  FAIL("the write never had to wait");
}

} // namespace

TEST_CASE("terminal cancellation at each wait") {
  asio::io_context io;

  SUBCASE("a handshake waiting for the peer") {
    stream_pair p(io); // the server never starts its handshake
    asio::cancellation_signal signal;
    outcome o;
    p.client.async_handshake(
        asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec) { o.ec = ec; }));
    io.run_for(50ms);
    signal.emit(asio::cancellation_type::terminal);
    settle(io, o);
    CHECK(*o.ec == asio::error::operation_aborted);
  }
  SUBCASE("a read waiting for data, and the stream stays usable") {
    stream_pair p(io);
    require_handshake(p);
    asio::cancellation_signal signal;
    outcome o;
    char buffer[16];
    p.server.async_read_some(asio::buffer(buffer),
                             asio::bind_cancellation_slot(signal.slot(), o.handler()));
    io.run_for(30ms);
    signal.emit(asio::cancellation_type::terminal);
    settle(io, o);
    CHECK(*o.ec == asio::error::operation_aborted);
    // Nothing was lost: a new read gets what is written next.
    outcome w, r;
    asio::async_write(p.client, asio::buffer("abc", 3), w.handler());
    p.server.async_read_some(asio::buffer(buffer), r.handler());
    settle(io, r);
    CHECK(!*r.ec);
    CHECK(std::string(buffer, r.bytes) == "abc");
  }
  SUBCASE("a write waiting on a full socket: its records still go out in order") {
    stream_pair p(io);
    require_handshake(p);
    asio::cancellation_signal signal;
    std::string chunk(64 * 1024, 'w');
    outcome w;
    fill_until_write_blocks(p, w, signal, chunk);
    signal.emit(asio::cancellation_type::terminal);
    settle(io, w);
    CHECK(*w.ec == asio::error::operation_aborted);
    // Drain the server side; everything the client accepted arrives intact, then more.
    outcome last;
    asio::async_write(p.client, asio::buffer("END", 3), last.handler());
    std::string got;
    std::vector<char> buffer(70000);
    for (;;) {
      outcome r;
      p.server.async_read_some(asio::buffer(buffer), r.handler());
      settle(io, r);
      REQUIRE(!*r.ec);
      got.append(buffer.data(), r.bytes);
      if (got.size() >= 3 && got.compare(got.size() - 3, 3, "END") == 0)
        break;
    }
    CHECK(got.find_first_not_of('w') == got.size() - 3);
  }
  SUBCASE("a shutdown waiting for the peer's close_notify") {
    stream_pair p(io);
    require_handshake(p);
    asio::cancellation_signal signal;
    outcome o;
    p.client.async_shutdown(
        asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec) { o.ec = ec; }));
    io.run_for(30ms);
    signal.emit(asio::cancellation_type::terminal);
    settle(io, o);
    CHECK(*o.ec == asio::error::operation_aborted);
  }
}

TEST_CASE("destroying the stream with a read and a write pending") {
  asio::io_context io;
  auto p = std::make_unique<stream_pair>(io);
  require_handshake(*p);
  outcome r, w;
  asio::cancellation_signal unused;
  std::string chunk(64 * 1024, 'd');
  fill_until_write_blocks(*p, w, unused, chunk);
  std::vector<char> buffer(100);
  p->client.async_read_some(asio::buffer(buffer), r.handler());
  io.run_for(20ms);
  REQUIRE(!r.ec);
  p.reset(); // both streams and their sockets go away
  settle(io, r);
  settle(io, w);
  CHECK(*r.ec == asio::error::operation_aborted);
  CHECK(*w.ec == asio::error::operation_aborted);
  io.run(); // nothing left behind that touches freed memory
}

TEST_CASE("closing the socket with a read pending") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  outcome r;
  char buffer[10];
  p.client.async_read_some(asio::buffer(buffer), r.handler());
  io.run_for(20ms);
  p.client.lowest_layer().close();
  settle(io, r);
  CHECK(*r.ec == asio::error::operation_aborted);
  outcome after;
  p.client.async_read_some(asio::buffer(buffer), after.handler());
  settle(io, after);
  CHECK(*after.ec);
}

TEST_CASE("shutdown against a peer that never answers ends within its bound") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  p.client.set_shutdown_timeout(300ms);
  outcome o;
  auto start = std::chrono::steady_clock::now();
  p.client.async_shutdown([&](std::error_code ec) { o.ec = ec; });
  settle(io, o);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(*o.ec == tlsio::error::timed_out);
  CHECK(took >= 250ms);
  CHECK(took < 5s);
  CHECK(!p.client.lowest_layer().is_open());
}

TEST_CASE("a handshake against a silent peer times out") {
  asio::io_context io;
  stream_pair p(io);
  p.client.set_handshake_timeout(200ms);
  outcome o;
  p.client.async_handshake([&](std::error_code ec) { o.ec = ec; });
  settle(io, o);
  CHECK(*o.ec == tlsio::error::handshake_timeout);
}

TEST_CASE("not_connected before the handshake and after close") {
  asio::io_context io;
  stream_pair p(io);
  char buffer[4];
  outcome r, w;
  p.client.async_read_some(asio::buffer(buffer), r.handler());
  p.client.async_write_some(asio::buffer("x", 1), w.handler());
  CHECK(!r.ec); // not inside the initiating call
  settle(io, r);
  settle(io, w);
  CHECK(*r.ec == tlsio::error::not_connected);
  CHECK(*w.ec == tlsio::error::not_connected);
  CHECK(r.bytes == 0);

  require_handshake(p);
  outcome a, b;
  p.client.async_shutdown([&](std::error_code ec) { a.ec = ec; });
  p.server.async_read_some(asio::buffer(buffer), b.handler());
  settle(io, b);
  CHECK(*b.ec == asio::error::eof); // the peer's close_notify is a clean end
  outcome c;
  p.server.async_shutdown([&](std::error_code ec) { c.ec = ec; });
  settle(io, a);
  settle(io, c);
  CHECK(!*a.ec);
  CHECK(!*c.ec);
  outcome after_read, after_write;
  p.client.async_read_some(asio::buffer(buffer), after_read.handler());
  p.client.async_write_some(asio::buffer("x", 1), after_write.handler());
  settle(io, after_read);
  settle(io, after_write);
  CHECK(*after_read.ec == tlsio::error::not_connected);
  CHECK(*after_write.ec == tlsio::error::not_connected);
}

TEST_CASE("EOF without close_notify reaches the reader as stream_truncated") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  p.client.lowest_layer().shutdown(asio::socket_base::shutdown_send);
  outcome r;
  char buffer[4];
  p.server.async_read_some(asio::buffer(buffer), r.handler());
  settle(io, r);
  CHECK(*r.ec == tlsio::error::stream_truncated);
}

TEST_CASE("a reader and a writer at once, both ways") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  auto a = pattern(3 << 20), b = pattern(2 << 20);
  std::string got_a(a.size(), '\0'), got_b(b.size(), '\0');
  outcome w1, w2, r1, r2;
  asio::async_write(p.client, asio::buffer(a), w1.handler());
  asio::async_write(p.server, asio::buffer(b), w2.handler());
  asio::async_read(p.server, asio::buffer(got_a), r1.handler());
  asio::async_read(p.client, asio::buffer(got_b), r2.handler());
  for (auto *o : {&w1, &w2, &r1, &r2}) {
    settle(io, *o, 60s);
    CHECK(!*o->ec);
  }
  CHECK(got_a == a);
  CHECK(got_b == b);
}

TEST_CASE("small gather writes share one record") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  std::array<asio::const_buffer, 3> parts = {asio::buffer("GET ", 4), asio::buffer("/ ", 2),
                                             asio::buffer("HTTP/1.1\r\n", 10)};
  outcome w;
  p.client.async_write_some(parts, w.handler());
  settle(io, w);
  CHECK(w.bytes == 16);
  // One record on the wire: header (5) + explicit nonce (8, TLS 1.2) or content type (1,
  // TLS 1.3) + 16 bytes + tag (16).
  std::array<unsigned char, 100> raw{};
  io.run_for(20ms);
  auto n = p.server.next_layer().read_some(asio::buffer(raw));
  bool tls13 = p.client.engine().protocol_version() == "TLSv1.3";
  CHECK(n == 5 + (tls13 ? 1 : 8) + 16 + 16);
  CHECK(raw[0] == 23); // application data
}

// The stream models Asio's stream concepts (compile-time proof).
template <class S>
concept sync_and_async_stream = requires(S s, asio::mutable_buffer m, asio::const_buffer c,
                                         std::error_code ec) {
  s.get_executor();
  { s.read_some(m) } -> std::same_as<std::size_t>;
  { s.read_some(m, ec) } -> std::same_as<std::size_t>;
  { s.write_some(c) } -> std::same_as<std::size_t>;
  { s.write_some(c, ec) } -> std::same_as<std::size_t>;
  s.async_read_some(m, [](std::error_code, std::size_t) {});
  s.async_write_some(c, [](std::error_code, std::size_t) {});
};
static_assert(sync_and_async_stream<tlsio::stream<>>);

TEST_CASE("a handshake whose flight the socket refuses fails at once, not at its timeout") {
  asio::io_context io;
  stream_pair p(io);
  std::error_code ignored;
  p.client.next_layer().shutdown(asio::socket_base::shutdown_send, ignored);
  std::error_code result = asio::error::would_block;
  auto start = std::chrono::steady_clock::now();
  p.client.async_handshake([&](std::error_code ec) { result = ec; });
  io.restart();
  while (result == asio::error::would_block && std::chrono::steady_clock::now() - start < 5s)
    io.run_one_for(100ms);
  CHECK(result == asio::error::broken_pipe);
  CHECK(std::chrono::steady_clock::now() - start < 3s); // the handshake timeout is 10 s
}
