#include "tools/child_process.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace tools_test {
namespace {

using clock_type = std::chrono::steady_clock;
constexpr auto poll_interval = std::chrono::milliseconds(10);

std::system_error system_error(int code, const std::string &what) {
  return {code, std::generic_category(), what};
}

std::string read_file(const std::filesystem::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

} // namespace

child_process::child_process(const std::vector<std::string> &argv, const std::filesystem::path &dir,
                             const std::string &name,
                             const std::optional<std::filesystem::path> &stdin_file)
    : out_path_(dir / (name + ".out")), err_path_(dir / (name + ".err")) {
  // Writing to a program that exits without reading its input must not kill the test.
  std::signal(SIGPIPE, SIG_IGN);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  int input[2] = {-1, -1};
  if (stdin_file) {
    posix_spawn_file_actions_addopen(&actions, 0, stdin_file->c_str(), O_RDONLY, 0);
  } else {
    if (::pipe2(input, O_CLOEXEC) != 0)
      throw system_error(errno, "pipe2");
    posix_spawn_file_actions_adddup2(&actions, input[0], 0);
  }
  posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  // Sockets this process has open (a test's server) must not stay open in the child.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);

  // The child gets the signal handling a shell would give it, not ours.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t defaults, none;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  std::vector<char *> args;
  for (const auto &arg : argv)
    args.push_back(const_cast<char *>(arg.c_str()));
  args.push_back(nullptr);
  int error = posix_spawn(&pid_, argv.at(0).c_str(), &actions, &attributes, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (input[0] != -1)
    ::close(input[0]);
  stdin_fd_ = input[1];
  if (error != 0) {
    close_stdin();
    pid_ = -1;
    throw system_error(error, "starting " + argv[0]);
  }
}

child_process::~child_process() {
  close_stdin();
  if (pid_ != -1 && !status_) {
    ::kill(pid_, SIGKILL);
    reap(true);
  }
}

void child_process::write_stdin(std::string_view data) {
  while (!data.empty()) {
    auto n = ::write(stdin_fd_, data.data(), data.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw system_error(errno, "writing to a child's standard input");
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void child_process::close_stdin() {
  if (stdin_fd_ != -1)
    ::close(stdin_fd_);
  stdin_fd_ = -1;
}

void child_process::send_signal(int signal) {
  if (!status_)
    ::kill(pid_, signal);
}

bool child_process::reap(bool block) {
  if (status_)
    return true;
  int raw = 0;
  pid_t done;
  do
    done = ::waitpid(pid_, &raw, block ? 0 : WNOHANG);
  while (done < 0 && errno == EINTR);
  if (done != pid_)
    return false;
  status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  return true;
}

bool child_process::wait_for_output(std::string_view text, std::chrono::milliseconds timeout) {
  return wait_for(out_path_, text, timeout);
}

bool child_process::wait_for_error(std::string_view text, std::chrono::milliseconds timeout) {
  return wait_for(err_path_, text, timeout);
}

bool child_process::wait_for(const std::filesystem::path &file, std::string_view text,
                             std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    bool ended = reap(false); // before reading: output written before the end counts
    if (read_file(file).find(text) != std::string::npos)
      return true;
    if (ended || clock_type::now() > deadline)
      return false;
    std::this_thread::sleep_for(poll_interval);
  }
}

std::optional<int> child_process::wait(std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  while (!reap(false)) {
    if (clock_type::now() > deadline) {
      ::kill(pid_, SIGKILL);
      reap(true);
      return std::nullopt;
    }
    std::this_thread::sleep_for(poll_interval);
  }
  return status_;
}

std::string child_process::out() const { return read_file(out_path_); }
std::string child_process::err() const { return read_file(err_path_); }

run_result run(const std::vector<std::string> &argv, std::string_view input,
               const std::filesystem::path &dir, const std::string &name,
               std::chrono::milliseconds timeout) {
  child_process p(argv, dir, name);
  try {
    p.write_stdin(input);
  } catch (const std::system_error &) {
    // It exited without reading all of it; its status says why.
  }
  p.close_stdin();
  auto status = p.wait(timeout);
  return {status, p.out(), p.err()};
}

std::optional<std::filesystem::path> find_program(std::string_view name) {
  const char *path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    auto colon = dirs.find(':');
    std::filesystem::path candidate = std::filesystem::path(dirs.substr(0, colon)) / name;
    if (::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
  }
  return std::nullopt;
}

temp_dir::temp_dir() {
  auto pattern = (std::filesystem::temp_directory_path() / "tlsio-tools-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)
    throw system_error(errno, "mkdtemp");
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

} // namespace tools_test
