// A TLS echo server: sends back whatever each client sends, until the client closes.
//
//   tlsio-echo-server CA_FILE [PORT]
//
// It makes a throwaway CA and a certificate for localhost, and writes the CA to CA_FILE for
// clients to trust (tlsio-echo-client CA_FILE localhost PORT).
#include <tlsio/acceptor.hpp>
#include <tlsio/testing/test_identity.hpp>

#include <asio/io_context.hpp>
#include <asio/write.hpp>

#include <fstream>
#include <iostream>

using asio::awaitable;
using asio::use_awaitable;

awaitable<void> echo(tlsio::stream<> s) {
  char data[4096];
  for (;;) {
    auto [ec, n] =
        co_await s.async_read_some(asio::buffer(data), tlsio::compat::as_tuple(use_awaitable));
    if (ec == asio::error::eof) // the client's close_notify
      break;
    if (ec)
      co_return;
    co_await asio::async_write(s, asio::buffer(data, n), use_awaitable);
  }
  co_await s.async_shutdown(use_awaitable); // answers with ours
}

awaitable<void> serve(tlsio::acceptor &acceptor) {
  for (;;) {
    // Only clients whose handshake succeeded arrive here.
    tlsio::stream<> s = co_await acceptor.async_accept(use_awaitable);
    auto ex = s.get_executor(); // the connection's own strand
    asio::co_spawn(ex, echo(std::move(s)), asio::detached);
  }
}

int main(int argc, char *argv[]) {
  if (argc < 2) {
    std::cerr << "usage: tlsio-echo-server CA_FILE [PORT]\n";
    return 2;
  }
  auto ca = tlsio::test_identity::authority::create("tlsio echo CA");
  auto leaf = ca.issue({.dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1", "::1"}});
  std::ofstream(argv[1]) << ca.certificate_pem();

  tlsio::context ctx{tlsio::role::server};
  ctx.load_certificate_chain_pem(leaf.chain_pem);
  ctx.load_private_key_pem(leaf.private_key_pem);

  asio::io_context io;
  tlsio::acceptor acceptor(io.get_executor(), ctx, "localhost", argc > 2 ? argv[2] : "0");
  std::cout << "listening on port " << acceptor.local_endpoint().port() << std::endl;
  asio::co_spawn(io, serve(acceptor), asio::detached);
  io.run();
}
