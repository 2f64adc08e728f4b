// tlsio-server --dtls: a DTLS echo service on one UDP port, each message sent back to the
// peer that sent it.
#pragma once

#include <tlsio/context.hpp>
#include <tlsio/dtls/acceptor.hpp>

#include <asio/any_io_executor.hpp>

#include <functional>
#include <string>

namespace tool {

class dtls_echo_server {
public:
  using logger = std::function<void(const std::string &)>;

  /// Binds host:port ("" for every address; port "0" picks one). Throws listen_error if it
  /// cannot, std::runtime_error for a context the acceptor refuses. `log` gets one line per
  /// association and per failure.
  dtls_echo_server(const asio::any_io_executor &executor, const tlsio::context &ctx,
                   const std::string &host, const std::string &port, logger log);

  asio::ip::udp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  /// Starts accepting; each association is echoed until it ends.
  void start();
  /// Closes the socket and ends every association at once.
  void stop() { acceptor_.close(); }

private:
  logger log_;
  tlsio::dtls::acceptor acceptor_;
};

} // namespace tool
