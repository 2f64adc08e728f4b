// The key log: written only when the application asks, to a private file, appended, never
// through a symbolic link, whole lines only.
#include "engine_pair.hpp"

#include <tlsio/error.hpp>

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace tlsio_test;
namespace fs = std::filesystem;

namespace {

/// A fresh directory, removed with what it holds.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "tlsio-key-log-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~temp_dir() { fs::remove_all(path); }
};

// Set before main, as a user's shell would, for every test here: the library must not
// act on it by itself.
const fs::path environment_log =
    fs::temp_directory_path() / ("tlsio-key-log-env-" + std::to_string(::getpid()) + ".txt");
const bool environment_set = ::setenv("SSLKEYLOGFILE", environment_log.c_str(), 1) == 0;

void handshake(const tlsio::context &client_ctx, const tlsio::context &server_ctx) {
  engine_pair p(client_ctx, server_ctx);
  auto r = p.handshake();
  REQUIRE(r.client.status == tlsio::status::done);
  REQUIRE(r.server.status == tlsio::status::done);
}

std::string contents(const fs::path &path) {
  std::ifstream in(path);
  std::ostringstream all;
  all << in.rdbuf();
  return all.str();
}

/// A server context that logs to `path`.
tlsio::context logging_server(const fs::path &path) {
  auto ctx = test_pki::shared().server_context();
  ctx.set_key_log_file(path);
  return ctx;
}

/// A label of the NSS key log format, 64 hex digits (the client random), then the secret in
/// hex: TLS 1.2's master secret (96 digits, "CLIENT_RANDOM"), or one of TLS 1.3's traffic
/// secrets (64 or 96 digits, by the suite's hash).
bool is_key_log_line(const std::string &line) {
  static constexpr std::string_view labels[] = {"CLIENT_RANDOM",
                                                "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                                                "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                                                "CLIENT_TRAFFIC_SECRET_0",
                                                "SERVER_TRAFFIC_SECRET_0",
                                                "EXPORTER_SECRET"};
  auto space = line.find(' ');
  if (space == std::string::npos ||
      std::find(std::begin(labels), std::end(labels), line.substr(0, space)) == std::end(labels))
    return false;
  auto fields = line.substr(space + 1);
  bool hex = fields.find_first_not_of("0123456789abcdef ") == std::string::npos;
  std::size_t secret = fields.size() - 65;
  return hex && fields.size() > 65 && fields[64] == ' ' && (secret == 64 || secret == 96) &&
         (!line.starts_with("CLIENT_RANDOM") || secret == 96);
}

/// How many connection ends logged their secrets (one CLIENT_RANDOM line each under TLS 1.2,
/// five lines with one CLIENT_TRAFFIC_SECRET_0 under TLS 1.3); each line must be a key log line.
std::size_t count_key_log_lines(const fs::path &path) {
  std::ifstream in(path);
  std::size_t ends = 0;
  for (std::string line; std::getline(in, line);) {
    REQUIRE_MESSAGE(is_key_log_line(line), "not a key log line: " << line);
    ends += line.starts_with("CLIENT_RANDOM ") || line.starts_with("CLIENT_TRAFFIC_SECRET_0 ");
  }
  return ends;
}

/// Sets the umask for one scope.
struct scoped_umask {
  mode_t saved;
  explicit scoped_umask(mode_t mask) : saved(::umask(mask)) {}
  ~scoped_umask() { ::umask(saved); }
};

} // namespace

TEST_CASE("SSLKEYLOGFILE alone writes nothing: the application must ask") {
  REQUIRE(environment_set);
  const auto &pki = test_pki::shared();
  handshake(pki.client_context(), pki.server_context());
  bool written = fs::exists(environment_log);
  fs::remove(environment_log);
  CHECK_FALSE(written);
}

TEST_CASE("set_key_log_file creates the file with mode 0600, whatever the umask") {
  temp_dir dir;
  auto path = dir.path / "keys.txt";
  {
    scoped_umask permissive(0);
    auto server_ctx = logging_server(path);
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    handshake(test_pki::shared().client_context(), server_ctx);
  }
  CHECK(count_key_log_lines(path) == 1);
}

TEST_CASE("an existing key log file is appended to, not truncated") {
  temp_dir dir;
  auto path = dir.path / "keys.txt";
  const std::string earlier =
      "CLIENT_RANDOM " + std::string(64, 'a') + " " + std::string(96, 'b') + "\n";
  std::ofstream(path) << earlier;
  std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::owner_write);
  auto server_ctx = logging_server(path);
  handshake(test_pki::shared().client_context(), server_ctx);
  auto text = contents(path);
  CHECK(text.starts_with(earlier));
  CHECK(count_key_log_lines(path) == 2);
}

TEST_CASE("an existing key log file that others could read, or a FIFO, is refused") {
  temp_dir dir;
  auto path = dir.path / "keys.txt";
  std::ofstream(path) << "";
  ::chmod(path.c_str(), 0644);
  tlsio::context ctx{tlsio::role::server, tlsio_test::backend_under_test()};
  std::error_code ec;
  ctx.set_key_log_file(path, ec);
  CHECK(ec == tlsio::error::key_log_not_private);
  CHECK(std::string(ec.message()).find("chmod 600") != std::string::npos);

  auto fifo = dir.path / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK); // so that opening to write works
  ctx.set_key_log_file(fifo, ec);
  CHECK(ec == tlsio::error::key_log_not_private);
  ::close(reader);
}

TEST_CASE("a symbolic link as the key log file is refused, and its target left alone") {
  temp_dir dir;
  auto target = dir.path / "target.txt", link = dir.path / "keys.txt";
  std::ofstream(target) << "not yours\n";
  fs::create_symlink(target, link);
  auto server_ctx = test_pki::shared().server_context();

  std::error_code ec;
  server_ctx.set_key_log_file(link, ec);
  CHECK(ec == tlsio::error::key_log_symlink);
  CHECK(ec.message().find("symbolic link") != std::string::npos);
  try {
    server_ctx.set_key_log_file(link);
    FAIL("no exception");
  } catch (const std::system_error &e) {
    CHECK(e.code() == tlsio::error::key_log_symlink);
    CHECK(std::string(e.what()).find(link.string()) != std::string::npos);
  }
  handshake(test_pki::shared().client_context(), server_ctx);
  CHECK(contents(target) == "not yours\n");
}

TEST_CASE("a key log file that cannot be opened is reported with the system's error") {
  temp_dir dir;
  auto server_ctx = test_pki::shared().server_context();
  std::error_code ec;
  server_ctx.set_key_log_file(dir.path / "missing" / "keys.txt", ec);
  CHECK(ec == std::errc::no_such_file_or_directory);
  CHECK_THROWS_AS(server_ctx.set_key_log_file(dir.path / "missing" / "keys.txt"),
                  std::system_error);
}

TEST_CASE("the key log file is set before the context is used, like every setting") {
  temp_dir dir;
  auto server_ctx = test_pki::shared().server_context();
  handshake(test_pki::shared().client_context(), server_ctx);
  CHECK_THROWS_AS(server_ctx.set_key_log_file(dir.path / "keys.txt"), std::logic_error);
  CHECK_FALSE(fs::exists(dir.path / "keys.txt"));
}

TEST_CASE("connections on several threads write whole lines") {
  temp_dir dir;
  auto path = dir.path / "keys.txt";
  auto server_ctx = logging_server(path);
  auto client_ctx = test_pki::shared().client_context();
  client_ctx.set_key_log_file(path); // both ends log: twice the lines, racing each other
  constexpr int threads = 4, each = 5;
  std::vector<std::thread> running;
  std::atomic<int> done{0};
  for (int t = 0; t < threads; ++t)
    running.emplace_back([&] {
      for (int i = 0; i < each; ++i) {
        engine_pair p(client_ctx, server_ctx);
        auto r = p.handshake();
        if (r.client.status == tlsio::status::done && r.server.status == tlsio::status::done)
          ++done;
      }
    });
  for (auto &t : running)
    t.join();
  REQUIRE(done == threads * each);
  CHECK(count_key_log_lines(path) == 2 * threads * each);
}

TEST_CASE("key_log_file_from_environment reads SSLKEYLOGFILE, for programs that honour it") {
  REQUIRE(environment_set);
  CHECK(tlsio::context::key_log_file_from_environment() == environment_log);
  ::setenv("SSLKEYLOGFILE", "", 1);
  CHECK_FALSE(tlsio::context::key_log_file_from_environment().has_value());
  ::unsetenv("SSLKEYLOGFILE");
  CHECK_FALSE(tlsio::context::key_log_file_from_environment().has_value());
  ::setenv("SSLKEYLOGFILE", environment_log.c_str(), 1);
}
