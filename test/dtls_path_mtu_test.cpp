// The path MTU below the association's: the socket refuses a datagram as too large
// (EMSGSIZE), the send fails with message_too_large, and the association lowers its MTU so
// the next message that fits gets through. Loopback's MTU is 64 KiB, so the client's socket
// is given IPv6's minimum (IPV6_MTU 1280, IPV6_DONTFRAG) while its engine believes in 1500;
// the association is built by hand, as dtls::async_connect would, to reach that socket.
#include "dtls/association.hpp"
#include "dtls/spawn_operation.hpp"
#include "dtls_loopback.hpp"

#include <asio/detail/socket_option.hpp>

#include <doctest/doctest.h>

#include <netinet/in.h>

using namespace tlsio_test;
using asio::awaitable;
using asio::use_awaitable;
using namespace std::chrono_literals;

TEST_CASE("EMSGSIZE from the socket: message_too_large, then a lower MTU that works") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "::1", 0);
  asio::co_spawn(io, serve_echo(acceptor), asio::detached);

  asio::any_io_executor strand = asio::make_strand(io);
  auto socket = std::make_shared<asio::ip::udp::socket>(strand, asio::ip::udp::v6());
  socket->connect(acceptor.local_endpoint());
  socket->set_option(asio::detail::socket_option::integer<IPPROTO_IPV6, IPV6_MTU>(1280));
  socket->set_option(asio::detail::socket_option::integer<IPPROTO_IPV6, IPV6_DONTFRAG>(1));
  socket->non_blocking(true);
  dtls::engine engine(dtls_client_context());
  engine.set_server_name("localhost");
  engine.set_mtu(1500);
  auto a = std::make_shared<dtls::detail::association>(strand, std::move(engine), socket,
                                                       std::nullopt, 0s);
  asio::dispatch(strand, [a] { a->start_client(); });

  run_coroutine(io, [&]() -> awaitable<void> {
    auto ec = co_await asio::co_spawn(strand, a->handshake(std::nullopt), use_awaitable);
    REQUIRE(!ec);
    auto s = dtls::detail::stream_access::make(a);
    auto before = s.max_message_size();
    CHECK(before > 1232); // what an MTU of 1500 leaves: more than the path carries
    std::string big(1300, 'b');
    auto [too_large, sent] = co_await s.async_send(asio::buffer(big), as_tuple(use_awaitable));
    CHECK(too_large == tlsio::error::message_too_large);
    CHECK(sent == 0);
    auto after = s.max_message_size();
    CHECK(after < before);
    CHECK(after <= 1232 - 13 - 24); // a record at the lowered MTU fits the path
    std::string fits(after, 'f');
    CHECK(co_await echo_until_back(s, fits));
  });
  acceptor.close();
}
