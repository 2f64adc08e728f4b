// tlsio::async_connect and tlsio::acceptor over loopback.
#include "loopback.hpp"
#include "stalled_client.hpp"

#include <tlsio/acceptor.hpp>
#include <tlsio/connect.hpp>

#include <doctest/doctest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <optional>

using namespace tlsio_test;
using asio::awaitable;
using asio::use_awaitable;
namespace ti = tlsio::test_identity;

namespace {

template <class F> void run_coroutine(asio::io_context &io, F f) {
  auto done = asio::co_spawn(io, f(), asio::use_future);
  REQUIRE(run_until_ready(io, done));
  done.get();
}

// Echoes one message per accepted stream until the acceptor closes.
awaitable<void> echo_once(tlsio::stream<> s) {
  char buffer[1024];
  auto [ec, n] =
      co_await s.async_read_some(asio::buffer(buffer), tlsio::compat::as_tuple(use_awaitable));
  if (!ec)
    co_await asio::async_write(s, asio::buffer(buffer, n), tlsio::compat::as_tuple(use_awaitable));
  co_await s.async_shutdown(tlsio::compat::as_tuple(use_awaitable));
}

awaitable<void> serve(tlsio::acceptor &acceptor) {
  for (;;) {
    auto [ec, s] = co_await acceptor.async_accept(tlsio::compat::as_tuple(use_awaitable));
    if (ec)
      co_return;
    asio::co_spawn(acceptor.get_executor(), echo_once(std::move(s)), asio::detached);
  }
}

awaitable<std::string> round_trip(const tlsio::context &ctx, std::string host, std::string port) {
  auto s = co_await tlsio::async_connect(ctx, host, port);
  co_await asio::async_write(s, asio::buffer(std::string("hello")), use_awaitable);
  std::string reply(5, '\0');
  co_await asio::async_read(s, asio::buffer(reply), use_awaitable);
  co_await s.async_shutdown(use_awaitable);
  co_return reply;
}

} // namespace

TEST_CASE("connect by name, IPv4, IPv6 with and without brackets; port 0") {
  asio::io_context io;
  const auto &pki = test_pki::shared();
  tlsio::acceptor acceptor(io.get_executor(), pki.server_context(), "", 0);
  auto port = std::to_string(acceptor.local_endpoint().port());
  CHECK(port != "0");
  asio::co_spawn(io, serve(acceptor), asio::detached);
  auto client = pki.client_context();
  run_coroutine(io, [&]() -> awaitable<void> {
    for (std::string host : {"localhost", "127.0.0.1", "::1", "[::1]"}) {
      CAPTURE(host);
      CHECK(co_await round_trip(client, host, port) == "hello");
    }
  });
  CHECK(acceptor.failures() == 0);
  acceptor.close();
}

TEST_CASE("connect failures carry their reason") {
  asio::io_context io;
  const auto &pki = test_pki::shared();
  auto other_ca = ti::authority::create("other CA");
  auto untrusted = pki.server_context(other_ca.issue({.dns_names = {"localhost"}}));
  auto dns_only = pki.server_context(pki.ca.issue({.dns_names = {"localhost"}}));

  auto attempt = [&](const tlsio::context &server_ctx, std::string host) {
    tlsio::acceptor acceptor(io.get_executor(), server_ctx, "127.0.0.1", 0);
    acceptor.async_accept([](std::error_code, tlsio::stream<>) {});
    auto f =
        tlsio::async_connect(io.get_executor(), pki.client_context(), host,
                             std::to_string(acceptor.local_endpoint().port()), asio::use_future);
    REQUIRE(run_until_ready(io, f));
    try {
      f.get();
      return std::error_code{};
    } catch (const std::system_error &e) {
      return e.code();
    }
  };
  CHECK(attempt(untrusted, "localhost") == tlsio::error::untrusted_issuer);
  CHECK(attempt(pki.server_context(), "127.0.0.1") == std::error_code{});
  CHECK(attempt(dns_only, "127.0.0.1") == tlsio::error::host_name_mismatch);

  SUBCASE("the coroutine form names the reason in what()") {
    tlsio::acceptor acceptor(io.get_executor(), pki.server_context(), "127.0.0.1", 0);
    acceptor.async_accept([](std::error_code, tlsio::stream<>) {});
    auto port = std::to_string(acceptor.local_endpoint().port());
    auto client = pki.client_context();
    run_coroutine(io, [&]() -> awaitable<void> {
      tlsio::connect_options options{.server_name = "wrong.example"};
      try {
        co_await tlsio::async_connect(client, "127.0.0.1", port, options);
        FAIL("connected with the wrong name");
      } catch (const tlsio::tls_error &e) {
        std::string what = e.what();
        CHECK(e.code() == tlsio::error::host_name_mismatch);
        CHECK(what.find("host name mismatch: expected wrong.example") != std::string::npos);
        CHECK(what.find("host name mismatch") == what.rfind("host name mismatch")); // once
      }
    });
  }
  SUBCASE("a service name is a port") {
    auto f = tlsio::async_connect(io.get_executor(), pki.client_context(), "127.0.0.1", "https",
                                  asio::use_future);
    REQUIRE(run_until_ready(io, f));
    CHECK_THROWS_AS(f.get(), std::system_error); // refused (nothing listens on 443), not unresolved
  }
}

TEST_CASE("port numbers out of range and contexts of the wrong role are refused") {
  asio::io_context io;
  const auto &pki = test_pki::shared();
  for (const char *port : {"65536", "99999", "1000000"}) {
    CAPTURE(port);
    try {
      tlsio::acceptor acceptor(io.get_executor(), pki.server_context(), "127.0.0.1", port);
      FAIL("listening on port ", acceptor.local_endpoint().port());
    } catch (const std::system_error &e) {
      CHECK(e.code() == tlsio::error::invalid_port);
    }
    auto f = tlsio::async_connect(io.get_executor(), pki.client_context(), "127.0.0.1", port,
                                  asio::use_future);
    REQUIRE(run_until_ready(io, f));
    CHECK_THROWS_WITH_AS(f.get(), doctest::Contains("invalid port"), std::system_error);
  }
  tlsio::acceptor ok(io.get_executor(), pki.server_context(), "127.0.0.1", "00000");
  CHECK(ok.local_endpoint().port() != 0);
  ok.close();

  try {
    tlsio::acceptor acceptor(io.get_executor(), pki.client_context(), "127.0.0.1", 0);
    FAIL("an acceptor with a client's context");
  } catch (const std::system_error &e) {
    CHECK(e.code() == tlsio::error::wrong_role);
  }
  auto f = tlsio::async_connect(io.get_executor(), pki.server_context(), "127.0.0.1", "1",
                                asio::use_future);
  REQUIRE(run_until_ready(io, f));
  CHECK_THROWS_WITH_AS(f.get(), doctest::Contains("other role"), std::system_error);
}

TEST_CASE("the acceptor's error_code constructor reports what the other throws") {
  asio::io_context io;
  const auto &pki = test_pki::shared();
  std::error_code ec;
  auto refused = [&](const tlsio::context &ctx, std::string_view port) {
    tlsio::acceptor a(io.get_executor(), ctx, "127.0.0.1", port, {}, ec);
    if (ec) { // closed: it answers, and hands out nothing
      CHECK_THROWS_AS(a.local_endpoint(), std::system_error);
      auto f = a.async_accept(asio::use_future);
      REQUIRE(run_until_ready(io, f));
      CHECK_THROWS_AS(f.get(), std::system_error);
    }
    return ec;
  };
  CHECK(refused(pki.server_context(), "99999") == tlsio::error::invalid_port);
  CHECK(refused(pki.client_context(), "0") == tlsio::error::wrong_role);
  CHECK(refused(tlsio::context{tlsio::role::server, tlsio_test::backend_under_test()}, "0") ==
        tlsio::error::no_certificate);
  tlsio::acceptor taken(io.get_executor(), pki.server_context(), "127.0.0.1", 0);
  CHECK(refused(pki.server_context(), std::to_string(taken.local_endpoint().port())) ==
        asio::error::address_in_use);
  CHECK(!refused(pki.server_context(), "0"));
  tlsio::acceptor numbered(io.get_executor(), pki.server_context(), "127.0.0.1", 0, {}, ec);
  CHECK(!ec); // 0 is a port number here, not a null string
  CHECK(numbered.local_endpoint().port() != 0);
}

TEST_CASE("the session cache resumes for the name verified, not for the address reached") {
  asio::io_context io;
  const auto &pki = test_pki::shared();
  auto server_ctx = pki.server_context(pki.ca.issue({.dns_names = {"a.test"}}));
  server_ctx.enable_session_tickets();
  tlsio::acceptor acceptor(io.get_executor(), server_ctx, "127.0.0.1", 0);
  asio::co_spawn(io, serve(acceptor), asio::detached);
  auto port = std::to_string(acceptor.local_endpoint().port());
  auto client = pki.client_context();
  client.enable_session_cache();
  run_coroutine(io, [&]() -> awaitable<void> {
    auto as = [&](std::string name) -> awaitable<std::pair<std::error_code, bool>> {
      tlsio::connect_options options{.server_name = std::move(name)};
      auto [ec, s] =
          co_await tlsio::async_connect(co_await asio::this_coro::executor, client, "127.0.0.1",
                                        port, options, tlsio::compat::as_tuple(use_awaitable));
      if (!ec) { // an exchange, which brings a TLS 1.3 ticket (it comes after the handshake)
        co_await asio::async_write(s, asio::buffer(std::string("hello")), use_awaitable);
        std::string reply(5, '\0');
        co_await asio::async_read(s, asio::buffer(reply), use_awaitable);
      }
      co_return std::pair(ec, !ec && s.resumed());
    };
    auto first = co_await as("a.test");
    CHECK(!first.first);
    CHECK(!first.second);
    // Looking takes a TLS 1.3 ticket out of the cache (it is offered once): there, the
    // resumption below shows it was cached.
    if (!tlsio_test::on_openssl())
      CHECK(client.cached_session("a.test:" + port));
    CHECK(!client.cached_session("127.0.0.1:" + port));
    auto again = co_await as("A.test.");
    CHECK(!again.first);
    CHECK(again.second);
    auto other = co_await as("b.test");
    CHECK(other.first == tlsio::error::host_name_mismatch);
  });
  acceptor.close();
}

// What a user writes first. GCC 12 destroys a braced temporary in a co_await expression
// twice: with options that own a string or a session, this freed them early (ASan: double
// free; otherwise a resumption that fails or a crash).
TEST_CASE("options as a braced temporary in co_await: resumption and a long server name") {
  asio::io_context io;
  const auto &pki = test_pki::shared();
  auto server_ctx = pki.server_context();
  server_ctx.enable_session_tickets();
  tlsio::acceptor acceptor(io.get_executor(), server_ctx, "127.0.0.1", 0);
  asio::co_spawn(io, serve(acceptor), asio::detached);
  auto port = std::to_string(acceptor.local_endpoint().port());
  auto client = pki.client_context();
  client.set_max_version(tlsio::tls_version::tls1_2); // the session at once, without a read
  run_coroutine(io, [&]() -> awaitable<void> {
    auto first = co_await tlsio::async_connect(client, "127.0.0.1", port,
                                               {.server_name = std::string("localhost")});
    auto session = first.engine().get_session();
    REQUIRE(session);
    auto again = co_await tlsio::async_connect(client, "127.0.0.1", port,
                                               {.server_name = "localhost", .resume = *session});
    CHECK(again.resumed());
    try {
      co_await tlsio::async_connect(
          client, "127.0.0.1", port,
          {.server_name = std::string("a-name-longer-than-any-small-string-buffer.example"),
           .timeout = std::chrono::seconds(20),
           .resume = *session});
      FAIL("connected with the wrong name");
    } catch (const tlsio::tls_error &e) {
      CHECK(e.code() == tlsio::error::host_name_mismatch);
    }
  });
  acceptor.close();
}

TEST_CASE("silent and garbage clients do not delay a good client") {
  asio::io_context io;
  const auto &pki = test_pki::shared();
  std::vector<tlsio::handshake_failure> failures;
  auto server_ctx = pki.server_context();
  server_ctx.set_handshake_timeout(std::chrono::milliseconds(1500));
  tlsio::acceptor acceptor(io.get_executor(), server_ctx, "127.0.0.1", 0,
                           {.on_failure = [&](const auto &f) { failures.push_back(f); }});
  asio::co_spawn(io, serve(acceptor), asio::detached);
  auto endpoint = acceptor.local_endpoint();

  std::vector<asio::ip::tcp::socket> silent;
  for (int i = 0; i < 50; ++i) {
    silent.emplace_back(io);
    silent.back().connect(endpoint);
  }
  asio::ip::tcp::socket garbage(io);
  garbage.connect(endpoint);
  asio::write(garbage, asio::buffer(std::string(100, 'x')));
  asio::ip::tcp::socket resetting(io);
  resetting.connect(endpoint);
  resetting.set_option(asio::socket_base::linger(true, 0));
  resetting.close(); // RST

  auto client = pki.client_context();
  auto start = std::chrono::steady_clock::now();
  run_coroutine(io, [&]() -> awaitable<void> {
    CHECK(co_await round_trip(client, "localhost", std::to_string(endpoint.port())) == "hello");
  });
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1400));

  // The silent ones time out; every failure is counted and reported with its reason.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (acceptor.failures() < 52 && std::chrono::steady_clock::now() < deadline)
    io.run_for(std::chrono::milliseconds(50));
  CHECK(acceptor.failures() >= 52);
  CHECK(std::count_if(failures.begin(), failures.end(), [](const auto &f) {
          return f.error == tlsio::error::handshake_timeout;
        }) == 50);
  CHECK(std::any_of(failures.begin(), failures.end(), [](const auto &f) {
    return f.error.category() == tlsio::engine_category() ||
           f.error.category().name() == std::string("tlsio.openssl");
  }));
  // And the loop still serves.
  run_coroutine(io, [&]() -> awaitable<void> {
    CHECK(co_await round_trip(client, "127.0.0.1", std::to_string(endpoint.port())) == "hello");
  });
  acceptor.close();
}

TEST_CASE("blocking connect and accept") {
  asio::io_context server_io, client_io;
  const auto &pki = test_pki::shared();
  tlsio::acceptor acceptor(server_io.get_executor(), pki.server_context(), "127.0.0.1", 0);
  auto port = std::to_string(acceptor.local_endpoint().port());
  auto server = std::async(std::launch::async, [&] {
    auto s = acceptor.accept();
    std::string got(4, '\0');
    asio::read(s, asio::buffer(got));
    asio::write(s, asio::buffer(got));
    s.shutdown();
  });
  auto s = tlsio::connect(client_io, pki.client_context(), "localhost", port);
  asio::write(s, asio::buffer(std::string("ping")));
  std::string reply(4, '\0');
  asio::read(s, asio::buffer(reply));
  CHECK(reply == "ping");
  s.shutdown();
  server.get();
}

TEST_CASE("blocking connect takes async_connect's options and checks") {
  asio::io_context io;
  const auto &pki = test_pki::shared();
  std::error_code ec;

  SUBCASE("a deadline bounds a server that never answers") {
    asio::ip::tcp::acceptor mute(io, {asio::ip::make_address("127.0.0.1"), 0});
    auto port = std::to_string(mute.local_endpoint().port());
    auto start = std::chrono::steady_clock::now();
    auto s = tlsio::connect(io, pki.client_context(), "localhost", port,
                            {.timeout = std::chrono::milliseconds(300)}, ec);
    CHECK(ec == tlsio::error::timed_out);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
    CHECK(!s.lowest_layer().is_open()); // a failed connect leaves no socket behind
  }
  SUBCASE("a server name other than the host, and a session to resume") {
    auto server_ctx = pki.server_context(pki.ca.issue({.dns_names = {"a.test"}}));
    server_ctx.enable_session_tickets();
    tlsio::acceptor acceptor(io.get_executor(), server_ctx, "127.0.0.1", 0);
    asio::co_spawn(io, serve(acceptor), asio::detached);
    auto port = std::to_string(acceptor.local_endpoint().port());
    auto client = pki.client_context();
    client.set_max_version(tlsio::tls_version::tls1_2); // the session at once, without a read
    CHECK_THROWS_WITH_AS(tlsio::connect(io, client, "127.0.0.1", port),
                         doctest::Contains("host name mismatch"), tlsio::tls_error);
    auto first = tlsio::connect(io, client, "127.0.0.1", port, {.server_name = "a.test"});
    auto session = first.engine().get_session();
    REQUIRE(session);
    auto again = tlsio::connect(io, client, "127.0.0.1", port,
                                {.server_name = "a.test", .resume = *session});
    CHECK(again.resumed());
    acceptor.close();
  }
  SUBCASE("with io run by another thread, and io left ready to run") {
    tlsio::acceptor acceptor(io.get_executor(), pki.server_context(), "127.0.0.1", 0);
    asio::co_spawn(io, serve(acceptor), asio::detached);
    auto port = std::to_string(acceptor.local_endpoint().port());
    {
      auto guard = asio::make_work_guard(io);
      std::thread runner([&] { io.run(); });
      for (int i = 0; i < 5; ++i) { // the completion may run on either thread
        tlsio::connect(io, pki.client_context(), "localhost", port,
                       {.timeout = std::chrono::seconds(20)}, ec);
        CHECK(!ec);
      }
      guard.reset();
      acceptor.close();
      runner.join();
    }
    io.restart();
    tlsio::connect(io, pki.client_context(), "localhost", "1", ec); // refused
    CHECK(ec);
    CHECK(!io.stopped()); // the program's next io.run() runs
  }
  SUBCASE("ports out of range and server contexts are refused") {
    tlsio::connect(io, pki.client_context(), "127.0.0.1", "99999", ec);
    CHECK(ec == tlsio::error::invalid_port);
    tlsio::connect(io, pki.server_context(), "127.0.0.1", "1", ec);
    CHECK(ec == tlsio::error::wrong_role);
  }
}

TEST_CASE("a connect deadline covers the handshake") {
  asio::io_context io;
  const auto &pki = test_pki::shared();
  asio::ip::tcp::acceptor mute(io, {asio::ip::make_address("127.0.0.1"), 0}); // never answers
  asio::ip::tcp::socket accepted(io);
  mute.async_accept(accepted, [](std::error_code) {});
  auto f = tlsio::async_connect(io.get_executor(), pki.client_context(), "localhost",
                                std::to_string(mute.local_endpoint().port()),
                                {.timeout = std::chrono::milliseconds(300)}, asio::use_future);
  REQUIRE(run_until_ready(io, f));
  try {
    f.get();
    FAIL("connected to a server that never answers");
  } catch (const std::system_error &e) {
    CHECK(e.code() == tlsio::error::timed_out);
  }
}

TEST_CASE("running out of file descriptors pauses accepting instead of ending it") {
  asio::io_context io;
  const auto &pki = test_pki::shared();
  std::vector<tlsio::handshake_failure> failures;
  tlsio::acceptor acceptor(io.get_executor(), pki.server_context(), "127.0.0.1", 0,
                           {.on_failure = [&](const auto &f) { failures.push_back(f); }});
  std::optional<std::error_code> accepted;
  acceptor.async_accept([&](std::error_code ec, tlsio::stream<>) { accepted = ec; });

  tlsio::stream<> client(pki.client_context(), io);
  client.next_layer().open(asio::ip::tcp::v4()); // its descriptor exists before the limit
  client.set_server_name("localhost");

  rlimit original{};
  ::getrlimit(RLIMIT_NOFILE, &original);
  int lowest_free = ::dup(0); // the descriptor the next accept would get
  ::close(lowest_free);
  rlimit tight = original;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free); // no room for the accepted socket
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &tight) == 0);

  std::optional<std::error_code> connected;
  client.next_layer().async_connect(acceptor.local_endpoint(), [&](std::error_code ec) {
    connected = ec;
    client.async_handshake([](std::error_code) {});
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto out_of_descriptors = [&] {
    return std::any_of(failures.begin(), failures.end(),
                       [](const auto &f) { return f.error == asio::error::no_descriptors; });
  };
  while (!out_of_descriptors() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(std::chrono::milliseconds(10));
  }
  ::setrlimit(RLIMIT_NOFILE, &original);
  CHECK(out_of_descriptors());

  // With descriptors back, the waiting client is accepted and its handshake completes.
  while (!accepted && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(std::chrono::milliseconds(10));
  }
  REQUIRE(accepted);
  CHECK(!*accepted);
}

TEST_CASE("closing the acceptor ends the handshakes in progress") {
  asio::io_context io;
  const auto &pki = test_pki::shared();
  tlsio::acceptor acceptor(io.get_executor(), pki.server_context(), "127.0.0.1", 0);
  acceptor.async_accept([](std::error_code, tlsio::stream<>) {});
  asio::ip::tcp::socket silent(io);
  silent.connect(acceptor.local_endpoint());
  io.run_for(std::chrono::milliseconds(100)); // its handshake is now waiting
  acceptor.close();
  auto start = std::chrono::steady_clock::now();
  io.restart();
  io.run(); // returns once nothing is left: not after the 10 s handshake timeout
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("move-assigning an acceptor closes the old one") {
  asio::io_context io;
  const auto &pki = test_pki::shared();
  auto server_ctx = pki.server_context();
  server_ctx.set_handshake_timeout(std::chrono::seconds(30));
  tlsio::acceptor a(io.get_executor(), server_ctx, "127.0.0.1", 0);
  tlsio::acceptor b(io.get_executor(), server_ctx, "127.0.0.1", 0);
  auto old_endpoint = a.local_endpoint(), new_endpoint = b.local_endpoint();
  std::vector<tlsio::stream<>> accepted;
  // One accept each (accept_all would call b again after the move).
  b.async_accept([&](std::error_code ec, tlsio::stream<> s) {
    if (!ec)
      accepted.push_back(std::move(s));
  });
  a.async_accept([](std::error_code, tlsio::stream<>) {});

  stalled_client old_client(io, old_endpoint);
  auto run_a_bit = [&] {
    io.restart();
    io.run_for(std::chrono::milliseconds(10));
  };
  REQUIRE(eventually(
      [&] {
        old_client.check();
        return old_client.answered;
      },
      run_a_bit, std::chrono::seconds(10))); // a's handshake with it is under way

  a = std::move(b);

  asio::ip::tcp::socket probe(io);
  std::error_code ec;
  probe.connect(old_endpoint, ec);
  CHECK(ec == asio::error::connection_refused);
  CHECK(eventually(
      [&] {
        old_client.check();
        return old_client.ended;
      },
      run_a_bit, std::chrono::seconds(5))); // ended, not after the 30 s timeout
  // a serves b's port now, into b's loop.
  CHECK(a.local_endpoint() == new_endpoint);
  auto client = pki.client_context();
  auto port = std::to_string(new_endpoint.port());
  run_coroutine(io, [&]() -> awaitable<void> {
    auto s = co_await tlsio::async_connect(client, "127.0.0.1", port);
    CHECK(s.is_connected());
  });
  CHECK(eventually([&] { return accepted.size() == 1; }, run_a_bit, std::chrono::seconds(5)));
  a.close();
}

TEST_CASE("close() completes a pending async_accept with operation_aborted") {
  asio::io_context io;
  tlsio::acceptor acceptor(io.get_executor(), test_pki::shared().server_context(), "127.0.0.1", 0);
  std::optional<std::error_code> accepted;
  acceptor.async_accept([&](std::error_code ec, tlsio::stream<>) { accepted = ec; });
  io.run_for(std::chrono::milliseconds(20));
  acceptor.close();
  io.restart();
  io.run_for(std::chrono::seconds(2));
  REQUIRE(accepted);
  CHECK(*accepted == asio::error::operation_aborted);
}
