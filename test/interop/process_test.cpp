// The peer-process helper itself: what keeps the interop tests from hanging or skipping.
#include "process.hpp"

#include <doctest/doctest.h>

#include <signal.h>

using namespace interop;

TEST_CASE("a missing peer program fails the test and says how to install it") {
  CHECK_THROWS_WITH(require_program("tlsio-no-such-peer"),
                    doctest::Contains("run scripts/setup.sh --test"));
  CHECK_THROWS_WITH(process({"tlsio-no-such-peer"}),
                    doctest::Contains("run scripts/setup.sh --test"));
}

TEST_CASE("a process past its deadline is killed, group and all") {
  auto start = std::chrono::steady_clock::now();
  // The shell's child sleeps too: killing the group must take it along, or its open
  // stdout would keep the pipe from ending.
  process p({"sh", "-c", "sleep 30 & sleep 30"}, {.timeout = 300ms});
  auto status = p.wait(10s);
  REQUIRE(status);
  CHECK(status->killed_at_deadline);
  CHECK(status->signal == SIGKILL);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("all of the output is there once the exit is seen") {
  process p({"sh", "-c", "head -c 3000000 /dev/zero; echo done >&2"});
  auto status = p.wait(20s);
  REQUIRE(status);
  CHECK(status->ok());
  CHECK(p.out().size() == 3000000);
  CHECK(p.err() == "done\n");
}

TEST_CASE("stdin reaches the process, and closing it ends the input") {
  process p({"cat"});
  REQUIRE(p.write("hello\n"));
  CHECK(p.wait_for_text("hello\n", 10s));
  p.close_stdin();
  auto status = p.wait(10s);
  REQUIRE(status);
  CHECK(status->ok());
}

TEST_CASE("destroying a running process kills it without waiting for its deadline") {
  auto start = std::chrono::steady_clock::now();
  {
    process p({"sleep", "30"});
    CHECK(p.running());
  }
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("a server peer on a free port, found ready by connecting") {
  auto peer = start_server([](unsigned short port) {
    return std::vector<std::string>{"python3", "-c",
                                    "import socket,time; s=socket.create_server(('127.0.0.1'," +
                                        std::to_string(port) + ")); time.sleep(30)"};
  });
  CHECK(peer.port != 0);
  CHECK(peer.proc->running());
}
