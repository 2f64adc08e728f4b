// A client that starts a TLS handshake and stops halfway (test helper): it sends a
// ClientHello and then nothing, so the server's handshake stays in progress until the server
// gives up (its handshake timeout) or is told to stop (the acceptor closes).
#pragma once

#include "engine_pair.hpp"

#include <tlsio/engine.hpp>

#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <thread>

namespace tlsio_test {

struct stalled_client {
  asio::ip::tcp::socket socket;
  bool answered = false; ///< the server's first flight came: its handshake is in progress
  bool ended = false;    ///< the server closed the connection (EOF or reset)

  /// Connects (the kernel completes the connection whether or not the server accepts yet)
  /// and sends a ClientHello.
  stalled_client(asio::io_context &io, const asio::ip::tcp::endpoint &server) : socket(io) {
    socket.connect(server);
    tlsio::engine e(test_pki::shared().client_context());
    e.set_server_name("localhost");
    e.handshake(); // queues the ClientHello
    auto hello = e.pending_output();
    asio::write(socket, asio::buffer(hello.data(), hello.size()));
    socket.non_blocking(true);
  }

  /// Reads whatever has come, without waiting, and updates answered and ended.
  void check() {
    char buffer[4096];
    while (!ended) {
      std::error_code ec;
      auto n = socket.read_some(asio::buffer(buffer), ec);
      if (ec == asio::error::would_block)
        return;
      if (ec)
        ended = true; // EOF or reset
      else if (n > 0)
        answered = true;
    }
  }
};

/// Calls step() until pred() holds or `bound` passes; returns pred().
template <class Pred, class Step>
bool eventually(Pred pred, Step step, std::chrono::milliseconds bound) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return pred();
    step();
  }
  return true;
}

/// A step for eventually() when other threads do the work.
inline void nap() { std::this_thread::sleep_for(std::chrono::milliseconds(5)); }

} // namespace tlsio_test
