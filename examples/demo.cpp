// tlsio-demo: a TLS server and client in one process, over loopback, with a throwaway CA.
// Shows what they negotiate, then how many full and resumed handshakes they manage.
#include <tlsio/acceptor.hpp>
#include <tlsio/connect.hpp>
#include <tlsio/testing/test_identity.hpp>

#include <asio/io_context.hpp>
#include <asio/read_until.hpp>
#include <asio/use_future.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

namespace {

using asio::awaitable;
using asio::use_awaitable;
using clock_type = std::chrono::steady_clock;
constexpr int client_loops = 8;
constexpr auto measure_time = std::chrono::seconds(2);

// Echoes until the client leaves; the handshake-rate clients leave at once.
awaitable<void> echo(tlsio::stream<> s) {
  char data[1024];
  for (;;) {
    auto [ec, n] =
        co_await s.async_read_some(asio::buffer(data), tlsio::compat::as_tuple(use_awaitable));
    if (ec == asio::error::eof)
      break;
    if (ec)
      co_return;
    co_await asio::async_write(s, asio::buffer(data, n), use_awaitable);
  }
  co_await s.async_shutdown(use_awaitable);
}

awaitable<void> serve(tlsio::acceptor &acceptor) {
  for (;;) {
    auto s = co_await acceptor.async_accept(use_awaitable);
    auto ex = s.get_executor(); // the connection's own strand
    asio::co_spawn(ex, echo(std::move(s)), asio::detached);
  }
}

// One connection, shown in detail. Returns its session, to resume later.
awaitable<std::optional<tlsio::session>> show_connection(const tlsio::context &ctx,
                                                         std::string port) {
  auto s = co_await tlsio::async_connect(ctx, "127.0.0.1", port);
  auto peer = s.peer_certificate();
  std::cout << "  connection    " << s.protocol_version() << ", " << s.cipher_suite() << "\n"
            << "  server        " << peer->subject << " (issued by " << peer->issuer << ")\n"
            << "  verification  "
            << (s.verification_result() ? s.verification_result().message() : "passed") << "\n";

  std::string message = "hello over TLS\n", reply;
  co_await asio::async_write(s, asio::buffer(message), use_awaitable);
  co_await asio::async_read_until(s, asio::dynamic_buffer(reply), '\n', use_awaitable);
  std::cout << "  data          " << (reply == message ? "echoed intact" : "CORRUPTED") << "\n";
  auto session = s.engine().get_session();
  co_await s.async_shutdown(use_awaitable);
  co_return session;
}

struct tally {
  int handshakes = 0;
  int resumed = 0;
};

// Connects again and again until `end`, offering `session` for resumption if there is one.
awaitable<void> connect_loop(const tlsio::context &ctx, std::string port,
                             clock_type::time_point end, std::optional<tlsio::session> session,
                             tally &t) {
  // Named, not a braced temporary: GCC 12 destroys aggregate temporaries in a co_await
  // expression twice.
  tlsio::connect_options options{.resume = session};
  while (clock_type::now() < end) {
    auto s = co_await tlsio::async_connect(ctx, "127.0.0.1", port, options);
    ++t.handshakes;
    t.resumed += s.engine().resumed();
    // Reset rather than close: tens of thousands of sockets in TIME_WAIT would use up the
    // loopback's ports for a minute.
    s.lowest_layer().set_option(asio::socket_base::linger(true, 0));
  }
}

void measure(asio::io_context &io, const tlsio::context &ctx, const std::string &port,
             const std::optional<tlsio::session> &session) {
  tally t;
  auto start = clock_type::now();
  for (int i = 0; i < client_loops; ++i)
    asio::co_spawn(io, connect_loop(ctx, port, start + measure_time, session, t),
                   [](std::exception_ptr e) {
                     if (e)
                       std::rethrow_exception(e);
                   });
  io.restart();
  io.run();
  std::chrono::duration<double> elapsed = clock_type::now() - start;
  std::string resumed;
  if (session)
    resumed =
        t.resumed == t.handshakes ? ", all resumed" : ", " + std::to_string(t.resumed) + " resumed";
  char line[128];
  std::snprintf(line, sizeof line, "  %-12s %6.0f/s  (%d in %.1f s%s)\n",
                session ? "resumed" : "full", t.handshakes / elapsed.count(), t.handshakes,
                elapsed.count(), resumed.c_str());
  std::cout << line << std::flush;
}

void demo() {
  std::cout << "tlsio demo: " << tlsio::engine_name()
            << "; a server and a client in this process, over loopback\n";
  auto ca = tlsio::test_identity::authority::create("tlsio demo CA");
  auto leaf = ca.issue({.dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1"}});

  tlsio::context server_ctx{tlsio::role::server};
  server_ctx.load_certificate_chain_pem(leaf.chain_pem);
  server_ctx.load_private_key_pem(leaf.private_key_pem);
  server_ctx.enable_session_tickets();
  tlsio::context client_ctx{tlsio::role::client};
  client_ctx.no_ca(); // trust the demo CA alone
  client_ctx.add_certificate_authority(ca.certificate_pem());

  // The server runs on a thread of its own, the clients on this one.
  asio::io_context server_io, client_io;
  tlsio::acceptor acceptor(server_io.get_executor(), server_ctx, "127.0.0.1", 0);
  auto port = std::to_string(acceptor.local_endpoint().port());
  asio::co_spawn(server_io, serve(acceptor), asio::detached);
  std::jthread server_thread([&] { server_io.run(); });
  struct stop_on_exit { // however the clients end; then the thread is joined
    asio::io_context &io;
    ~stop_on_exit() { io.stop(); }
  } stop_server{server_io};

  auto shown = asio::co_spawn(client_io, show_connection(client_ctx, port), asio::use_future);
  client_io.run();
  auto session = shown.get();
  std::cout << "handshakes per second, " << client_loops << " clients at once:\n";
  measure(client_io, client_ctx, port, std::nullopt);
  measure(client_io, client_ctx, port, session);
}

} // namespace

int main() {
  try {
    demo();
  } catch (const std::exception &e) {
    std::cerr << "tlsio-demo: " << e.what() << "\n";
    return 1;
  }
}
