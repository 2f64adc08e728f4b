// DTLS streams over loopback: resumption through the context's session cache, ALPN, and
// the sentences a failed association leaves (failure_detail()).
#include "dtls_loopback.hpp"

#include <tlsio/error.hpp>

#include <doctest/doctest.h>

using namespace tlsio_test;
using asio::awaitable;
using asio::use_awaitable;
using namespace std::chrono_literals;

namespace {

// Accepts streams, keeps what each reported, and echoes on it.
asio::awaitable<void> accept_and_note(dtls::acceptor &acceptor, std::vector<bool> &resumed,
                                      std::vector<std::string> &alpn) {
  for (;;) {
    auto [ec, s] = co_await acceptor.async_accept(as_tuple(use_awaitable));
    if (ec)
      co_return;
    resumed.push_back(s.resumed());
    alpn.push_back(s.alpn_protocol());
    auto ex = s.get_executor();
    asio::co_spawn(ex, echo(std::move(s)), asio::detached);
  }
}

} // namespace

TEST_CASE("async_connect resumes a DTLS session through the context's cache; ALPN is reported") {
  asio::io_context io;
  auto server_ctx = dtls_server_context();
  server_ctx.enable_session_tickets();
  server_ctx.set_alpn({"x-two"});
  auto client_ctx = dtls_client_context();
  client_ctx.enable_session_cache();
  client_ctx.set_alpn({"x-one", "x-two"});
  dtls::acceptor acceptor(io.get_executor(), server_ctx, "127.0.0.1", 0);
  std::vector<bool> server_resumed;
  std::vector<std::string> server_alpn;
  asio::co_spawn(io, accept_and_note(acceptor, server_resumed, server_alpn), asio::detached);
  const auto port = port_of(acceptor);
  run_coroutine(io, [&]() -> awaitable<void> {
    auto first = co_await dtls::async_connect(client_ctx, "localhost", port);
    CHECK(!first.resumed());
    CHECK(first.alpn_protocol() == "x-two");
    CHECK(first.get_session().has_value());
    // Cached under the DTLS key only: a TLS connect to the same name and port finds nothing.
    CHECK(client_ctx.cached_session("localhost:" + port + "/udp").has_value());
    CHECK(!client_ctx.cached_session("localhost:" + port).has_value());
    CHECK(co_await echo_until_back(first, "first"));
    co_await first.async_shutdown(use_awaitable);

    auto second = co_await dtls::async_connect(client_ctx, "localhost", port);
    CHECK(second.resumed());
    CHECK(second.alpn_protocol() == "x-two");
    CHECK(co_await echo_until_back(second, "second"));
    co_await second.async_shutdown(use_awaitable);

    // An explicit session wins over the cache, and is offered only where it was made.
    auto session = second.get_session();
    REQUIRE(session);
    auto third = co_await dtls::async_connect(client_ctx, "127.0.0.1", port,
                                              {.server_name = "localhost", .resume = *session});
    CHECK(third.resumed());
    co_await third.async_shutdown(use_awaitable);
  });
  CHECK(run_until(io, [&] { return server_resumed.size() == 3; }));
  CHECK(server_resumed == std::vector<bool>{false, true, true});
  CHECK(server_alpn == std::vector<std::string>{"x-two", "x-two", "x-two"});
  acceptor.close();
}

TEST_CASE("an ALPN mismatch is refused with an alert the client can read, not a timeout") {
  asio::io_context io;
  auto server_ctx = dtls_server_context();
  server_ctx.set_alpn({"x-other"});
  auto client_ctx = dtls_client_context();
  client_ctx.set_alpn({"x-one"});
  std::vector<std::string> details;
  dtls::acceptor acceptor(
      io.get_executor(), server_ctx, "127.0.0.1", 0,
      {.on_failure = [&](const dtls::handshake_failure &f) { details.push_back(f.detail); }});
  asio::co_spawn(io, serve_echo(acceptor), asio::detached);
  run_coroutine(io, [&]() -> awaitable<void> {
    auto start = std::chrono::steady_clock::now();
    try {
      co_await dtls::async_connect(client_ctx, "localhost", port_of(acceptor));
      FAIL("no exception");
    } catch (const tlsio::tls_error &e) {
      CHECK(std::string(e.what()).find("no_application_protocol") != std::string::npos);
    }
    // Answered at once: well within the first retransmission's second.
    CHECK(std::chrono::steady_clock::now() - start < 900ms);
  });
  CHECK(run_until(io, [&] { return details.size() == 1; }));
  acceptor.close();
}

TEST_CASE("failure_detail(): why an association ended, empty while it lives") {
  asio::io_context io;
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "127.0.0.1", 0,
                          {.idle_timeout = 300ms});
  asio::co_spawn(io, serve_echo(acceptor), asio::detached);
  run_coroutine(io, [&]() -> awaitable<void> {
    auto s = co_await dtls::async_connect(dtls_client_context(), "localhost", port_of(acceptor),
                                          {.idle_timeout = 400ms});
    CHECK(s.failure_detail().empty());
    std::array<char, 16> buffer;
    auto [ec, n] = co_await s.async_receive(asio::buffer(buffer), as_tuple(use_awaitable));
    CHECK(ec == tlsio::error::idle_timeout);
    CHECK(s.failure_detail() == std::error_code(tlsio::error::idle_timeout).message());
  });
  acceptor.close();
}

TEST_CASE("an acceptor refuses a context every handshake would refuse, before anyone connects") {
  asio::io_context io;
  tlsio::context no_identity{tlsio::role::server, tlsio::backend::mbedtls};
  try {
    dtls::acceptor acceptor(io.get_executor(), no_identity, "127.0.0.1", 0);
    FAIL("no exception");
  } catch (const std::system_error &e) {
    CHECK(e.code() == tlsio::error::no_certificate);
  }
  dtls::acceptor acceptor(io.get_executor(), dtls_server_context(), "127.0.0.1", 0);
  tlsio::context another{tlsio::role::server, tlsio::backend::mbedtls};
  CHECK_THROWS_AS(acceptor.set_context(another), std::system_error);
  acceptor.close();
}
