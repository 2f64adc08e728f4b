// Loopback TCP pairs and small helpers for stream tests (test helper).
#pragma once

#include "engine_pair.hpp"

#include <tlsio/acceptor.hpp>
#include <tlsio/stream.hpp>

#include <asio.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <string>
#include <tuple>
#include <vector>

namespace tlsio_test {

/// A connected pair of TCP sockets on 127.0.0.1.
inline std::pair<asio::ip::tcp::socket, asio::ip::tcp::socket> tcp_pair(asio::io_context &io) {
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::tcp::socket a(io), b(io);
  a.connect(acceptor.local_endpoint());
  acceptor.accept(b);
  return {std::move(a), std::move(b)};
}

/// A client and a server stream over a loopback TCP pair, not yet handshaken.
struct stream_pair {
  asio::io_context &io;
  tlsio::stream<> client;
  tlsio::stream<> server;

  stream_pair(asio::io_context &io, const tlsio::context &client_ctx,
              const tlsio::context &server_ctx,
              std::pair<asio::ip::tcp::socket, asio::ip::tcp::socket> sockets)
      : io(io), client(client_ctx, std::move(sockets.first)),
        server(server_ctx, std::move(sockets.second)) {
    client.set_server_name("localhost");
  }
  explicit stream_pair(asio::io_context &io)
      : stream_pair(io, test_pki::shared().client_context(), test_pki::shared().server_context(),
                    tcp_pair(io)) {}
};

/// Runs both handshakes to the end; returns (client error, server error).
inline std::pair<std::error_code, std::error_code> handshake_both(stream_pair &p);

/// Runs both handshakes; the test stops unless both succeed.
inline void require_handshake(stream_pair &p) {
  auto [a, b] = handshake_both(p);
  INFO(a.message(), " / ", b.message());
  REQUIRE(!a);
  REQUIRE(!b);
}

/// Runs both handshakes to the end; returns (client error, server error).
inline std::pair<std::error_code, std::error_code> handshake_both(stream_pair &p) {
  std::error_code a = asio::error::would_block, b = asio::error::would_block;
  p.client.async_handshake([&](std::error_code ec) { a = ec; });
  p.server.async_handshake([&](std::error_code ec) { b = ec; });
  p.io.restart();
  p.io.run();
  return {a, b};
}

/// Accepts every client into `accepted` until the acceptor closes.
inline void accept_all(tlsio::acceptor &acceptor, std::vector<tlsio::stream<>> &accepted) {
  acceptor.async_accept([&](std::error_code ec, tlsio::stream<> s) {
    if (ec)
      return;
    accepted.push_back(std::move(s));
    accept_all(acceptor, accepted);
  });
}

/// Runs io until fn's future is ready or a generous bound passes (never for timing).
template <class Future>
bool run_until_ready(asio::io_context &io, Future &f,
                     std::chrono::seconds bound = std::chrono::seconds(30)) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  while (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    io.restart(); // run_for() stops the context whenever it runs out of work
    io.run_for(std::chrono::milliseconds(10));
  }
  return true;
}

inline std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

} // namespace tlsio_test

namespace tlsio_test {

/// A client socket and a server socket joined by a relay the test drives by hand, so that it
/// sees (and may hold back) every byte.
struct relayed_pair {
  asio::ip::tcp::socket client_end, proxy_in, proxy_out, server_end;
  std::string to_server, to_client; // everything relayed so far

  explicit relayed_pair(asio::io_context &io)
      : client_end(io), proxy_in(io), proxy_out(io), server_end(io) {
    std::tie(client_end, proxy_in) = tcp_pair(io);
    std::tie(proxy_out, server_end) = tcp_pair(io);
  }
  /// Moves whatever is waiting, both ways; true if anything moved.
  bool pump() {
    return move(proxy_in, proxy_out, to_server) | move(proxy_out, proxy_in, to_client);
  }

private:
  static bool move(asio::ip::tcp::socket &from, asio::ip::tcp::socket &to, std::string &log) {
    std::error_code ec;
    if (from.available(ec) == 0 || ec)
      return false;
    std::vector<char> buffer(from.available());
    auto n = from.read_some(asio::buffer(buffer));
    asio::write(to, asio::buffer(buffer.data(), n));
    log.append(buffer.data(), n);
    return true;
  }
};

} // namespace tlsio_test
