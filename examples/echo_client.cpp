// A TLS echo client: sends a line, prints what comes back, and closes.
//
//   tlsio-echo-client CA_FILE HOST PORT
//
// It trusts only the CA in CA_FILE (which tlsio-echo-server writes).
#include <tlsio/connect.hpp>

#include <asio/io_context.hpp>
#include <asio/read_until.hpp>
#include <asio/use_future.hpp>
#include <asio/write.hpp>

#include <iostream>

using asio::awaitable;
using asio::use_awaitable;

awaitable<void> run(tlsio::context ctx, std::string host, std::string port) {
  // Resolves, connects, and verifies that the certificate is for `host`.
  tlsio::stream<> s = co_await tlsio::async_connect(ctx, host, port);
  std::cout << "connected: " << s.protocol_version() << ", " << s.cipher_suite() << "\n";

  std::string line = "hello over TLS\n", reply;
  co_await asio::async_write(s, asio::buffer(line), use_awaitable);
  co_await asio::async_read_until(s, asio::dynamic_buffer(reply), '\n', use_awaitable);
  std::cout << "echoed: " << reply;
  co_await s.async_shutdown(use_awaitable); // close_notify: the server knows nothing was cut
}

int main(int argc, char *argv[]) {
  if (argc != 4) {
    std::cerr << "usage: tlsio-echo-client CA_FILE HOST PORT\n";
    return 2;
  }
  try {
    tlsio::context ctx{tlsio::role::client};
    ctx.set_ca_bundle(argv[1]);
    asio::io_context io;
    auto done = asio::co_spawn(io, run(ctx, argv[2], argv[3]), asio::use_future);
    io.run();
    done.get(); // rethrows what run() threw
  } catch (const std::exception &e) {
    std::cerr << "tlsio-echo-client: " << e.what() << "\n";
    return 1;
  }
}
