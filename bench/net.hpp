// Listening sockets for the loopback figures.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

namespace bench {

/// A listening socket on `at` with SO_REUSEADDR and SO_REUSEPORT, so that one acceptor per
/// thread can share a port and the kernel spreads the connections among them.
asio::ip::tcp::acceptor listen_on(asio::io_context &io, const asio::ip::tcp::endpoint &at);

} // namespace bench
