// A tiny tlsio consumer (issue 8): proves that a project outside the tree can compile against
// tlsio's headers, link its library and dependencies, and do a real TLS round trip. A
// throwaway CA signs a certificate for 127.0.0.1; a server on a free loopback port echoes one
// line to a client that verifies it. Prints OK and exits 0, or prints FAIL and exits 1.
#include <tlsio/testing/test_identity.hpp>
#include <tlsio/tlsio.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace {

using asio::use_awaitable;

// Echoes one line, then waits for the client's close_notify and answers it.
asio::awaitable<void> serve_one(tlsio::acceptor &acceptor) {
  tlsio::stream<> s = co_await acceptor.async_accept(use_awaitable);
  std::string line;
  co_await asio::async_read_until(s, asio::dynamic_buffer(line), '\n', use_awaitable);
  co_await asio::async_write(s, asio::buffer(line), use_awaitable);
  char rest[64];
  auto [ec, n] =
      co_await s.async_read_some(asio::buffer(rest), tlsio::compat::as_tuple(use_awaitable));
  if (ec != asio::error::eof)
    throw std::runtime_error("server: expected close_notify, got " +
                             (ec ? ec.message() : std::to_string(n) + " more bytes"));
  co_await s.async_shutdown(use_awaitable);
}

// Connects (verifying the chain and the IP address), sends a line and checks the echo.
asio::awaitable<void> client(const tlsio::context &ctx, std::string port) {
  tlsio::stream<> s = co_await tlsio::async_connect(ctx, "127.0.0.1", port);
  const std::string sent = "hello from a tlsio consumer\n";
  std::string reply;
  co_await asio::async_write(s, asio::buffer(sent), use_awaitable);
  co_await asio::async_read_until(s, asio::dynamic_buffer(reply), '\n', use_awaitable);
  if (reply != sent)
    throw std::runtime_error("client: the echo differs: " + reply);
  co_await s.async_shutdown(use_awaitable);
}

} // namespace

int main() {
  try {
    auto ca = tlsio::test_identity::authority::create("tlsio consumer CA");
    auto leaf = ca.issue({.common_name = "127.0.0.1", .ip_addresses = {"127.0.0.1"}});

    tlsio::context server_ctx{tlsio::role::server};
    server_ctx.load_certificate_chain_pem(leaf.chain_pem);
    server_ctx.load_private_key_pem(leaf.private_key_pem);
    tlsio::context client_ctx{tlsio::role::client};
    client_ctx.no_ca(); // trust this CA alone
    client_ctx.add_certificate_authority(ca.certificate_pem());

    asio::io_context io;
    tlsio::acceptor acceptor(io.get_executor(), server_ctx, "127.0.0.1", 0);
    auto port = std::to_string(acceptor.local_endpoint().port());

    // Both sides must finish; the first failure (or the deadline) ends the run.
    std::exception_ptr failure;
    int done = 0;
    asio::steady_timer deadline(io, std::chrono::seconds(20));
    auto finish = [&](std::exception_ptr e) {
      if (e && !failure)
        failure = e;
      if (e || ++done == 2) {
        deadline.cancel();
        io.stop();
      }
    };
    asio::co_spawn(io, serve_one(acceptor), finish);
    asio::co_spawn(io, client(client_ctx, port), finish);
    deadline.async_wait([&](std::error_code ec) {
      if (!ec) {
        failure = std::make_exception_ptr(std::runtime_error("timed out after 20 s"));
        io.stop();
      }
    });
    io.run();
    if (failure)
      std::rethrow_exception(failure);
    if (done != 2)
      throw std::runtime_error("the round trip did not finish");
  } catch (const std::exception &e) {
    std::cout << "FAIL: " << e.what() << "\n";
    return 1;
  }
  std::cout << "OK\n";
  return 0;
}
