// The in-memory test stream itself (test/support/test_stream.hpp), and tlsio::stream over it.
#include "engine_pair.hpp"
#include "support/test_stream.hpp"

#include <tlsio/compat.hpp>
#include <tlsio/stream.hpp>

#include <asio.hpp>

#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace tlsio_test;
using namespace std::chrono_literals;

namespace {

// Runs the handlers that are ready, and those they make ready, until none is. Never waits
// for one: a waiting operation keeps the context busy (as a socket's does), so run() would
// not return. Bounded in any case.
void settle(asio::io_context &io, std::chrono::milliseconds bound = 10s) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  io.restart();
  while (io.poll_one() > 0 && std::chrono::steady_clock::now() < deadline) {
  }
}

// The completion of one read or write, once it comes.
struct outcome {
  bool done = false;
  std::error_code ec;
  std::size_t n = 0;

  auto handler() {
    return [this](std::error_code e, std::size_t k) {
      CHECK(!done); // exactly once
      done = true;
      ec = e;
      n = k;
    };
  }
};

std::string pattern(std::size_t n, std::size_t seed = 0) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>('a' + (i * 7 + seed + i / 251) % 26);
  return s;
}

constexpr asio::cancellation_type_t cancellation_types[] = {asio::cancellation_type::terminal,
                                                            asio::cancellation_type::partial,
                                                            asio::cancellation_type::total};

} // namespace

TEST_CASE("a write beyond capacity completes partially, then waits for the peer to read") {
  asio::io_context io;
  auto [a, b] = make_test_stream_pair(io.get_executor(), {.capacity = 10});
  std::string data = "0123456789abcdefghij";

  outcome first;
  a.async_write_some(asio::buffer(data), first.handler());
  settle(io);
  REQUIRE(first.done);
  CHECK(!first.ec);
  CHECK(first.n == 10); // the free space, not all 20
  CHECK(a.in_flight() == 10);
  CHECK(b.available() == 10);

  outcome second;
  a.async_write_some(asio::buffer(data.data() + 10, 10), second.handler());
  settle(io);
  CHECK(!second.done); // full: it waits
  CHECK(a.write_pending());
  CHECK(a.pending_ops() == 1);

  char got[4];
  outcome read;
  b.async_read_some(asio::buffer(got), read.handler());
  settle(io);
  REQUIRE(read.done);
  CHECK(read.n == 4);
  CHECK(std::string(got, 4) == "0123");
  REQUIRE(second.done);
  CHECK(!second.ec);
  CHECK(second.n == 4); // the room the read made
  CHECK(!a.write_pending());
  CHECK(b.available() == 10);

  std::string rest(20, '\0');
  CHECK(b.read_some(asio::buffer(rest)) == 10);
  CHECK(rest.substr(0, 10) == "456789abcd");
  CHECK(a.bytes_written() == 14);
  CHECK(b.bytes_read() == 14);
  CHECK(a.in_flight() == 0);
}

TEST_CASE("reads deliver at most read_chunk bytes; writes take at most write_chunk") {
  asio::io_context io;
  auto [a, b] = make_test_stream_pair(io.get_executor(), {.read_chunk = 3, .write_chunk = 4});
  std::string message = "hello world";

  std::vector<std::size_t> written;
  for (std::size_t at = 0; at < message.size();)
    at +=
        written.emplace_back(a.write_some(asio::buffer(message.data() + at, message.size() - at)));
  CHECK(written == std::vector<std::size_t>{4, 4, 3});

  std::string got;
  std::vector<std::size_t> reads;
  char buffer[100];
  std::error_code ec;
  for (std::size_t n; (n = b.read_some(asio::buffer(buffer), ec)) > 0;) {
    reads.push_back(n);
    got.append(buffer, n);
  }
  CHECK(ec == asio::error::would_block);
  CHECK(reads == std::vector<std::size_t>{3, 3, 3, 2});
  CHECK(got == message);

  // A gather write is cut at write_chunk too, and a small buffer takes less than a chunk.
  std::array<asio::const_buffer, 2> pieces{asio::buffer("ab", 2), asio::buffer("cdef", 4)};
  CHECK(a.write_some(pieces) == 4);
  CHECK(b.read_some(asio::buffer(buffer, 2)) == 2);
  CHECK(b.read_some(asio::buffer(buffer)) == 2);
  CHECK(std::string(buffer, 2) == "cd");
}

TEST_CASE("asio::async_write and asio::async_read work on top, both ways at once") {
  asio::io_context io;
  auto [a, b] =
      make_test_stream_pair(io.get_executor(), {.capacity = 64, .read_chunk = 7, .write_chunk = 5});
  auto ab = pattern(10000, 1), ba = pattern(7777, 2);
  std::string ab_got(ab.size(), '\0'), ba_got(ba.size(), '\0');
  outcome w_ab, r_ab, w_ba, r_ba;
  asio::async_write(a, asio::buffer(ab), w_ab.handler());
  asio::async_read(b, asio::buffer(ab_got), r_ab.handler());
  asio::async_write(b, asio::buffer(ba), w_ba.handler());
  asio::async_read(a, asio::buffer(ba_got), r_ba.handler());
  settle(io);
  for (auto *o : {&w_ab, &r_ab, &w_ba, &r_ba}) {
    REQUIRE(o->done);
    CHECK(!o->ec);
  }
  CHECK(r_ab.n == ab.size());
  CHECK(ab_got == ab);
  CHECK(ba_got == ba);
  CHECK(a.bytes_written() == ab.size());
  CHECK(a.bytes_read() == ba.size());
  CHECK(a.pending_ops() + b.pending_ops() == 0);
  // 10000 bytes in reads of at most 7: at least 1429 reads, and 2000 writes of at most 5.
  CHECK(a.operations() >= 1429 + 2000 + 1112 + 1556);
}

TEST_CASE("completion tokens: use_future and deferred") {
  asio::io_context io;
  auto [a, b] = make_test_stream_pair(io.get_executor());
  auto written = a.async_write_some(asio::buffer("hey", 3), asio::use_future);
  char got[3];
  auto read = b.async_read_some(asio::buffer(got), tlsio::compat::deferred);
  std::size_t n = 0;
  std::move(read)([&](std::error_code ec, std::size_t k) {
    CHECK(!ec);
    n = k;
  });
  settle(io);
  REQUIRE(written.wait_for(0s) == std::future_status::ready);
  CHECK(written.get() == 3);
  CHECK(n == 3);
}

TEST_CASE("handlers are never called inside the initiating call") {
  asio::io_context io;
  auto fail =
      std::make_shared<fail_count>(3, test_error::injected_failure, fail_count::mode::only_nth);
  auto [a, b] = make_test_stream_pair(io.get_executor(), {.fail = fail});
  char buffer[8];

  outcome wrote; // room at once (operation 1)
  a.async_write_some(asio::buffer("abc", 3), wrote.handler());
  CHECK(!wrote.done);
  outcome read; // data at once (operation 2)
  b.async_read_some(asio::buffer(buffer), read.handler());
  CHECK(!read.done);
  outcome injected; // operation 3 fails
  b.async_read_some(asio::buffer(buffer), injected.handler());
  CHECK(!injected.done);
  outcome empty; // zero-size buffer
  b.async_read_some(asio::buffer(buffer, 0), empty.handler());
  CHECK(!empty.done);
  settle(io);
  CHECK(wrote.n == 3);
  CHECK(read.n == 3);
  CHECK(injected.ec == test_error::injected_failure);
  REQUIRE(empty.done);
  CHECK(!empty.ec);
  CHECK(empty.n == 0);

  // Again from inside a handler, where asio::dispatch would run a handler at once.
  outcome woken, closed, eof;
  b.async_read_some(asio::buffer(buffer), woken.handler());
  asio::post(io, [&, &a = a, &b = b] {
    a.write_some(asio::buffer("x", 1)); // wakes b's waiting read
    CHECK(!woken.done);
    a.close();
    a.async_read_some(asio::buffer(buffer), closed.handler()); // on a closed end
    CHECK(!closed.done);
    b.async_read_some(asio::buffer(buffer), eof.handler()); // the peer closed
    CHECK(!eof.done);
  });
  settle(io);
  CHECK(woken.n == 1);
  CHECK(closed.ec == asio::error::bad_descriptor);
  CHECK(eof.ec == asio::error::eof);
}

TEST_CASE("handlers run on their associated executor") {
  asio::io_context io;
  auto strand = asio::make_strand(io);
  auto [a, b] = make_test_stream_pair(io.get_executor());
  char buffer[4];
  bool on_strand = false;
  a.async_read_some(asio::buffer(buffer),
                    asio::bind_executor(strand, [&](std::error_code ec, std::size_t n) {
                      CHECK(!ec);
                      CHECK(n == 4);
                      on_strand = strand.running_in_this_thread();
                    }));
  b.write_some(asio::buffer("ping", 4));
  settle(io);
  CHECK(on_strand);
}

TEST_CASE("one read and one write at a time on each end") {
  asio::io_context io;
  auto [a, b] = make_test_stream_pair(io.get_executor());
  char buffer[4];
  outcome first, second;
  a.async_read_some(asio::buffer(buffer), first.handler());
  a.async_read_some(asio::buffer(buffer), second.handler());
  std::error_code ec;
  a.read_some(asio::buffer(buffer), ec);
  CHECK(ec == asio::error::already_started);
  settle(io);
  CHECK(!first.done);
  REQUIRE(second.done);
  CHECK(second.ec == asio::error::already_started);
  b.write_some(asio::buffer("x", 1));
  settle(io);
  CHECK(first.n == 1);
}

TEST_CASE("synchronous forms return would_block instead of blocking") {
  asio::io_context io;
  auto [a, b] = make_test_stream_pair(io.get_executor(), {.capacity = 4});
  char buffer[8];
  std::error_code ec;
  CHECK(b.read_some(asio::buffer(buffer), ec) == 0);
  CHECK(ec == asio::error::would_block);
  CHECK_THROWS_AS(b.read_some(asio::buffer(buffer)), std::system_error);

  CHECK(asio::write(a, asio::buffer("0123456789", 10), ec) == 4);
  CHECK(ec == asio::error::would_block);
  CHECK(a.in_flight() == 4);
  CHECK(asio::read(b, asio::buffer(buffer, 4), ec) == 4);
  CHECK(!ec);
  CHECK(std::string(buffer, 4) == "0123");
}

TEST_CASE("fail_count: the N-th operation fails, and a loop over N reaches every one") {
  auto data = pattern(100);
  std::size_t scenario_ops = 0;
  std::size_t n = 1;
  for (; n < 1000; ++n) {
    CAPTURE(n);
    auto fail = std::make_shared<fail_count>(n);
    asio::io_context io;
    auto pair =
        make_test_stream_pair(io.get_executor(), {.capacity = 16, .read_chunk = 5, .fail = fail});
    auto &[a, b] = pair;
    std::string got(data.size(), '\0');
    std::optional<std::error_code> wrote, read;
    // On error, close, as a program would: that releases the peer's waiting operation.
    asio::async_write(a, asio::buffer(data), [&](std::error_code ec, std::size_t) {
      wrote = ec;
      if (ec)
        pair.first.close();
    });
    asio::async_read(b, asio::buffer(got), [&](std::error_code ec, std::size_t) {
      read = ec;
      if (ec)
        pair.second.close();
    });
    settle(io);
    REQUIRE(wrote);
    REQUIRE(read);
    if (!fail->triggered()) {
      CHECK(!*wrote);
      CHECK(!*read);
      CHECK(got == data);
      scenario_ops = fail->operations();
      CHECK(a.operations() == scenario_ops);
      break;
    }
    CHECK((*wrote == test_error::injected_failure || *read == test_error::injected_failure));
    CHECK(fail->operations() >= n);
  }
  CHECK(n == scenario_ops + 1);  // every operation of the scenario failed once
  CHECK(scenario_ops >= 20 + 7); // 100 bytes in reads of 5, writes of at most 16
}

TEST_CASE("fail_count: modes, sync operations, a chosen error, sharing") {
  asio::io_context io;

  SUBCASE("from the N-th on (default), with the test category") {
    auto fail = std::make_shared<fail_count>(2);
    auto [a, b] = make_test_stream_pair(io.get_executor(), {.fail = fail});
    std::error_code ec;
    CHECK(a.write_some(asio::buffer("xy", 2), ec) == 2);
    CHECK(!ec);
    char buffer[2];
    b.read_some(asio::buffer(buffer), ec);
    CHECK(ec == test_error::injected_failure);
    CHECK(std::string(ec.category().name()) == "tlsio_test");
    b.read_some(asio::buffer(buffer), ec);
    CHECK(ec == test_error::injected_failure);
    CHECK(b.available() == 2); // a failed operation transfers nothing
    CHECK(fail->operations() == 3);
    CHECK(fail->failures() == 2);
  }
  SUBCASE("the N-th alone, with asio's connection_reset") {
    auto fail =
        std::make_shared<fail_count>(2, asio::error::connection_reset, fail_count::mode::only_nth);
    auto [a, b] = make_test_stream_pair(io.get_executor(), {.fail = fail});
    a.write_some(asio::buffer("xy", 2));
    char buffer[2];
    outcome failed, ok;
    b.async_read_some(asio::buffer(buffer), failed.handler());
    b.async_read_some(asio::buffer(buffer), ok.handler());
    settle(io);
    CHECK(failed.ec == asio::error::connection_reset);
    CHECK(!ok.ec);
    CHECK(ok.n == 2);
    CHECK(fail->failures() == 1);
    CHECK(a.operations() == 3);
  }
  SUBCASE("n == 0 only counts; one counter shared by two pairs") {
    auto fail = std::make_shared<fail_count>(0);
    auto [a, b] = make_test_stream_pair(io.get_executor(), {.fail = fail});
    auto [c, d] = make_test_stream_pair(io.get_executor(), {.fail = fail});
    a.write_some(asio::buffer("x", 1));
    c.write_some(asio::buffer("y", 1));
    char buffer[1];
    d.read_some(asio::buffer(buffer));
    CHECK(fail->operations() == 3);
    CHECK(!fail->triggered());
    CHECK(a.operations() == 1);
    CHECK(c.operations() == 2);
  }
}

TEST_CASE("per-operation cancellation: terminal, partial and total") {
  for (auto type : cancellation_types) {
    INFO("cancellation type " << static_cast<int>(type));
    asio::io_context io;
    asio::cancellation_signal read_signal, write_signal;
    {
      auto [a, b] = make_test_stream_pair(io.get_executor(), {.capacity = 4});
      char buffer[8];
      outcome read, write;
      a.async_read_some(asio::buffer(buffer),
                        asio::bind_cancellation_slot(read_signal.slot(), read.handler()));
      a.write_some(asio::buffer("abcd", 4));
      a.async_write_some(asio::buffer("efgh", 4),
                         asio::bind_cancellation_slot(write_signal.slot(), write.handler()));
      settle(io);
      CHECK(a.pending_ops() == 2);

      read_signal.emit(type);
      settle(io);
      REQUIRE(read.done);
      CHECK(read.ec == asio::error::operation_aborted);
      CHECK(read.n == 0);
      CHECK(!write.done);

      write_signal.emit(type);
      settle(io);
      REQUIRE(write.done);
      CHECK(write.ec == asio::error::operation_aborted);
      CHECK(write.n == 0);
      CHECK(a.pending_ops() == 0);
      CHECK(b.available() == 4); // nothing of the cancelled write arrived

      // Still usable; the signal's stale handler leaves the next operation alone.
      outcome next;
      a.async_read_some(asio::buffer(buffer), next.handler());
      read_signal.emit(type);
      settle(io);
      CHECK(!next.done);
      b.write_some(asio::buffer("z", 1));
      settle(io);
      REQUIRE(next.done);
      CHECK(!next.ec);
      CHECK(next.n == 1);
    }
    read_signal.emit(type); // the pair is gone: nothing happens
  }
}

TEST_CASE("cancel() aborts this end's waiting operations, not the peer's") {
  asio::io_context io;
  auto [a, b] = make_test_stream_pair(io.get_executor(), {.capacity = 2});
  char buffer[4];
  outcome a_read, b_read;
  a.async_read_some(asio::buffer(buffer), a_read.handler());
  b.async_read_some(asio::buffer(buffer), b_read.handler());
  a.cancel();
  settle(io);
  CHECK(a_read.ec == asio::error::operation_aborted);
  CHECK(!b_read.done);

  outcome a_write;
  b.cancel();
  settle(io);
  CHECK(b_read.ec == asio::error::operation_aborted);
  a.write_some(asio::buffer("ab", 2));
  a.async_write_some(asio::buffer("cd", 2), a_write.handler());
  settle(io);
  CHECK(!a_write.done);
  a.cancel();
  settle(io);
  CHECK(a_write.ec == asio::error::operation_aborted);
  CHECK(a.in_flight() == 2);

  a.close();
  std::error_code ec;
  a.cancel(ec);
  CHECK(ec == asio::error::bad_descriptor);
  CHECK_THROWS_AS(a.cancel(), std::system_error);
}

TEST_CASE("close: the peer reads what is left, then eof; its writes fail with broken_pipe") {
  asio::io_context io;
  char buffer[16];

  SUBCASE("after the close") {
    auto [a, b] = make_test_stream_pair(io.get_executor());
    outcome own_read;
    a.async_read_some(asio::buffer(buffer), own_read.handler());
    a.write_some(asio::buffer("hello", 5));
    b.write_some(asio::buffer("dropped", 7)); // a's unread input goes with it
    settle(io);
    REQUIRE(own_read.done); // took "dropped"
    a.close();
    CHECK(!a.is_open());
    CHECK(b.is_open());

    std::error_code ec;
    CHECK(b.read_some(asio::buffer(buffer), ec) == 5);
    CHECK(!ec);
    b.read_some(asio::buffer(buffer), ec);
    CHECK(ec == asio::error::eof);
    outcome read, write;
    b.async_read_some(asio::buffer(buffer), read.handler());
    b.async_write_some(asio::buffer("x", 1), write.handler());
    settle(io);
    CHECK(read.ec == asio::error::eof);
    CHECK(write.ec == asio::error::broken_pipe);
    b.write_some(asio::buffer("x", 1), ec);
    CHECK(ec == asio::error::broken_pipe);

    a.read_some(asio::buffer(buffer), ec);
    CHECK(ec == asio::error::bad_descriptor);
    a.write_some(asio::buffer("x", 1), ec);
    CHECK(ec == asio::error::bad_descriptor);
    a.close(ec); // again: nothing
    CHECK(!ec);
  }
  SUBCASE("while operations wait on both ends") {
    auto [a, b] = make_test_stream_pair(io.get_executor(), {.capacity = 1});
    outcome a_read, a_write, b_read, b_write;
    a.write_some(asio::buffer("x", 1));
    b.write_some(asio::buffer("y", 1));
    a.async_write_some(asio::buffer("x", 1), a_write.handler()); // both directions full
    b.async_write_some(asio::buffer("y", 1), b_write.handler());
    settle(io);
    CHECK(!a_write.done);
    CHECK(!b_write.done);
    a.close();
    settle(io);
    CHECK(a_write.ec == asio::error::operation_aborted);
    CHECK(b_write.ec == asio::error::broken_pipe);
    CHECK(b.read_some(asio::buffer(buffer)) == 1); // what a wrote before closing
    b.async_read_some(asio::buffer(buffer), b_read.handler());
    settle(io);
    CHECK(b_read.ec == asio::error::eof);
  }
}

TEST_CASE("destroying an end completes its waiting operations") {
  asio::io_context io;
  auto [a, b] = make_test_stream_pair(io.get_executor(), {.capacity = 1});
  char buffer[4];
  outcome read, write, peer_read;
  b.async_read_some(asio::buffer(buffer), peer_read.handler());
  {
    auto gone = std::move(a);
    gone.async_read_some(asio::buffer(buffer), read.handler());
    gone.write_some(asio::buffer("x", 1)); // b's read takes it
    gone.write_some(asio::buffer("y", 1));
    gone.async_write_some(asio::buffer("z", 1), write.handler());
    settle(io);
    CHECK(gone.pending_ops() == 2);
  }
  settle(io);
  CHECK(read.ec == asio::error::operation_aborted);
  CHECK(write.ec == asio::error::operation_aborted);
  CHECK(peer_read.n == 1);
  CHECK(b.read_some(asio::buffer(buffer)) == 1);
  std::error_code ec;
  b.read_some(asio::buffer(buffer), ec);
  CHECK(ec == asio::error::eof);
}

TEST_CASE("destroying the io_context first destroys waiting handlers, even ones owning the end") {
  auto io = std::make_unique<asio::io_context>();
  auto [a, b] = make_test_stream_pair(io->get_executor());
  auto owned = std::make_shared<test_stream>(std::move(a));
  std::weak_ptr<test_stream> watch = owned;
  static char buffer[4];
  owned->async_read_some(asio::buffer(buffer),
                         [owned](std::error_code, std::size_t) { FAIL("never called"); });
  owned.reset();
  CHECK(!watch.expired()); // the handler owns the end, which owns the handler
  io.reset();
  CHECK(watch.expired()); // the context's shutdown broke the cycle
  CHECK(b.is_open());     // b outlives the context; destroying it touches nothing
}

TEST_CASE("options are checked") {
  asio::io_context io;
  CHECK_THROWS_AS(make_test_stream_pair(io.get_executor(), {.capacity = 0}), std::invalid_argument);
  CHECK_THROWS_AS(make_test_stream_pair(io.get_executor(), {.read_chunk = 0}),
                  std::invalid_argument);
}

// --- tlsio::stream over the test stream ------------------------------------------------------

namespace {

asio::awaitable<void> echo(tlsio::stream<test_stream> &s, std::size_t total) {
  std::array<char, 1000> buffer;
  for (std::size_t echoed = 0; echoed < total;) {
    auto n = co_await s.async_read_some(asio::buffer(buffer), asio::use_awaitable);
    co_await asio::async_write(s, asio::buffer(buffer.data(), n), asio::use_awaitable);
    echoed += n;
  }
}

} // namespace

// A failure here is the TLS stream's (its I/O loop over a next layer that is not a socket),
// once the tests above pass.
TEST_CASE("tlsio::stream<test_stream>: handshake and echo over 512-byte buffers, 7-byte reads") {
  asio::io_context io;
  auto [a, b] = make_test_stream_pair(io.get_executor(), {.capacity = 512, .read_chunk = 7});
  const auto &pki = test_pki::shared();
  tlsio::stream<test_stream> client(pki.client_context(), std::move(a));
  tlsio::stream<test_stream> server(pki.server_context(), std::move(b));
  client.set_server_name("localhost");

  std::optional<std::error_code> client_ec, server_ec;
  client.async_handshake([&](std::error_code ec) { client_ec = ec; });
  server.async_handshake([&](std::error_code ec) { server_ec = ec; });
  settle(io, 30s);
  REQUIRE(client_ec);
  REQUIRE(server_ec);
  INFO("client: " << client_ec->message() << " / " << client.failure_detail());
  INFO("server: " << server_ec->message() << " / " << server.failure_detail());
  REQUIRE(!*client_ec);
  REQUIRE(!*server_ec);
  CHECK(client.next_layer().bytes_read() > 512); // the server's flight did not fit at once

  auto data = pattern(20000);
  std::string got(data.size(), '\0');
  std::optional<std::exception_ptr> server_done;
  asio::co_spawn(io, echo(server, data.size()), [&](std::exception_ptr e) { server_done = e; });
  outcome wrote, read; // full duplex on the client: a write and a read pending together
  asio::async_write(client, asio::buffer(data), wrote.handler());
  asio::async_read(client, asio::buffer(got), read.handler());
  settle(io, 30s);
  REQUIRE(wrote.done);
  REQUIRE(read.done);
  CHECK(!wrote.ec);
  CHECK(!read.ec);
  CHECK(got == data);
  REQUIRE(server_done);
  CHECK(!*server_done);
}
