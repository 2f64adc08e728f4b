// A context made before fork() gives parent and child different randomness: each process
// reseeds its generator before first use, so no ServerHello random or ECDHE key repeats.
#include "engine_pair.hpp"

#include <doctest/doctest.h>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

using namespace tlsio_test;

namespace {

// What the server's first flight shows of its generator.
struct server_randomness {
  std::string hello_random; // ServerHello.random without its first 4 bytes (the time)
  std::string ecdhe_public; // the public key in ServerKeyExchange
};

std::string as_string(const std::vector<std::byte> &bytes) {
  return {reinterpret_cast<const char *>(bytes.data()), bytes.size()};
}

// Hex, so that a failure prints something readable.
std::string hex(const std::string &bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string text;
  for (unsigned char b : bytes) {
    text += digits[b >> 4];
    text += digits[b & 15];
  }
  return text;
}

std::size_t be(const std::string &s, std::size_t at, std::size_t n) {
  std::size_t v = 0;
  for (std::size_t i = 0; i < n; ++i)
    v = (v << 8) | static_cast<unsigned char>(s.at(at + i));
  return v;
}

// The handshake messages carried by the handshake records (type 22) of a flight.
std::string handshake_messages(const std::string &records) {
  std::string messages;
  for (std::size_t at = 0; at + 5 <= records.size(); at += 5 + be(records, at + 3, 2))
    if (records[at] == 22)
      messages += records.substr(at + 5, be(records, at + 3, 2));
  return messages;
}

// ServerHello (2): 2-byte version, then the random, whose first 4 bytes Mbed TLS fills with
// the time. ServerKeyExchange (12) for ECDHE: curve type, 2-byte group, length, key.
server_randomness parse_flight(const std::string &records) {
  server_randomness r;
  std::string m = handshake_messages(records);
  for (std::size_t at = 0; at + 4 <= m.size(); at += 4 + be(m, at + 1, 3)) {
    std::string body = m.substr(at + 4, be(m, at + 1, 3));
    if (m[at] == 2)
      r.hello_random = hex(body.substr(2 + 4, 28));
    else if (m[at] == 12)
      r.ecdhe_public = hex(body.substr(4, static_cast<unsigned char>(body.at(3))));
  }
  return r;
}

// One in-memory handshake; returns what the server's first flight showed. Throws on failure
// (the child has no doctest to report to).
server_randomness handshake(const tlsio::context &client_ctx, const tlsio::context &server_ctx) {
  engine_pair p(client_ctx, server_ctx);
  p.client.handshake();
  p.to_server.take_from(p.client);
  p.to_server.deliver_to(p.server, p.to_server.bytes.size());
  p.server.handshake();
  p.to_client.take_from(p.server);
  auto first_flight = as_string(p.to_client.bytes);
  auto done = p.handshake();
  if (done.client.status != tlsio::status::done || done.server.status != tlsio::status::done)
    throw std::runtime_error("handshake failed");
  return parse_flight(first_flight);
}

// The child: one handshake, its values down the pipe, and out without doctest's teardown.
[[noreturn]] void run_child(int out, const tlsio::context &client_ctx,
                            const tlsio::context &server_ctx) {
  ::alarm(30); // never outlive a stuck test
  try {
    auto r = handshake(client_ctx, server_ctx);
    std::string message = r.hello_random + r.ecdhe_public;
    bool sent =
        ::write(out, message.data(), message.size()) == static_cast<ssize_t>(message.size());
    ::_exit(sent && r.hello_random.size() == 56 && !r.ecdhe_public.empty() ? 0 : 1);
  } catch (...) {
    ::_exit(2);
  }
}

// Everything the child wrote until it closed the pipe, waiting at most `limit`.
std::string read_all(int in, std::chrono::seconds limit) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + limit;
  char buffer[512];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{in, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return got;
    ssize_t n = ::read(in, buffer, sizeof buffer);
    if (n <= 0)
      return got;
    got.append(buffer, static_cast<std::size_t>(n));
  }
}

// The child's exit status, or -1 if it had to be killed after `limit`.
int wait_for(pid_t child, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (::waitpid(child, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

} // namespace

TEST_CASE("after fork(), parent and child draw different randomness from one context") {
  const auto &pki = test_pki::shared();
  auto client_ctx = pki.client_context();
  client_ctx.set_max_version(tlsio::tls_version::tls1_2); // the test reads its ServerKeyExchange
  auto server_ctx = pki.server_context();
  auto before = handshake(client_ctx, server_ctx); // the generators are seeded and in use
  REQUIRE(before.hello_random.size() == 56);
  REQUIRE(!before.ecdhe_public.empty());

  int pipe_ends[2];
  REQUIRE(::pipe(pipe_ends) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(pipe_ends[0]);
    run_child(pipe_ends[1], client_ctx, server_ctx);
  }
  ::close(pipe_ends[1]);
  auto mine = handshake(client_ctx, server_ctx);
  std::string theirs = read_all(pipe_ends[0], std::chrono::seconds(30));
  ::close(pipe_ends[0]);
  REQUIRE(wait_for(child, std::chrono::seconds(30)) == 0);

  REQUIRE(theirs.size() == 56 + mine.ecdhe_public.size());
  CHECK(theirs.substr(0, 56) != mine.hello_random);
  CHECK(theirs.substr(56) != mine.ecdhe_public);
  CHECK(mine.hello_random != before.hello_random);
}
