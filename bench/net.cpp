#include "net.hpp"

#include <asio/socket_base.hpp>

#include <sys/socket.h>

namespace bench {

asio::ip::tcp::acceptor listen_on(asio::io_context &io, const asio::ip::tcp::endpoint &at) {
  using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
  asio::ip::tcp::acceptor acceptor(io);
  acceptor.open(at.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.set_option(reuse_port(true));
  acceptor.bind(at);
  acceptor.listen(asio::socket_base::max_listen_connections);
  return acceptor;
}

} // namespace bench
