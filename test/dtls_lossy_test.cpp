// DTLS over loopback through a relay that drops, duplicates and delays datagrams: handshakes
// and echoes that succeed anyway, a handshake that gives up at the configured bound, a
// server whose last flight was lost, and a peer's address that reconnects or is forged.
#include "dtls_loopback.hpp"
#include "udp_proxy.hpp"

#include <doctest/doctest.h>

using namespace tlsio_test;
using asio::awaitable;
using asio::use_awaitable;
using namespace std::chrono_literals;

namespace {

tlsio::context patient(tlsio::context ctx) {
  ctx.set_handshake_timeout(30s);
  return ctx;
}

} // namespace

TEST_CASE("50 handshakes and echoes with 1 datagram in 3 dropped, duplicates and delays") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), patient(dtls_server_context()), "127.0.0.1", 0,
                          {.idle_timeout = 2s});
  asio::co_spawn(io, serve_echo(acceptor), asio::detached);
  udp_proxy proxy(io, acceptor.local_endpoint(),
                  [](std::size_t client, direction, std::size_t n, int) {
                    if ((n + client) % 3 == 2)
                      return fate::drop;
                    if (n % 5 == 1)
                      return fate::duplicate;
                    return n % 7 == 3 ? fate::delay : fate::forward;
                  });
  auto ctx = patient(dtls_client_context());
  int done = 0, failed = 0;
  for (int i = 0; i < 50; ++i)
    asio::co_spawn(
        io,
        [&, i]() -> awaitable<void> {
          try {
            auto s = co_await dtls::async_connect(ctx, "127.0.0.1", std::to_string(proxy.port()),
                                                  {.server_name = "localhost"});
            if (co_await echo_until_back(s, "client " + std::to_string(i)))
              ++done;
            else
              ++failed;
            co_await s.async_shutdown(use_awaitable); // may be lost: the idle timeout ends it
          } catch (const std::exception &e) {
            MESSAGE("client " << i << ": " << e.what());
            ++failed;
          }
        },
        asio::detached);
  CHECK(run_until(io, [&] { return done + failed == 50; }));
  CHECK(done == 50);
  CHECK(proxy.dropped() > 100);
  CHECK(run_until(io, [&] { return acceptor.associations() == 0; }));
  acceptor.close();
}

TEST_CASE("each handshake datagram dropped once, either way: the handshake completes") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), patient(dtls_server_context()), "127.0.0.1", 0);
  asio::co_spawn(io, serve_echo(acceptor), asio::detached);
  // Client c loses datagram c / 2 going to the server (even c) or to the client (odd c).
  udp_proxy proxy(io, acceptor.local_endpoint(),
                  [](std::size_t client, direction d, std::size_t n, int) {
                    auto way = client % 2 ? direction::to_client : direction::to_server;
                    return d == way && n == client / 2 ? fate::drop : fate::forward;
                  });
  constexpr int clients = 8; // datagrams 0-3 each way: the handshake's and the echo's
  auto ctx = patient(dtls_client_context());
  int done = 0, failed = 0;
  std::vector<int> connected(clients, 0);
  // One after another, so that the proxy numbers clients in this order.
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        for (int i = 0; i < clients; ++i) {
          asio::co_spawn(
              co_await asio::this_coro::executor,
              [&, i]() -> awaitable<void> {
                auto [ec, s] = co_await dtls::async_connect(
                    io.get_executor(), ctx, "127.0.0.1", std::to_string(proxy.port()),
                    {.server_name = "localhost"}, as_tuple(use_awaitable));
                if (!ec && co_await echo_until_back(s, "x"))
                  ++done;
                else
                  ++failed;
              },
              asio::detached);
          asio::steady_timer gap(co_await asio::this_coro::executor, 50ms);
          co_await gap.async_wait(use_awaitable);
        }
      },
      asio::detached);
  CHECK(run_until(io, [&] { return done + failed == clients; }));
  CHECK(done == clients);
  CHECK(proxy.dropped() == std::size_t(clients));
  acceptor.close();
}

TEST_CASE("everything dropped: the handshake fails at the context's handshake timeout") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "127.0.0.1", 0);
  udp_proxy proxy(io, acceptor.local_endpoint(),
                  [](std::size_t, direction, std::size_t, int) { return fate::drop; });
  auto ctx = dtls_client_context();
  ctx.set_handshake_timeout(1500ms);
  run_coroutine(io, [&]() -> awaitable<void> {
    auto start = std::chrono::steady_clock::now();
    auto [ec, s] = co_await dtls::async_connect(
        io.get_executor(), ctx, "127.0.0.1", std::to_string(proxy.port()),
        {.server_name = "localhost"}, as_tuple(use_awaitable));
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(ec == tlsio::error::handshake_timeout);
    CHECK(took >= 1400ms);
    CHECK(took < 10s); // generous: the bound is the feature under test
  });
  CHECK(acceptor.associations() == 0);
  acceptor.close();
}

TEST_CASE("the server's last flight lost: the established server answers the client again") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), patient(dtls_server_context()), "127.0.0.1", 0);
  bool server_accepted = false;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        auto s = co_await acceptor.async_accept(use_awaitable);
        server_accepted = true;
        co_await echo(std::move(s));
      },
      asio::detached);
  bool lost_once = false;
  udp_proxy proxy(io, acceptor.local_endpoint(),
                  [&](std::size_t, direction d, std::size_t, int first_byte) {
                    // The server's ChangeCipherSpec opens its last flight (RFC 6347 §4.2.4).
                    if (d == direction::to_client && first_byte == 20 && !lost_once) {
                      lost_once = true;
                      return fate::drop;
                    }
                    return fate::forward;
                  });
  run_coroutine(io, [&]() -> awaitable<void> {
    auto s =
        co_await dtls::async_connect(patient(dtls_client_context()), "127.0.0.1",
                                     std::to_string(proxy.port()), {.server_name = "localhost"});
    CHECK(lost_once);
    CHECK(server_accepted); // the server was done before the client
    CHECK(co_await echo_until_back(s, "after the loss"));
  });
  acceptor.close();
}

TEST_CASE("a new handshake from the same address ends the old association; a forged one does "
          "not") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), patient(dtls_server_context()), "127.0.0.1", 0);
  std::vector<std::error_code> ends;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        for (;;) {
          auto [ec, s] = co_await acceptor.async_accept(as_tuple(use_awaitable));
          if (ec)
            co_return;
          auto ex = s.get_executor();
          asio::co_spawn(ex, echo_until_end(std::move(s), ends), asio::detached);
        }
      },
      asio::detached);
  // Every client reaches the server from the proxy's one upstream address.
  udp_proxy proxy(
      io, acceptor.local_endpoint(),
      [](std::size_t, direction, std::size_t, int) { return fate::forward; }, true);
  auto port = std::to_string(proxy.port());
  auto ctx = patient(dtls_client_context());
  run_coroutine(io, [&]() -> awaitable<void> {
    auto first = co_await dtls::async_connect(ctx, "127.0.0.1", port, {.server_name = "localhost"});
    CHECK(co_await echo_until_back(first, "first"));

    // A ClientHello without a cookie from the same address: answered, and nothing ends.
    asio::ip::udp::socket forger(io, {asio::ip::make_address("127.0.0.1"), 0});
    auto hello = first_client_hello(dtls_client_context());
    co_await forger.async_send_to(
        asio::buffer(hello), {asio::ip::make_address("127.0.0.1"), proxy.port()}, use_awaitable);
    asio::steady_timer pause(io, 200ms);
    co_await pause.async_wait(use_awaitable);
    CHECK(ends.empty());
    CHECK(co_await echo_until_back(first, "still here"));
    CHECK(acceptor.associations() == 1);

    // A real client from the same address: its verified cookie ends the old association, and
    // the same ClientHello starts the new one (no wait for the client's 1 s retransmission).
    auto start = std::chrono::steady_clock::now();
    auto second =
        co_await dtls::async_connect(ctx, "127.0.0.1", port, {.server_name = "localhost"});
    CHECK(std::chrono::steady_clock::now() - start < 900ms);
    CHECK(co_await echo_until_back(second, "second"));
    REQUIRE(ends.size() == 1);
    CHECK(ends[0] == tlsio::error::peer_reconnected);
    CHECK(acceptor.associations() == 1);
  });
  acceptor.close();
}

TEST_CASE("a client restarting from the same address mid-handshake replaces that handshake") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), patient(dtls_server_context()), "127.0.0.1", 0);
  asio::co_spawn(io, serve_echo(acceptor), asio::detached);
  // Both clients reach the server from one address; the first never hears past the
  // HelloVerifyRequest, so its handshake stays under way on the server (for 30 s).
  udp_proxy proxy(
      io, acceptor.local_endpoint(),
      [](std::size_t client, direction d, std::size_t n, int) {
        return client == 0 && d == direction::to_client && n >= 1 ? fate::drop : fate::forward;
      },
      true);
  auto port = std::to_string(proxy.port());
  auto ctx = patient(dtls_client_context());
  run_coroutine(io, [&]() -> awaitable<void> {
    auto [stuck, none] = co_await dtls::async_connect(
        io.get_executor(), ctx, "127.0.0.1", port, {.server_name = "localhost", .timeout = 1500ms},
        as_tuple(use_awaitable));
    CHECK(stuck == tlsio::error::timed_out);
    CHECK(acceptor.associations() == 1); // the server still waits for the first client
    auto [ec, s] = co_await dtls::async_connect(io.get_executor(), ctx, "127.0.0.1", port,
                                                {.server_name = "localhost", .timeout = 8s},
                                                as_tuple(use_awaitable));
    REQUIRE(!ec);
    CHECK(co_await echo_until_back(s, "restarted"));
    CHECK(acceptor.associations() == 1);
  });
  acceptor.close();
}
