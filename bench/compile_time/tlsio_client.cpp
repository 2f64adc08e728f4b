// The trivial client of the compile-time comparison (scripts/compile_time.sh): connect,
// write a line, read one back, close. asio_ssl_client.cpp does the same on asio::ssl.
#include <tlsio/tlsio.hpp>

#include <asio/io_context.hpp>
#include <asio/read_until.hpp>
#include <asio/use_future.hpp>
#include <asio/write.hpp>

#include <iostream>
#include <string>

asio::awaitable<void> run(tlsio::context ctx, std::string host, std::string port) {
  tlsio::stream<> s = co_await tlsio::async_connect(ctx, host, port);
  std::string line = "hello\n", reply;
  co_await asio::async_write(s, asio::buffer(line), asio::use_awaitable);
  co_await asio::async_read_until(s, asio::dynamic_buffer(reply), '\n', asio::use_awaitable);
  std::cout << reply;
  co_await s.async_shutdown(asio::use_awaitable);
}

int main(int argc, char *argv[]) {
  if (argc != 3)
    return 2;
  tlsio::context ctx{tlsio::role::client};
  asio::io_context io;
  auto done = asio::co_spawn(io, run(ctx, argv[1], argv[2]), asio::use_future);
  io.run();
  done.get();
}
