// tlsio-server --dtls (dtls_server.hpp).
#include "dtls_server.hpp"

#include "exit_status.hpp"
#include "host_port.hpp"

#include <tlsio/compat.hpp>
#include <tlsio/error.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>

#include <array>
#include <stdexcept>
#include <tuple>

namespace tool {
namespace {

using asio::awaitable;
constexpr auto as_tuple = tlsio::compat::as_tuple(asio::use_awaitable);

std::string describe_association(const tlsio::dtls::stream &s) {
  auto line = s.protocol_version() + " " + s.cipher_suite() +
              (s.resumed() ? ", resumed" : ", full handshake");
  if (auto alpn = s.alpn_protocol(); !alpn.empty())
    line += ", ALPN " + alpn;
  if (auto client = s.peer_certificate())
    line += ", client '" + client->subject + "'";
  return line;
}

// Echoes each message until the peer's close_notify, its idle timeout or stop().
awaitable<void> echo(tlsio::dtls::stream s, dtls_echo_server::logger log) {
  auto peer = to_string(s.remote_endpoint());
  log(peer + ": " + describe_association(s));
  std::array<char, 65536> buffer; // more than a record can hold: no message is truncated
  for (;;) {
    auto [ec, n] = co_await s.async_receive(asio::buffer(buffer), as_tuple);
    if (!ec)
      std::tie(ec, std::ignore) = co_await s.async_send(asio::buffer(buffer.data(), n), as_tuple);
    if (ec) {
      if (ec != asio::error::eof && ec != asio::error::operation_aborted)
        log(peer + ": " + ec.message());
      co_return;
    }
  }
}

awaitable<void> accept_loop(tlsio::dtls::acceptor &acceptor, dtls_echo_server::logger log) {
  for (;;) {
    auto [ec, s] = co_await acceptor.async_accept(as_tuple);
    if (ec) // closed
      co_return;
    auto ex = s.get_executor(); // before s is moved into echo's frame
    asio::co_spawn(ex, echo(std::move(s), log), asio::detached);
  }
}

tlsio::dtls::acceptor listen(const asio::any_io_executor &executor, const tlsio::context &ctx,
                             const std::string &host, const std::string &port,
                             const dtls_echo_server::logger &log) {
  auto on_failure = [log](const tlsio::dtls::handshake_failure &f) {
    log("handshake with " + to_string(f.peer) + " failed: " + f.detail);
  };
  try {
    return tlsio::dtls::acceptor(executor, ctx, host, port, {.on_failure = on_failure});
  } catch (const std::system_error &e) {
    // The context's own errors (no certificate, ...) are not the port's.
    if (e.code().category() == tlsio::error_category())
      throw std::runtime_error(std::string("cannot serve DTLS: ") + e.what());
    auto where = join_host_port(host.empty() ? "*" : host, port);
    throw listen_error("cannot listen on UDP " + where + ": " + e.code().message());
  }
}

} // namespace

dtls_echo_server::dtls_echo_server(const asio::any_io_executor &executor, const tlsio::context &ctx,
                                   const std::string &host, const std::string &port, logger log)
    : log_(std::move(log)), acceptor_(listen(executor, ctx, host, port, log_)) {}

void dtls_echo_server::start() {
  asio::co_spawn(acceptor_.get_executor(), accept_loop(acceptor_, log_), asio::detached);
}

} // namespace tool
