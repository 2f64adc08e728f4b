// DTLS cases that need the library's internals or a second transport: a HelloVerifyRequest
// answering a stale cookie stays in step with the client, a TLS ticket does not open a DTLS
// session, and failure_detail() stays empty after the stream's own close_notify.
#include "context_impl.hpp"
#include "dtls_loopback.hpp"
#include "dtls_pair.hpp"

#include <tlsio/error.hpp>

#include <mbedtls/ssl_internal.h>

#include <doctest/doctest.h>

using namespace tlsio_test;
using asio::awaitable;
using asio::use_awaitable;
using tlsio::status;

namespace {

constexpr std::size_t record_header = 13;

// The handshake message_seq of a datagram holding one handshake record (RFC 6347 §4.2.2).
unsigned message_seq(std::span<const std::byte> d) {
  REQUIRE(d.size() >= record_header + 12);
  return std::to_integer<unsigned>(d[record_header + 4]) << 8 |
         std::to_integer<unsigned>(d[record_header + 5]);
}

std::vector<std::byte> take(tlsio::dtls::engine &e) {
  REQUIRE(e.queued_output() == 1);
  auto d = e.pending_datagram();
  std::vector<std::byte> copy(d.begin(), d.end());
  e.pop_datagram();
  return copy;
}

} // namespace

TEST_CASE("a HelloVerifyRequest answering a second ClientHello with a stale cookie is "
          "one the client accepts") {
  // The client's second ClientHello (message_seq 1) reaches a server whose cookie key is not
  // the one that made its cookie (acceptor::set_context() in between, a NAT rebinding, a
  // cookie past its lifetime): RFC 6347 §4.2.1 says treat it as a first ClientHello, so a
  // new HelloVerifyRequest goes back. Mbed TLS's own copies the ClientHello's message_seq
  // (ssl_srv.c: out_msg_seq = cli_msg_seq); the hand-written one always says 0, which an
  // Mbed TLS client, expecting message_seq 1, drops as an old message: it never retries,
  // and its handshake ends in a timeout.
  dtls_pair p(dtls_client_context(), dtls_server_context());
  REQUIRE(p.client.handshake().status == status::want_input);
  auto first_hello = take(p.client);
  p.server.put_datagram(first_hello);
  REQUIRE(p.server.handshake().status == status::want_input);
  auto first_hvr = take(p.server);
  p.client.put_datagram(first_hvr);
  REQUIRE(p.client.handshake().status == status::want_input);
  auto second_hello = take(p.client);
  REQUIRE(message_seq(second_hello) == 1);

  tlsio::dtls::engine other_key(dtls_server_context(), p.clock.source());
  other_key.set_client_id(as_bytes(dtls_pair::client_address));
  other_key.put_datagram(second_hello);
  REQUIRE(other_key.handshake().status == status::want_input);
  REQUIRE(!other_key.cookie_verified());
  auto second_hvr = take(other_key);
  CHECK(message_seq(second_hvr) == message_seq(second_hello));

  // The client takes the new cookie and asks again at once.
  p.client.put_datagram(second_hvr);
  CHECK(p.client.handshake().status == status::want_input);
  CHECK(p.client.queued_output() == 1);
}

TEST_CASE("a DTLS server does not resume a session its context made over TLS") {
  // The server's context hands one set of ticket keys to its TLS and its DTLS
  // configuration (context::impl::configure), and Mbed TLS's tickets do not record the
  // transport: a ticket issued on a TLS connection resumes a DTLS association (and the
  // reverse). The client side refuses to offer it (session::impl::datagram); the server
  // does not. Here a client offers, over DTLS, the ticket it got over TLS.
  auto client_ctx = dtls_client_context();
  auto server_ctx = dtls_server_context();
  server_ctx.enable_session_tickets();

  dtls_pair made_over_dtls(client_ctx, server_ctx);
  REQUIRE(made_over_dtls.handshake().client.status == status::done);
  auto dtls_session = made_over_dtls.client.get_session();
  REQUIRE(dtls_session);

  engine_pair tcp(client_ctx, server_ctx);
  REQUIRE(tcp.handshake().client.status == status::done);
  auto tls_session = tcp.client.get_session();
  REQUIRE(tls_session);
  REQUIRE(tls_session->get().value.get()->ticket != nullptr);

  // The TLS session's ticket, dressed as a DTLS session of this client (as another DTLS
  // client implementation, which knows nothing of tlsio's marks, would offer it).
  auto forged = std::make_shared<tlsio::session::impl>();
  REQUIRE(mbedtls_ssl_session_copy(forged->value.get(), tls_session->get().value.get()) == 0);
  forged->datagram = true;
  forged->server_name = dtls_session->get().server_name;
  forged->origin = dtls_session->get().origin;

  dtls_pair p(client_ctx, server_ctx);
  p.client.set_session(tlsio::session(forged));
  auto r = p.handshake();
  REQUIRE(r.server.status == status::done);
  CHECK(!p.server.resumed());
}

TEST_CASE("failure_detail() is empty after the stream's own close_notify") {
  // stream.hpp: "empty while it lives, after close_notify and after close()". After
  // async_shutdown() the association ends with error::not_connected, which end() writes
  // down as the failure detail.
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "127.0.0.1", 0);
  asio::co_spawn(io, serve_echo(acceptor), asio::detached);
  std::string detail = "(not reached)";
  run_coroutine(io, [&]() -> awaitable<void> {
    auto s = co_await dtls::async_connect(dtls_client_context(), "localhost", port_of(acceptor));
    CHECK(co_await echo_until_back(s, "hello"));
    auto [ec] = co_await s.async_shutdown(as_tuple(use_awaitable));
    CHECK(!ec);
    detail = s.failure_detail();
  });
  INFO("failure_detail(): ", detail);
  CHECK(detail.empty());
  acceptor.close();
}
