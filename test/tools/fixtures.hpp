// What the tools tests share: finding the tools and the peers, the test's certificates, and
// openssl s_server and tlsio-server running in the background (test helper).
#pragma once

#include "tools/child_process.hpp"

#include <tlsio/testing/test_identity.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tools_test {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace ti = tlsio::test_identity;

/// A built tool: they sit next to this test (build/bin).
inline std::string tool(const std::string &name) {
  auto path = fs::read_symlink("/proc/self/exe").parent_path() / name;
  REQUIRE_MESSAGE(fs::exists(path), path.string() << " is missing: build the tools too");
  return path.string();
}

/// A peer from the system.
inline std::string program(const std::string &name) {
  auto path = find_program(name);
  REQUIRE_MESSAGE(path.has_value(),
                  name << " is not installed: run scripts/setup.sh --test, which installs it");
  return path->string();
}

inline std::size_t count(std::string_view text, std::string_view what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

inline bool contains(std::string_view text, std::string_view what) {
  return text.find(what) != std::string_view::npos;
}

/// A failed run: a non-zero exit (`status`, if given) and one line on standard error naming
/// `reason`.
inline void check_failure(const run_result &r, std::string_view reason,
                          std::optional<int> status = std::nullopt) {
  INFO("stderr: " << r.err);
  REQUIRE(r.status.has_value());
  CHECK(*r.status != 0);
  if (status)
    CHECK(*r.status == *status);
  CHECK(contains(r.err, reason));
  CHECK(count(r.err, "\n") == 1);
}

/// The test's PKI, written to a temporary directory as NAME.pem (chain) and NAME.key.
struct certificates {
  tools_test::temp_dir dir;
  fs::path ca;

  certificates() {
    auto authority = ti::authority::create("tlsio tools test CA");
    ca = write("ca.pem", authority.certificate_pem());
    auto now = std::chrono::system_clock::now();
    ti::certificate_options localhost{.dns_names = {"localhost"},
                                      .ip_addresses = {"127.0.0.1", "::1"}};
    save("server", authority.issue(localhost));
    save("elsewhere",
         authority.issue({.common_name = "other.example", .dns_names = {"other.example"}}));
    auto expired = localhost;
    expired.not_before = now - std::chrono::hours(24 * 30);
    expired.not_after = now - std::chrono::hours(24);
    save("expired", authority.issue(expired));
    save("stranger", ti::authority::create("some other CA").issue(localhost));
    save("client", authority.issue({.common_name = "tools test client",
                                    .extended_usage = ti::usage::client_only,
                                    .key_password = "secret"}));
  }

  std::string pem(const std::string &name) const { return (dir.path() / (name + ".pem")).string(); }
  std::string key(const std::string &name) const { return (dir.path() / (name + ".key")).string(); }
  const fs::path &path() const { return dir.path(); }

private:
  fs::path write(const std::string &name, const std::string &text) {
    auto file = dir.path() / name;
    std::ofstream(file) << text;
    return file;
  }
  void save(const std::string &name, const ti::identity &id) {
    write(name + ".pem", id.chain_pem);
    write(name + ".key", id.private_key_pem);
  }
};

/// The port from a line like "ACCEPT 127.0.0.1:4433" or "listening on 127.0.0.1:4433".
inline std::string port_after(const std::string &output, std::string_view marker) {
  auto line_start = output.find(marker);
  auto line_end = output.find('\n', line_start);
  auto colon = output.rfind(':', line_end);
  return output.substr(colon + 1, line_end - colon - 1);
}

/// `openssl s_server -rev`: answers each line reversed.
struct openssl_server {
  child_process process;
  std::string port;

  openssl_server(const certificates &c, const std::string &identity,
                 std::vector<std::string> extra = {})
      : process(arguments(c, identity, std::move(extra)), c.path(), "s_server-" + identity) {
    REQUIRE_MESSAGE(process.wait_for_output("ACCEPT", 10s), "s_server: " << process.err());
    port = port_after(process.out(), "ACCEPT");
  }

  static std::vector<std::string> arguments(const certificates &c, const std::string &identity,
                                            std::vector<std::string> extra) {
    std::vector<std::string> args{program("openssl"), "s_server", "-accept", "127.0.0.1:0"};
    args.insert(args.end(), {"-cert", c.pem(identity), "-key", c.key(identity), "-rev"});
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
};

/// tlsio-server on 127.0.0.1, on a port of its choosing.
struct tlsio_server {
  child_process process;
  std::string port;

  tlsio_server(const fs::path &dir, std::vector<std::string> options)
      : process(arguments(std::move(options)), dir, "tlsio-server") {
    REQUIRE_MESSAGE(process.wait_for_output("listening on ", 10s),
                    "tlsio-server: " << process.err());
    port = port_after(process.out(), "listening on ");
  }

  /// SIGTERM; the exit status.
  std::optional<int> stop() {
    process.send_signal(SIGTERM);
    return process.wait(10s);
  }

  static std::vector<std::string> arguments(std::vector<std::string> options) {
    std::vector<std::string> args{tool("tlsio-server"), "--host", "127.0.0.1", "--port", "0"};
    args.insert(args.end(), options.begin(), options.end());
    return args;
  }
};

} // namespace tools_test
