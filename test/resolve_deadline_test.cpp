// A connect's deadline and its cancellation bound name resolution too. Asio 1.22 cannot
// cancel a resolve (getaddrinfo runs to its end), so this executable defines getaddrinfo
// itself: "slow.test" takes 3 s; every other name goes to the C library's.
#include "loopback.hpp"

#include <tlsio/connect.hpp>

#include <doctest/doctest.h>

#include <dlfcn.h>
#include <netdb.h>

#include <chrono>
#include <cstring>
#include <thread>

extern "C" int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                           struct addrinfo **res) {
  using real_type = int (*)(const char *, const char *, const struct addrinfo *, addrinfo **);
  static auto real = reinterpret_cast<real_type>(dlsym(RTLD_NEXT, "getaddrinfo"));
  if (node && std::strcmp(node, "slow.test") == 0) {
    std::this_thread::sleep_for(std::chrono::seconds(3));
    return EAI_NONAME;
  }
  return real(node, service, hints, res);
}

using namespace tlsio_test;
using namespace std::chrono_literals;

TEST_CASE("a connect deadline bounds a resolve that takes longer") {
  asio::io_context io;
  auto start = std::chrono::steady_clock::now();
  auto f = tlsio::async_connect(io.get_executor(), test_pki::shared().client_context(), "slow.test",
                                "443", {.timeout = 300ms}, asio::use_future);
  REQUIRE(run_until_ready(io, f));
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(took < 2s);
  try {
    f.get();
    FAIL("resolved slow.test");
  } catch (const std::system_error &e) {
    CHECK(e.code() == tlsio::error::timed_out);
  }
}

TEST_CASE("cancelling a connect during its resolve completes it with operation_aborted") {
  asio::io_context io;
  asio::cancellation_signal cancel;
  std::optional<std::error_code> result;
  auto start = std::chrono::steady_clock::now();
  tlsio::async_connect(
      io.get_executor(), test_pki::shared().client_context(), "slow.test", "443",
      asio::bind_cancellation_slot(cancel.slot(),
                                   [&](std::error_code ec, tlsio::stream<>) { result = ec; }));
  asio::steady_timer later(io, 100ms);
  later.async_wait([&](std::error_code) { cancel.emit(asio::cancellation_type::terminal); });
  while (!result && std::chrono::steady_clock::now() - start < 10s)
    io.run_one_for(50ms);
  REQUIRE(result);
  CHECK(*result == asio::error::operation_aborted);
  CHECK(std::chrono::steady_clock::now() - start < 2s);
}
