// tlsio::dtls::stream, async_connect and acceptor over loopback UDP: message boundaries,
// size errors, cancellation that loses nothing, close_notify, idle timeouts, poll, no state
// before a cookie, verification, many clients at once.
#include "dtls_loopback.hpp"

#include <tlsio/dtls/acceptor.hpp>
#include <tlsio/dtls/connect.hpp>
#include <tlsio/dtls/poll.hpp>

#include <doctest/doctest.h>

#include <array>
#include <memory>
#include <optional>
#include <vector>

using namespace tlsio_test;
using asio::awaitable;
using asio::use_awaitable;
using namespace std::chrono_literals;

TEST_CASE("connect, accept, echo: three sends are three receives, boundaries kept") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "127.0.0.1", 0);
  asio::co_spawn(io, serve_echo(acceptor), asio::detached);
  run_coroutine(io, [&]() -> awaitable<void> {
    auto s = co_await dtls::async_connect(dtls_client_context(), "localhost", port_of(acceptor));
    CHECK(s.protocol_version() == "DTLSv1.2");
    CHECK(!s.cipher_suite().empty());
    CHECK(s.peer_certificate().has_value());
    CHECK(s.server_name() == "localhost");
    CHECK(s.remote_endpoint() == acceptor.local_endpoint());
    CHECK(s.max_message_size() > 1000);
    CHECK(s.max_message_size() < dtls::engine::default_mtu);
    for (auto m : {"one", "two", "three"})
      co_await s.async_send(asio::buffer(std::string(m)), use_awaitable);
    CHECK(co_await receive_string(s) == "one");
    CHECK(co_await receive_string(s) == "two");
    CHECK(co_await receive_string(s) == "three");
    CHECK(acceptor.associations() == 1);
    co_await s.async_shutdown(use_awaitable);
    auto [ec, n] = co_await s.async_send(asio::buffer("x", 1), as_tuple(use_awaitable));
    CHECK(ec == tlsio::error::not_connected);
  });
  // The server's echo sees close_notify (eof) and its association leaves the acceptor.
  CHECK(run_until(io, [&] { return acceptor.associations() == 0; }));
  acceptor.close();
}

TEST_CASE("an oversize message fails before sending; a short buffer reports truncation") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "127.0.0.1", 0);
  asio::co_spawn(io, serve_echo(acceptor), asio::detached);
  run_coroutine(io, [&]() -> awaitable<void> {
    auto s = co_await dtls::async_connect(dtls_client_context(), "localhost", port_of(acceptor));
    std::string big(s.max_message_size() + 1, 'b');
    auto [too_large, sent] = co_await s.async_send(asio::buffer(big), as_tuple(use_awaitable));
    CHECK(too_large == tlsio::error::message_too_large);
    CHECK(sent == 0);
    big.pop_back();
    CHECK(co_await s.async_send(asio::buffer(big), use_awaitable) == big.size());
    co_await s.async_send(asio::buffer(std::string("next")), use_awaitable);
    std::array<char, 10> small;
    auto [cut, n] = co_await s.async_receive(asio::buffer(small), as_tuple(use_awaitable));
    CHECK(cut == tlsio::error::message_truncated);
    CHECK(n == small.size());
    CHECK(std::string(small.data(), n) == big.substr(0, small.size()));
    CHECK(co_await receive_string(s) == "next");
  });
  acceptor.close();
}

TEST_CASE("a receive that times out or is cancelled loses nothing") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "127.0.0.1", 0);
  std::optional<dtls::stream> server;
  asio::co_spawn(
      io, [&]() -> awaitable<void> { server = co_await acceptor.async_accept(use_awaitable); },
      asio::detached);
  run_coroutine(io, [&]() -> awaitable<void> {
    auto s = co_await dtls::async_connect(dtls_client_context(), "localhost", port_of(acceptor));
    std::array<char, 100> buffer;
    auto [timed_out, n] = co_await s.async_receive_for(
        asio::buffer(buffer), std::chrono::milliseconds(50), as_tuple(use_awaitable));
    CHECK(timed_out == tlsio::error::timed_out);
    CHECK(n == 0);
    // The message arrives while a receive waits, and that receive is cancelled (partial).
    asio::cancellation_signal cancel;
    auto pending = s.async_receive(asio::buffer(buffer),
                                   asio::bind_cancellation_slot(cancel.slot(), asio::use_future));
    asio::steady_timer pause(co_await asio::this_coro::executor);
    while (!server) {
      pause.expires_after(std::chrono::milliseconds(5));
      co_await pause.async_wait(use_awaitable);
    }
    co_await server->async_send(asio::buffer(std::string("kept")), use_awaitable);
    pause.expires_after(std::chrono::milliseconds(50));
    co_await pause.async_wait(use_awaitable);
    // Whichever happened first, the message is delivered exactly once.
    cancel.emit(asio::cancellation_type::partial);
    pause.expires_after(std::chrono::milliseconds(20));
    co_await pause.async_wait(use_awaitable);
    std::string got;
    try {
      got = std::string(buffer.data(), pending.get());
    } catch (const std::system_error &e) {
      CHECK(e.code() == asio::error::operation_aborted);
    }
    if (got.empty())
      got = co_await receive_string(s);
    CHECK(got == "kept");
  });
  acceptor.close();
}

TEST_CASE("close_notify reads as eof after the messages before it") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "127.0.0.1", 0);
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        auto s = co_await acceptor.async_accept(use_awaitable);
        co_await s.async_send(asio::buffer(std::string("last")), use_awaitable);
        co_await s.async_shutdown(use_awaitable);
      },
      asio::detached);
  run_coroutine(io, [&]() -> awaitable<void> {
    auto s = co_await dtls::async_connect(dtls_client_context(), "localhost", port_of(acceptor));
    CHECK(co_await receive_string(s) == "last");
    std::array<char, 10> buffer;
    auto [ec, n] = co_await s.async_receive(asio::buffer(buffer), as_tuple(use_awaitable));
    CHECK(ec == asio::error::eof);
  });
  CHECK(run_until(io, [&] { return acceptor.associations() == 0; }));
  acceptor.close();
}

TEST_CASE("idle timeout: a silent peer ends the association on both sides") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "127.0.0.1", 0,
                          {.idle_timeout = std::chrono::milliseconds(300)});
  std::error_code server_end;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        auto s = co_await acceptor.async_accept(use_awaitable);
        std::array<char, 10> buffer;
        auto [ec, n] = co_await s.async_receive(asio::buffer(buffer), as_tuple(use_awaitable));
        server_end = ec;
      },
      asio::detached);
  run_coroutine(io, [&]() -> awaitable<void> {
    auto s = co_await dtls::async_connect(dtls_client_context(), "localhost", port_of(acceptor),
                                          {.idle_timeout = std::chrono::milliseconds(600)});
    std::array<char, 10> buffer;
    auto start = std::chrono::steady_clock::now();
    auto [ec, n] = co_await s.async_receive(asio::buffer(buffer), as_tuple(use_awaitable));
    CHECK(ec == tlsio::error::idle_timeout);
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(500));
  });
  CHECK(server_end == tlsio::error::idle_timeout);
  CHECK(acceptor.associations() == 0);
  acceptor.close();
}

TEST_CASE("poll: read is ready once a message is queued, and the receive then completes") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "127.0.0.1", 0);
  asio::co_spawn(io, serve_echo(acceptor), asio::detached);
  run_coroutine(io, [&]() -> awaitable<void> {
    auto s = co_await dtls::async_connect(dtls_client_context(), "localhost", port_of(acceptor));
    auto none = co_await tlsio::async_poll(s, tlsio::wait::read, std::chrono::milliseconds(50));
    CHECK(none == tlsio::wait::none);
    CHECK(co_await tlsio::async_poll(s, tlsio::wait::write, tlsio::forever) == tlsio::wait::write);
    co_await s.async_send(asio::buffer(std::string("ping")), use_awaitable);
    auto ready = co_await tlsio::async_poll(s, tlsio::wait::read, std::chrono::seconds(10));
    CHECK(ready == tlsio::wait::read);
    // Nothing else may arrive now: a receive with no time to wait still gets the message.
    std::array<char, 10> buffer;
    auto [ec, n] = co_await s.async_receive_for(asio::buffer(buffer), std::chrono::milliseconds(0),
                                                as_tuple(use_awaitable));
    CHECK(!ec);
    CHECK(std::string(buffer.data(), n) == "ping");
  });
  acceptor.close();
}

TEST_CASE("no state before a valid cookie: garbage and first ClientHellos create nothing") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "127.0.0.1", 0);
  asio::ip::udp::socket raw(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto hello = first_client_hello(dtls_client_context());
  std::vector<std::byte> garbage(300, std::byte{0x16});
  for (int i = 0; i < 20; ++i) {
    raw.send_to(asio::buffer(garbage), acceptor.local_endpoint());
    raw.send_to(asio::buffer(hello), acceptor.local_endpoint());
  }
  std::size_t answers = 0;
  std::array<std::byte, 2048> reply;
  raw.non_blocking(true);
  CHECK(run_until(io, [&] {
    std::error_code ec;
    for (;;) {
      auto n = raw.receive(asio::buffer(reply), 0, ec);
      if (ec)
        break;
      ++answers;
      CHECK(n <= hello.size()); // no amplification (RFC 6347 §4.2.1)
      CHECK(std::to_integer<int>(reply[0]) == 22);
      CHECK(std::to_integer<int>(reply[13]) == 3); // HelloVerifyRequest
    }
    return answers == 20;
  }));
  CHECK(acceptor.associations() == 0);
  CHECK(acceptor.failures() == 0);
  acceptor.close();
}

TEST_CASE("verification: a wrong host name fails the connect; the acceptor counts it") {
  asio::io_context io;
  std::vector<dtls::handshake_failure> failures;
  dtls::acceptor acceptor(
      io.get_executor(), dtls_server_context(), "127.0.0.1", 0,
      {.on_failure = [&](const dtls::handshake_failure &f) { failures.push_back(f); }});
  run_coroutine(io, [&]() -> awaitable<void> {
    auto [ec, s] = co_await dtls::async_connect(
        io.get_executor(), dtls_client_context(), "127.0.0.1", port_of(acceptor),
        {.server_name = "wrong.example"}, as_tuple(use_awaitable));
    CHECK(ec == tlsio::error::host_name_mismatch);
    CHECK(!s.is_open());
    try {
      co_await dtls::async_connect(dtls_client_context(), "127.0.0.1", port_of(acceptor),
                                   {.server_name = "wrong.example"});
      FAIL("no exception");
    } catch (const tlsio::tls_error &e) {
      CHECK(std::string(e.what()).find("127.0.0.1") != std::string::npos);
    }
  });
  CHECK(run_until(io, [&] { return failures.size() == 2; }));
  CHECK(acceptor.failures() == 2);
  CHECK(acceptor.associations() == 0);
  acceptor.close();
}

TEST_CASE("connect to a port where nothing listens: connection_refused, not a timeout") {
  asio::io_context io;
  asio::ip::udp::socket closed(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto port = std::to_string(closed.local_endpoint().port());
  closed.close();
  run_coroutine(io, [&]() -> awaitable<void> {
    auto [ec, s] = co_await dtls::async_connect(io.get_executor(), dtls_client_context(),
                                                "127.0.0.1", port, as_tuple(use_awaitable));
    CHECK(ec == asio::error::connection_refused);
  });
}

TEST_CASE("many clients at once on one acceptor; associations return to 0") {
  constexpr int clients = 200;
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "127.0.0.1", 0);
  asio::co_spawn(io, serve_echo(acceptor), asio::detached);
  int echoed = 0;
  auto ctx = dtls_client_context();
  for (int i = 0; i < clients; ++i)
    asio::co_spawn(
        io,
        [&, i]() -> awaitable<void> {
          auto s = co_await dtls::async_connect(ctx, "127.0.0.1", port_of(acceptor),
                                                {.server_name = "localhost"});
          auto text = "client " + std::to_string(i);
          if (co_await echo_until_back(s, text)) // UDP may lose it under this load
            ++echoed;
          co_await s.async_shutdown(use_awaitable);
        },
        asio::detached);
  CHECK(run_until(io, [&] { return echoed == clients; }));
  CHECK(run_until(io, [&] { return acceptor.associations() == 0; }));
  acceptor.close();
}

// --- Found by review: each case states the header claim it holds the code to --------------

namespace {
awaitable<void> nap_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(use_awaitable);
}
} // namespace

// stream.hpp: ~stream()/close(): "pending operations complete with
// asio::error::operation_aborted"; async_receive(): "operation_aborted ... if cancelled ... or
// closed". association::receive() re-checks closed_ first and reports bad_descriptor.
TEST_CASE("close() while a receive and a poll wait completes both with operation_aborted") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "127.0.0.1", 0);
  asio::co_spawn(io, serve_echo(acceptor), asio::detached);
  run_coroutine(io, [&]() -> awaitable<void> {
    auto s = co_await dtls::async_connect(dtls_client_context(), "localhost", port_of(acceptor));
    std::array<char, 100> buffer;
    std::optional<std::error_code> got;
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [&]() -> awaitable<void> {
          auto [ec, n] = co_await s.async_receive(asio::buffer(buffer), as_tuple(use_awaitable));
          got = ec;
        },
        asio::detached);
    std::optional<std::tuple<std::error_code, tlsio::wait>> polled;
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [&]() -> awaitable<void> {
          polled = co_await tlsio::async_poll(s, tlsio::wait::read, tlsio::forever,
                                              as_tuple(use_awaitable));
        },
        asio::detached);
    co_await nap_for(std::chrono::milliseconds(50));
    REQUIRE(!got); // the receive waits
    REQUIRE(!polled);
    s.close();
    co_await nap_for(std::chrono::milliseconds(50));
    REQUIRE(got);
    CHECK(*got == asio::error::operation_aborted);
    // A poll that fails reports nothing ready.
    REQUIRE(polled);
    CHECK(std::get<0>(*polled) == asio::error::operation_aborted);
    CHECK(std::get<1>(*polled) == tlsio::wait::none);
    // A moved-from (empty) stream has no executor: a clear exception, not a crash.
    CHECK_THROWS_AS(s.get_executor(), std::system_error);
  });
  acceptor.close();
}

// acceptor.hpp: ~acceptor() "Stops accepting"; async_accept(): operation_aborted "once
// stop_accepting() or close() has run and no stream waits". abandon() neither wakes the
// accepts waiting on `changed` nor shuts while a handed-out stream lives, so a pending accept
// never completes (and its handler's work keeps io_context::run() from returning).
TEST_CASE("destroying the acceptor completes a pending accept even while a stream lives") {
  asio::io_context io;
  auto acceptor =
      std::make_unique<dtls::acceptor>(io.get_executor(), dtls_server_context(), "127.0.0.1", 0);
  auto port = port_of(*acceptor);
  std::optional<dtls::stream> server;
  std::optional<std::error_code> second;
  asio::co_spawn(
      io,
      [&, a = acceptor.get()]() -> awaitable<void> {
        server = co_await a->async_accept(use_awaitable);
        auto [ec, s] = co_await a->async_accept(as_tuple(use_awaitable)); // a not used after
        second = ec;
      },
      asio::detached);
  run_coroutine(io, [&]() -> awaitable<void> {
    auto s = co_await dtls::async_connect(dtls_client_context(), "localhost", port);
    while (!server)
      co_await nap_for(std::chrono::milliseconds(5));
    co_await nap_for(std::chrono::milliseconds(20)); // the second accept waits
    acceptor.reset();
    co_await nap_for(std::chrono::milliseconds(200));
    REQUIRE(second.has_value());
    CHECK(*second == asio::error::operation_aborted);
  });
}

// acceptor.hpp: max_pending bounds "Handshakes in progress plus streams waiting for
// async_accept()". An unaccepted association that ended with nothing to deliver (here its
// idle timeout; one with messages or close_notify still waits to be accepted) leaves the
// queue, so with max_pending = 1 it does not lock out the next client.
TEST_CASE("an unaccepted association that ended with nothing to deliver frees its place") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "127.0.0.1", 0,
                          {.max_pending = 1, .idle_timeout = 200ms});
  run_coroutine(io, [&]() -> awaitable<void> {
    {
      auto first =
          co_await dtls::async_connect(dtls_client_context(), "localhost", port_of(acceptor));
    } // closed without close_notify: the server's side ends by its idle timeout
    co_await nap_for(std::chrono::milliseconds(400));
    CHECK(acceptor.associations() == 0);
    auto [ec, second] = co_await dtls::async_connect(
        io.get_executor(), dtls_client_context(), "localhost", port_of(acceptor),
        {.timeout = std::chrono::seconds(3)}, as_tuple(use_awaitable));
    CHECK(!ec);
  });
  acceptor.close();
}

// stream.hpp: "asio::error::eof once the peer's close_notify came and the messages before it
// are taken"; acceptor.hpp: "Streams whose handshake completed wait for async_accept()".
// accept() skips an association that has ended, so a client that sends and shuts down
// before the server's next async_accept() is dropped with its authenticated message.
TEST_CASE("a message and close_notify that came before async_accept() are not lost") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "127.0.0.1", 0);
  run_coroutine(io, [&]() -> awaitable<void> {
    auto c = co_await dtls::async_connect(dtls_client_context(), "localhost", port_of(acceptor));
    co_await c.async_send(asio::buffer(std::string("last words")), use_awaitable);
    co_await c.async_shutdown(use_awaitable);
    co_await nap_for(std::chrono::milliseconds(100));
    asio::cancellation_signal stop;
    asio::steady_timer limit(io, std::chrono::seconds(1));
    limit.async_wait([&](std::error_code ec) {
      if (!ec)
        stop.emit(asio::cancellation_type::terminal);
    });
    auto [ec, s] = co_await acceptor.async_accept(
        asio::bind_cancellation_slot(stop.slot(), as_tuple(use_awaitable)));
    limit.cancel();
    REQUIRE(!ec);
    CHECK(co_await receive_string(s) == "last words");
    std::array<char, 100> buffer;
    auto [end, n] = co_await s.async_receive(asio::buffer(buffer), as_tuple(use_awaitable));
    CHECK(end == asio::error::eof);
  });
  acceptor.close();
}

TEST_CASE("stop_accepting(): a handshake under way is still handed out, then accepts end") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "127.0.0.1", 0);
  std::vector<std::error_code> accepts;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        for (;;) {
          auto [ec, s] = co_await acceptor.async_accept(as_tuple(use_awaitable));
          accepts.push_back(ec);
          if (ec)
            co_return;
        }
      },
      asio::detached);
  run_coroutine(io, [&]() -> awaitable<void> {
    // The connect's first step sends its ClientHello; stop_accepting() lands mid-handshake.
    auto pending = dtls::async_connect(io.get_executor(), dtls_client_context(), "localhost",
                                       port_of(acceptor), asio::use_future);
    while (acceptor.associations() == 0)
      co_await nap_for(std::chrono::milliseconds(1));
    acceptor.stop_accepting();
    while (pending.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
      co_await nap_for(std::chrono::milliseconds(5));
    auto client = pending.get();
    CHECK(client.is_open());
    while (accepts.size() < 2)
      co_await nap_for(std::chrono::milliseconds(5));
    CHECK(!accepts[0]);
    CHECK(accepts[1] == asio::error::operation_aborted);
    // New clients are ignored now.
    auto [ec, none] = co_await dtls::async_connect(io.get_executor(), dtls_client_context(),
                                                   "localhost", port_of(acceptor),
                                                   {.timeout = 300ms}, as_tuple(use_awaitable));
    CHECK(ec == tlsio::error::timed_out);
  });
  acceptor.close();
}

TEST_CASE("a failure callback that throws costs one datagram, not the acceptor") {
  asio::io_context io;
  int calls = 0;
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "127.0.0.1", 0,
                          {.on_failure = [&](const dtls::handshake_failure &) {
                            if (++calls == 1)
                              throw std::runtime_error("a callback that breaks its contract");
                          }});
  asio::co_spawn(io, serve_echo(acceptor), asio::detached);
  run_coroutine(io, [&]() -> awaitable<void> {
    auto [ec, none] = co_await dtls::async_connect(
        io.get_executor(), dtls_client_context(), "127.0.0.1", port_of(acceptor),
        {.server_name = "wrong.example"}, as_tuple(use_awaitable));
    CHECK(ec == tlsio::error::host_name_mismatch);
    while (calls == 0)
      co_await nap_for(std::chrono::milliseconds(5));
    // A timeout past the clock's end means none (it must not overflow into the past).
    auto s = co_await dtls::async_connect(dtls_client_context(), "localhost", port_of(acceptor),
                                          {.timeout = std::chrono::steady_clock::duration::max()});
    CHECK(co_await echo_until_back(s, "still serving"));
  });
  acceptor.close();
}

TEST_CASE("set_context(): handshakes from then on use the new certificate, running ones the old") {
  namespace ti = tlsio::test_identity;
  auto other_ca = ti::authority::create("tlsio test CA (reloaded)");
  auto other = other_ca.issue({.common_name = "localhost", .dns_names = {"localhost"}});
  tlsio::context reloaded{tlsio::role::server, tlsio::backend::mbedtls};
  reloaded.load_certificate_chain_pem(other.chain_pem);
  reloaded.load_private_key_pem(other.private_key_pem);
  tlsio::context trusts_other{tlsio::role::client, tlsio::backend::mbedtls};
  trusts_other.no_ca();
  trusts_other.add_certificate_authority(other_ca.certificate_pem());

  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "127.0.0.1", 0);
  asio::co_spawn(io, serve_echo(acceptor), asio::detached);
  run_coroutine(io, [&]() -> awaitable<void> {
    auto before =
        co_await dtls::async_connect(dtls_client_context(), "localhost", port_of(acceptor));
    acceptor.set_context(reloaded);
    auto [refused, none] =
        co_await dtls::async_connect(io.get_executor(), dtls_client_context(), "localhost",
                                     port_of(acceptor), as_tuple(use_awaitable));
    CHECK(refused == tlsio::error::untrusted_issuer);
    auto after = co_await dtls::async_connect(trusts_other, "localhost", port_of(acceptor));
    CHECK(co_await echo_until_back(after, "new certificate"));
    CHECK(co_await echo_until_back(before, "old association")); // unaffected
  });
  CHECK_THROWS_AS(acceptor.set_context(dtls_client_context()), std::system_error);
  acceptor.close();
}
