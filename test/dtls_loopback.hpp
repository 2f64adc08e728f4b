// What the DTLS tests over loopback share: an echo server on an acceptor, bounded runs of
// the io_context, and the first ClientHello a client sends (test helper).
#pragma once

#include "dtls_pair.hpp"
#include "loopback.hpp"

#include <tlsio/dtls/acceptor.hpp>
#include <tlsio/dtls/connect.hpp>

#include <array>
#include <string>
#include <vector>

namespace tlsio_test {

namespace dtls = tlsio::dtls;
using tlsio::compat::as_tuple;

template <class F> inline void run_coroutine(asio::io_context &io, F f) {
  auto done = asio::co_spawn(io, f(), asio::use_future);
  REQUIRE(run_until_ready(io, done));
  done.get();
}

inline std::string port_of(const dtls::acceptor &a) {
  return std::to_string(a.local_endpoint().port());
}

/// Echoes each message back until the stream ends.
inline asio::awaitable<void> echo(dtls::stream s) {
  std::array<char, 2048> buffer;
  for (;;) {
    auto [ec, n] = co_await s.async_receive(asio::buffer(buffer), as_tuple(asio::use_awaitable));
    if (ec)
      co_return;
    co_await s.async_send(asio::buffer(buffer.data(), n), as_tuple(asio::use_awaitable));
  }
}

inline asio::awaitable<void> serve_echo(dtls::acceptor &acceptor) {
  for (;;) {
    auto [ec, s] = co_await acceptor.async_accept(as_tuple(asio::use_awaitable));
    if (ec)
      co_return;
    auto ex = s.get_executor(); // before s is moved into echo's frame
    asio::co_spawn(ex, echo(std::move(s)), asio::detached);
  }
}

inline asio::awaitable<std::string> receive_string(dtls::stream &s) {
  std::array<char, 2048> buffer;
  auto n = co_await s.async_receive(asio::buffer(buffer), asio::use_awaitable);
  co_return std::string(buffer.data(), n);
}

/// Runs io until `done` holds or a generous bound passes.
template <class Predicate> inline bool run_until(asio::io_context &io, Predicate done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    io.restart();
    io.run_for(std::chrono::milliseconds(10));
  }
  return true;
}

/// Sends `text` until it comes back (DTLS does not retransmit application data).
inline asio::awaitable<bool> echo_until_back(dtls::stream &s, const std::string &text) {
  std::array<char, 2048> buffer;
  for (int attempt = 0; attempt < 20; ++attempt) {
    co_await s.async_send(asio::buffer(text), as_tuple(asio::use_awaitable));
    auto [ec, n] = co_await s.async_receive_for(
        asio::buffer(buffer), std::chrono::milliseconds(500), as_tuple(asio::use_awaitable));
    if (!ec && std::string(buffer.data(), n) == text)
      co_return true;
  }
  co_return false;
}

/// Echoes messages until the stream ends; records why.
inline asio::awaitable<void> echo_until_end(dtls::stream s, std::vector<std::error_code> &ends) {
  std::array<char, 2048> buffer;
  for (;;) {
    auto [ec, n] = co_await s.async_receive(asio::buffer(buffer), as_tuple(asio::use_awaitable));
    if (ec) {
      ends.push_back(ec);
      co_return;
    }
    co_await s.async_send(asio::buffer(buffer.data(), n), as_tuple(asio::use_awaitable));
  }
}

inline std::vector<std::byte> first_client_hello(const tlsio::context &ctx) {
  dtls::engine e(ctx);
  e.set_server_name("localhost");
  e.handshake();
  auto d = e.pending_datagram();
  return {d.begin(), d.end()};
}

} // namespace tlsio_test
