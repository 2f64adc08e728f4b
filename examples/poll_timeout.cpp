// A client that polls with a timeout and reports what it saw.
//
//   tlsio-poll-timeout                 runs against its own server, which answers late
//   tlsio-poll-timeout HOST PORT CA    polls a server of yours (CA: a PEM file)
#include <tlsio/testing/test_identity.hpp>
#include <tlsio/tlsio.hpp>

#include <asio.hpp>

#include <iostream>

using namespace std::chrono_literals;

namespace {

const char *describe(tlsio::wait w) {
  switch (w) {
  case tlsio::wait::none:
    return "nothing (timed out)";
  case tlsio::wait::read:
    return "read";
  case tlsio::wait::write:
    return "write";
  case tlsio::wait::read_write:
    return "read and write";
  }
  return "?";
}

asio::awaitable<void> client(tlsio::context ctx, std::string host, std::string port) {
  auto s = co_await tlsio::async_connect(ctx, host, port);
  std::cout << "connected to " << s.remote_endpoint() << " (" << s.cipher_suite() << ")\n";
  for (auto timeout : {200ms, 1000ms}) {
    auto ready = co_await tlsio::async_poll(s, tlsio::wait::read, timeout, asio::use_awaitable);
    std::cout << "poll(read, " << timeout.count() << " ms): " << describe(ready) << "\n";
  }
  auto ready =
      co_await tlsio::async_poll(s, tlsio::wait::write, tlsio::forever, asio::use_awaitable);
  std::cout << "poll(write, forever): " << describe(ready) << "\n";
  co_await s.async_shutdown(asio::use_awaitable);
}

// Waits half a second before it says anything, so the first poll times out.
asio::awaitable<void> late_server(tlsio::acceptor &acceptor) {
  auto s = co_await acceptor.async_accept(asio::use_awaitable);
  asio::steady_timer pause(s.get_executor(), 500ms);
  co_await pause.async_wait(asio::use_awaitable);
  co_await asio::async_write(s, asio::buffer("hello\n", 6), asio::use_awaitable);
  char rest[1];
  co_await s.async_read_some(asio::buffer(rest), tlsio::compat::as_tuple(asio::use_awaitable));
  co_await s.async_shutdown(tlsio::compat::as_tuple(asio::use_awaitable));
}

void rethrow(std::exception_ptr e) {
  if (e)
    std::rethrow_exception(e);
}

} // namespace

int main(int argc, char **argv) try {
  asio::io_context io;
  tlsio::context client_ctx{tlsio::role::client};
  if (argc == 4) {
    client_ctx.set_ca_bundle(argv[3]);
    asio::co_spawn(io, client(client_ctx, argv[1], argv[2]), rethrow);
    io.run();
    return 0;
  }
  auto ca = tlsio::test_identity::authority::create("poll example CA");
  auto id = ca.issue({.dns_names = {"localhost"}});
  tlsio::context server_ctx{tlsio::role::server};
  server_ctx.load_certificate_chain_pem(id.chain_pem);
  server_ctx.load_private_key_pem(id.private_key_pem);
  client_ctx.no_ca();
  client_ctx.add_certificate_authority(ca.certificate_pem());
  tlsio::acceptor acceptor(io.get_executor(), server_ctx, "127.0.0.1", 0);
  auto port = std::to_string(acceptor.local_endpoint().port());
  asio::co_spawn(io, late_server(acceptor), asio::detached);
  asio::co_spawn(io, client(client_ctx, "localhost", port), [&](std::exception_ptr e) {
    acceptor.close(); // lets io.run() return
    rethrow(e);
  });
  io.run();
  return 0;
} catch (const std::exception &e) {
  std::cerr << "tlsio-poll-timeout: " << e.what() << "\n";
  return 1;
}
