// tlsio_client.cpp's client on asio::ssl (OpenSSL), verifying chain and host name alike.
#include <asio.hpp>
#include <asio/ssl.hpp>

#include <iostream>
#include <string>

asio::awaitable<void> run(asio::ssl::context &ctx, std::string host, std::string port) {
  auto ex = co_await asio::this_coro::executor;
  asio::ssl::stream<asio::ip::tcp::socket> s(ex, ctx);
  asio::ip::tcp::resolver resolver(ex);
  auto endpoints = co_await resolver.async_resolve(host, port, asio::use_awaitable);
  co_await asio::async_connect(s.next_layer(), endpoints, asio::use_awaitable);
  SSL_set_tlsext_host_name(s.native_handle(), host.c_str());
  s.set_verify_callback(asio::ssl::host_name_verification(host));
  co_await s.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
  std::string line = "hello\n", reply;
  co_await asio::async_write(s, asio::buffer(line), asio::use_awaitable);
  co_await asio::async_read_until(s, asio::dynamic_buffer(reply), '\n', asio::use_awaitable);
  std::cout << reply;
  co_await s.async_shutdown(asio::use_awaitable);
}

int main(int argc, char *argv[]) {
  if (argc != 3)
    return 2;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_default_verify_paths();
  ctx.set_verify_mode(asio::ssl::verify_peer);
  asio::io_context io;
  auto done = asio::co_spawn(io, run(ctx, argv[1], argv[2]), asio::use_future);
  io.run();
  done.get();
}
