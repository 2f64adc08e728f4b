// Full duplex under pressure: both sides writing more than the kernel holds while reading,
// cancellation that loses no data, stale deadlines, partial and total cancellation, write
// readiness after a timed-out write, and operations that outlive a moved stream.
#include "loopback.hpp"

#include <tlsio/compat.hpp>
#include <tlsio/poll.hpp>

#include <doctest/doctest.h>

#include <array>
#include <filesystem>
#include <optional>
#include <thread>

#include <netinet/in.h>
#include <netinet/tcp.h>

using namespace tlsio_test;
using namespace std::chrono_literals;

namespace {

// Byte i of a transfer: varies with position, so a lost or repeated chunk shows.
char byte_at(std::uint64_t i) { return static_cast<char>((i * 131 + (i >> 13)) & 0xff); }

struct direction_result {
  std::uint64_t written = 0, read = 0;
  bool mismatch = false;
  std::error_code write_error, read_error;
  bool write_done = false, read_done = false;
};

asio::awaitable<void> write_all(tlsio::stream<> &s, std::uint64_t total, direction_result &r) {
  std::vector<char> chunk(64 * 1024);
  while (r.written < total) {
    auto n = std::min<std::uint64_t>(chunk.size(), total - r.written);
    for (std::uint64_t i = 0; i < n; ++i)
      chunk[i] = byte_at(r.written + i);
    auto [ec, m] = co_await asio::async_write(s, asio::buffer(chunk.data(), n),
                                              tlsio::compat::as_tuple(asio::use_awaitable));
    r.written += m;
    if (ec) {
      r.write_error = ec;
      break;
    }
  }
  r.write_done = true;
}

asio::awaitable<void> read_all(tlsio::stream<> &s, std::uint64_t total, direction_result &r) {
  std::vector<char> buffer(50 * 1000); // not a multiple of the record size
  while (r.read < total) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buffer),
                                              tlsio::compat::as_tuple(asio::use_awaitable));
    for (std::size_t i = 0; i < n; ++i)
      r.mismatch |= buffer[i] != byte_at(r.read + i);
    r.read += n;
    if (ec) {
      r.read_error = ec;
      break;
    }
  }
  r.read_done = true;
}

// A loopback pair whose sockets hold only `size` bytes each way. Set before connecting, with
// a small segment size: loopback's 64 KiB segments would not fit such a window, and the
// kernel would then send only when its 200 ms persist timer fires.
std::pair<asio::ip::tcp::socket, asio::ip::tcp::socket> small_buffer_pair(asio::io_context &io,
                                                                          int size) {
  auto shrink = [size](auto &socket) {
    socket.set_option(asio::socket_base::send_buffer_size(size));
    socket.set_option(asio::socket_base::receive_buffer_size(size));
    int segment = 1024;
    ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_MAXSEG, &segment, sizeof segment);
  };
  asio::ip::tcp::acceptor listener(io);
  listener.open(asio::ip::tcp::v4());
  shrink(listener);
  listener.bind({asio::ip::make_address("127.0.0.1"), 0});
  listener.listen();
  asio::ip::tcp::socket a(io), b(io);
  a.open(asio::ip::tcp::v4());
  shrink(a);
  a.connect(listener.local_endpoint());
  listener.accept(b);
  return {std::move(a), std::move(b)};
}

// Each side writes `total` bytes while reading the other's: both directions at once.
void transfer_both_ways(stream_pair &p, std::uint64_t total, std::chrono::seconds bound) {
  direction_result to_server, to_client;
  asio::co_spawn(p.io, write_all(p.client, total, to_server), asio::detached);
  asio::co_spawn(p.io, read_all(p.server, total, to_server), asio::detached);
  asio::co_spawn(p.io, write_all(p.server, total, to_client), asio::detached);
  asio::co_spawn(p.io, read_all(p.client, total, to_client), asio::detached);
  auto deadline = std::chrono::steady_clock::now() + bound;
  auto done = [&] {
    return to_server.write_done && to_server.read_done && to_client.write_done &&
           to_client.read_done;
  };
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    p.io.restart();
    p.io.run_for(10ms);
  }
  INFO("to server: written ", to_server.written, ", read ", to_server.read);
  INFO("to client: written ", to_client.written, ", read ", to_client.read);
  REQUIRE(done());
  CHECK(!to_server.write_error);
  CHECK(!to_server.read_error);
  CHECK(!to_client.write_error);
  CHECK(!to_client.read_error);
  CHECK(to_server.read == total);
  CHECK(to_client.read == total);
  CHECK(!to_server.mismatch);
  CHECK(!to_client.mismatch);
}

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

void run_until(asio::io_context &io, const std::function<bool()> &done,
               std::chrono::seconds bound) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(5ms);
  }
}

// Writes from s until a write has to wait for the peer (who is not reading); returns the
// pending write's outcome holder.
std::size_t writes_taken = 0; // writes fill_until_write_waits started, the waiting one too

void fill_until_write_waits(stream_pair &p, tlsio::stream<> &s, outcome &w,
                            asio::cancellation_slot slot, const std::string &chunk) {
  writes_taken = 0;
  for (int i = 0; i < 2000; ++i) {
    ++writes_taken;
    w = {};
    s.async_write_some(asio::buffer(chunk), asio::bind_cancellation_slot(slot, w.handler()));
    p.io.restart();
    p.io.run_for(10ms);
    if (!w.ec)
      return;
    REQUIRE(!*w.ec);
  }
  FAIL("the write never had to wait");
}

} // namespace

TEST_CASE("both sides write 4 MiB while reading, through 8 KiB socket buffers") {
  asio::io_context io;
  stream_pair p(io, test_pki::shared().client_context(), test_pki::shared().server_context(),
                small_buffer_pair(io, 8192));
  require_handshake(p);
  transfer_both_ways(p, 4 << 20, 120s);
}

TEST_CASE("both sides write 64 MiB while reading, with the kernel's default buffers") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  transfer_both_ways(p, std::uint64_t{64} << 20, 240s);
}

TEST_CASE("a reader is not starved while its own side streams writes") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  // The client writes without end; the server reads it all and, once 1 MiB has come,
  // answers "ping". The client's read must see it while its writer is still going.
  direction_result to_server;
  constexpr std::uint64_t total = std::uint64_t{1} << 40;
  asio::co_spawn(io, write_all(p.client, total, to_server), asio::detached);
  std::vector<char> sink(64 * 1024);
  std::function<void()> drain = [&] {
    p.server.async_read_some(asio::buffer(sink), [&](std::error_code ec, std::size_t n) {
      to_server.read += n;
      if (!ec)
        drain();
    });
  };
  drain();
  run_until(
      io, [&] { return to_server.read >= (1u << 20); }, 30s);
  REQUIRE(to_server.read >= (1u << 20));
  outcome pinged;
  asio::async_write(p.server, asio::buffer(std::string("ping")),
                    [](std::error_code, std::size_t) {});
  char answer[16];
  p.client.async_read_some(asio::buffer(answer), pinged.handler());
  run_until(
      io, [&] { return pinged.ec.has_value(); }, 30s);
  REQUIRE(pinged.ec);
  CHECK(!*pinged.ec);
  CHECK(std::string(answer, pinged.bytes) == "ping");
  CHECK(!to_server.write_done); // the writer was still streaming
}

TEST_CASE("a read that has data completes with it even while the writer is stuck") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  // The client's writes fill the socket (the server does not read), then the server sends
  // "hello": a timed read on the client returns it instead of losing it to the timeout.
  outcome w;
  asio::cancellation_signal write_signal;
  fill_until_write_waits(p, p.client, w, write_signal.slot(), std::string(64 * 1024, 'x'));
  outcome sent;
  asio::async_write(p.server, asio::buffer(std::string("hello")), sent.handler());
  run_until(
      io, [&] { return sent.ec.has_value(); }, 10s);
  REQUIRE(sent.ec);
  std::this_thread::sleep_for(50ms);
  outcome r;
  char buffer[64];
  p.client.async_read_some_for(asio::buffer(buffer), 200ms, r.handler());
  run_until(
      io, [&] { return r.ec.has_value(); }, 10s);
  REQUIRE(r.ec);
  CHECK(!*r.ec);
  CHECK(std::string(buffer, r.bytes) == "hello");
  CHECK(!w.ec); // the write still waits for the server
  write_signal.emit(asio::cancellation_type::terminal);
  run_until(
      io, [&] { return w.ec.has_value(); }, 10s);
}

TEST_CASE("a cancelled read leaves arriving data for the next read") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  for (auto type : {asio::cancellation_type::terminal, asio::cancellation_type::partial,
                    asio::cancellation_type::total}) {
    asio::cancellation_signal signal;
    outcome r;
    char buffer[64];
    p.client.async_read_some(asio::buffer(buffer),
                             asio::bind_cancellation_slot(signal.slot(), r.handler()));
    io.restart();
    io.run_for(20ms);
    REQUIRE(!r.ec);
    signal.emit(type);
    run_until(
        io, [&] { return r.ec.has_value(); }, 10s);
    REQUIRE(r.ec);
    CHECK(*r.ec == asio::error::operation_aborted);
    CHECK(r.bytes == 0);
    outcome sent;
    asio::async_write(p.server, asio::buffer(std::string("after")), sent.handler());
    outcome again;
    p.client.async_read_some(asio::buffer(buffer), again.handler());
    run_until(
        io, [&] { return again.ec.has_value(); }, 10s);
    REQUIRE(again.ec);
    CHECK(!*again.ec);
    CHECK(std::string(buffer, again.bytes) == "after");
  }
}

TEST_CASE("partial cancellation ends a waiting write; total cancellation cannot undo it") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  std::string chunk(64 * 1024, 'y');
  asio::cancellation_signal signal;
  outcome w;
  fill_until_write_waits(p, p.client, w, signal.slot(), chunk);
  // Its records are encrypted and queued: total cancellation (no side effects) cannot be
  // honoured, so the write goes on waiting.
  signal.emit(asio::cancellation_type::total);
  io.restart();
  io.run_for(50ms);
  CHECK(!w.ec);
  signal.emit(asio::cancellation_type::partial);
  run_until(
      io, [&] { return w.ec.has_value(); }, 10s);
  REQUIRE(w.ec);
  CHECK(*w.ec == asio::error::operation_aborted);
  CHECK(w.bytes == chunk.size()); // taken: its records still go out
  // Everything written, the cancelled write included, reaches the server once it reads.
  std::size_t written = 0;
  // fill_until_write_waits wrote chunk-sized pieces, each taken in full.
  std::vector<char> sink(256 * 1024);
  std::size_t received = 0;
  std::function<void()> drain = [&] {
    p.server.async_read_some(asio::buffer(sink), [&](std::error_code ec, std::size_t n) {
      received += n;
      if (!ec)
        drain();
    });
  };
  drain();
  written = writes_taken * chunk.size();
  run_until(
      io, [&] { return received >= written; }, 10s);
  CHECK(received == written);
}

TEST_CASE("partial cancellation ends a handshake that waits for a silent peer") {
  asio::io_context io;
  auto [client_socket, silent] = tcp_pair(io);
  tlsio::stream<> client(test_pki::shared().client_context(), std::move(client_socket));
  client.set_server_name("localhost");
  asio::cancellation_signal signal;
  std::optional<std::error_code> done;
  client.async_handshake(
      asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec) { done = ec; }));
  io.restart();
  io.run_for(20ms);
  REQUIRE(!done);
  signal.emit(asio::cancellation_type::partial);
  run_until(
      io, [&] { return done.has_value(); }, 10s);
  REQUIRE(done);
  CHECK(*done == asio::error::operation_aborted);
}

TEST_CASE("a handshake that completes as its deadline fires leaves no stale expiry") {
  // Client and server on separate io_contexts, so the client's handshake can be held back
  // while the server finishes: the client then sees its last flight and its expired
  // deadline in the same turn of its event loop.
  for (int attempt = 0; attempt < 5; ++attempt) {
    asio::io_context client_io, server_io;
    asio::ip::tcp::acceptor listener(server_io, {asio::ip::make_address("127.0.0.1"), 0});
    asio::ip::tcp::socket client_socket(client_io), server_socket(server_io);
    client_socket.connect(listener.local_endpoint());
    listener.accept(server_socket);
    // TLS 1.2, where the client finishes last: its handshake can complete as its deadline
    // fires while the server's is long done.
    auto client_ctx = test_pki::shared().client_context();
    client_ctx.set_max_version(tlsio::tls_version::tls1_2);
    tlsio::stream<> client(client_ctx, std::move(client_socket));
    tlsio::stream<> server(test_pki::shared().server_context(), std::move(server_socket));
    client.set_server_name("localhost");
    client.set_handshake_timeout(200ms);
    std::optional<std::error_code> client_done, server_done, read_done;
    char buffer[16];
    std::size_t read_bytes = 0;
    client.async_handshake([&](std::error_code ec) {
      client_done = ec;
      if (!ec) // a read started right away must not be hit by the old expiry
        client.async_read_some(asio::buffer(buffer), [&](std::error_code e, std::size_t n) {
          read_done = e;
          read_bytes = n;
        });
    });
    server.async_handshake([&](std::error_code ec) { server_done = ec; });
    auto bound = std::chrono::steady_clock::now() + 10s;
    while (!server_done && std::chrono::steady_clock::now() < bound) {
      client_io.restart();
      client_io.poll();
      server_io.restart();
      server_io.run_for(1ms);
    }
    REQUIRE(server_done);
    REQUIRE(!*server_done);
    REQUIRE(!client_done);
    std::this_thread::sleep_for(250ms); // the client's deadline passes, unseen
    client_io.restart();
    client_io.poll();
    REQUIRE(client_done);
    if (*client_done == tlsio::error::handshake_timeout)
      continue; // the expiry came first this time: a fair outcome, try again
    REQUIRE(!*client_done);
    std::optional<std::error_code> sent;
    asio::async_write(server, asio::buffer(std::string("fresh")),
                      [&](std::error_code ec, std::size_t) { sent = ec; });
    bound = std::chrono::steady_clock::now() + 10s;
    while (!read_done && std::chrono::steady_clock::now() < bound) {
      server_io.restart();
      server_io.poll();
      client_io.restart();
      client_io.run_for(5ms);
    }
    REQUIRE(read_done);
    CHECK(!*read_done);
    CHECK(std::string(buffer, read_bytes) == "fresh");
    return;
  }
  FAIL("the deadline won every race; the stale case was never exercised");
}

TEST_CASE("poll reports write once the peer drains what a timed-out write left") {
  for (bool forever : {false, true}) {
    asio::io_context io;
    stream_pair p(io);
    require_handshake(p);
    std::string chunk(256 * 1024, 'z');
    outcome w;
    for (int i = 0; i < 200; ++i) { // until a write times out with records unsent
      w = {};
      p.client.async_write_some_for(asio::buffer(chunk), 100ms, w.handler());
      run_until(
          io, [&] { return w.ec.has_value(); }, 10s);
      REQUIRE(w.ec);
      if (*w.ec)
        break;
    }
    REQUIRE(*w.ec == tlsio::error::timed_out);
    // The server reads everything that comes.
    std::vector<char> sink(256 * 1024);
    std::function<void()> drain = [&] {
      p.server.async_read_some(asio::buffer(sink), [&](std::error_code ec, std::size_t) {
        if (!ec)
          drain();
      });
    };
    drain();
    std::optional<tlsio::wait> ready;
    auto done = [&](std::error_code, tlsio::wait r) { ready = r; };
    if (forever)
      tlsio::async_poll(p.client, tlsio::wait::write, tlsio::forever, done);
    else
      tlsio::async_poll(p.client, tlsio::wait::write, 3s, done);
    run_until(
        io, [&] { return ready.has_value(); }, 10s);
    REQUIRE(ready);
    CHECK(*ready == tlsio::wait::write);
  }
}

TEST_CASE("a deferred timed read started after its stream moved uses the moved-to stream") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  char buffer[16];
  auto op = p.client.async_read_some_for(asio::buffer(buffer), 2s, tlsio::compat::deferred);
  tlsio::stream<> moved(std::move(p.client));
  outcome r;
  std::move(op)(r.handler());
  asio::async_write(p.server, asio::buffer(std::string("moved")),
                    [](std::error_code, std::size_t) {});
  run_until(
      io, [&] { return r.ec.has_value(); }, 10s);
  REQUIRE(r.ec);
  CHECK(!*r.ec);
  CHECK(std::string(buffer, r.bytes) == "moved");
}

TEST_CASE("a write to a peer that has reset completes with the error") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  p.server.lowest_layer().set_option(asio::socket_base::linger(true, 0));
  p.server.lowest_layer().close(); // RST
  std::this_thread::sleep_for(20ms);
  outcome w;
  for (int i = 0; i < 3 && !(w.ec && *w.ec); ++i) { // the first send may still be taken
    w = {};
    p.client.async_write_some(asio::buffer(std::string("hello")), w.handler());
    run_until(
        io, [&] { return w.ec.has_value(); }, 5s);
    REQUIRE(w.ec);
  }
  CHECK(*w.ec);
}

TEST_CASE("a blocking write while a timed-out write's records are still going is refused") {
  asio::io_context io;
  stream_pair p(io);
  require_handshake(p);
  std::string chunk(256 * 1024, 'q');
  std::size_t written = 0;
  outcome w;
  for (int i = 0; i < 200; ++i) {
    w = {};
    p.client.async_write_some_for(asio::buffer(chunk), 100ms, w.handler());
    run_until(
        io, [&] { return w.ec.has_value(); }, 10s);
    REQUIRE(w.ec);
    written += w.bytes;
    if (*w.ec)
      break;
  }
  REQUIRE(*w.ec == tlsio::error::timed_out);
  std::error_code ec;
  auto n = p.client.write_some(asio::buffer(std::string("tail")), ec);
  CHECK(ec == asio::error::in_progress);
  CHECK(n == 0);
  // Nothing was sent twice or lost: the server gets exactly what the writes took.
  std::vector<char> sink(256 * 1024);
  std::size_t received = 0;
  std::optional<std::error_code> read_error;
  std::function<void()> drain = [&] {
    p.server.async_read_some(asio::buffer(sink), [&](std::error_code e, std::size_t m) {
      received += m;
      if (e)
        read_error = e;
      else
        drain();
    });
  };
  drain();
  run_until(
      io, [&] { return received >= written || read_error.has_value(); }, 20s);
  CHECK(!read_error);
  CHECK(received == written);
}

TEST_CASE("a blocking shutdown keeps its bound while close_notify cannot be sent") {
  asio::io_context io;
  stream_pair p(io, test_pki::shared().client_context(), test_pki::shared().server_context(),
                small_buffer_pair(io, 8192));
  require_handshake(p);
  // Fill the client's socket with raw bytes the server never reads.
  auto &socket = p.client.next_layer();
  socket.non_blocking(true);
  std::string filler(4096, 'f');
  std::error_code ec;
  for (int i = 0; i < 10000 && !ec; ++i)
    socket.send(asio::buffer(filler), 0, ec);
  REQUIRE(ec == asio::error::would_block);
  socket.non_blocking(false);
  p.client.set_shutdown_timeout(300ms);
  auto start = std::chrono::steady_clock::now();
  p.client.shutdown(ec);
  CHECK(ec == tlsio::error::timed_out);
  CHECK(std::chrono::steady_clock::now() - start < 10s); // bounded, not blocked on the peer
}

TEST_CASE("a moved-from stream keeps its executor") {
  asio::io_context io;
  stream_pair p(io);
  tlsio::stream<> moved(std::move(p.client));
  CHECK(p.client.get_executor() == moved.get_executor());
  CHECK(p.client.get_executor() == asio::any_io_executor(io.get_executor()));
}

TEST_CASE("streams destroyed with writes and polls pending give back their descriptors") {
  auto open_descriptors = [] {
    std::size_t n = 0;
    for ([[maybe_unused]] auto &entry : std::filesystem::directory_iterator("/proc/self/fd"))
      ++n;
    return n;
  };
  {
    asio::io_context io;
    { stream_pair warm_up(io); } // the reactor's own descriptors exist from here on
    auto before = open_descriptors();
    // The handlers' results outlive the streams, which go with their operations pending.
    std::vector<std::unique_ptr<outcome>> outcomes;
    std::vector<std::unique_ptr<asio::cancellation_signal>> signals;
    std::array<char, 16> buffer{};
    std::vector<tlsio::stream<>> servers;
    for (int i = 0; i < 10; ++i) {
      stream_pair p(io);
      require_handshake(p);
      auto &w = *outcomes.emplace_back(std::make_unique<outcome>());
      auto &signal = *signals.emplace_back(std::make_unique<asio::cancellation_signal>());
      fill_until_write_waits(p, p.client, w, signal.slot(), std::string(64 * 1024, 'd'));
      auto &r = *outcomes.emplace_back(std::make_unique<outcome>());
      p.server.async_read_some(asio::buffer(buffer), r.handler());
      tlsio::async_poll(p.client, tlsio::wait::read, tlsio::forever,
                        [](std::error_code, tlsio::wait) {});
      io.restart();
      io.run_for(5ms);
      // The server stays, silent: nothing from the peer can end the client's operations.
      servers.push_back(std::move(p.server));
    }
    io.restart();
    io.run_for(100ms);
    // The clients are gone with their operations; the servers still hold theirs.
    CHECK(open_descriptors() == before + servers.size());
    servers.clear();
    io.restart();
    io.run_for(100ms);
    for (auto &o : outcomes)
      CHECK(o->ec.has_value()); // every operation completed
    CHECK(open_descriptors() == before);
  }
}
