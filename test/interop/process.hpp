// Peer programs for the interop tests: spawned with pipes, bounded by a hard timeout, killed
// with their whole process group when the test is done with them (test helper).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace interop {

using namespace std::chrono_literals;

/// The full path of a program on PATH, or in /usr/sbin and /sbin (where Debian puts nginx).
std::optional<std::filesystem::path> find_program(const std::string &name);
/// The same, but a missing program throws "... run scripts/setup.sh --test": the test fails.
std::filesystem::path require_program(const std::string &name);

/// How a process ended.
struct exit_status {
  int code = -1;  ///< exit code, or -1 if a signal ended it
  int signal = 0; ///< the signal that ended it, or 0
  bool killed_at_deadline = false;
  bool ok() const noexcept { return code == 0; }
  std::string describe() const;
};

struct process_options {
  /// The hard bound on the process's life: past it, its process group is killed.
  std::chrono::milliseconds timeout = 60s;
  std::filesystem::path cwd{};
  /// Copy everything the process writes to stdout back into its stdin (turns
  /// `openssl s_server -quiet` into an echo server).
  bool loop_stdout_to_stdin = false;
};

class process {
public:
  explicit process(std::vector<std::string> argv, process_options options = {});
  /// Kills the process group if it is still running, and reaps it.
  ~process();
  process(const process &) = delete;
  process &operator=(const process &) = delete;

  pid_t pid() const noexcept { return pid_; }
  /// Writes all of data to the process's stdin; false if it stopped reading (exited, closed
  /// stdin, or the deadline passed).
  bool write(std::string_view data);
  void close_stdin();

  std::string out() const;
  std::string err() const;
  /// Waits until stdout holds at least n bytes; false if the process ended first or the
  /// bound passed.
  bool wait_for_output(std::size_t n, std::chrono::milliseconds bound);
  /// Waits until stdout (or stderr) contains text.
  bool wait_for_text(std::string_view text, std::chrono::milliseconds bound,
                     bool in_stderr = false);

  /// Waits for the process to end by itself; nullopt if it is still running after bound.
  std::optional<exit_status> wait(std::chrono::milliseconds bound);
  bool running() const;
  /// Kills the process group (SIGKILL) and waits for it.
  exit_status kill();

  /// "argv[0] ...: exited with 1; stderr: ..." for failure messages.
  std::string describe() const;

private:
  struct state;
  void monitor();
  void drain(std::string &loop_pending);
  template <class Ready> bool wait_until(Ready ready, std::chrono::milliseconds bound) const;

  std::vector<std::string> argv_;
  process_options options_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int monitor_fds_[2] = {-1, -1}; // stdout, stderr: the monitor thread's alone
  std::unique_ptr<state> state_;
  std::thread monitor_;
};

/// A port that was free on 127.0.0.1 a moment ago, for peers that cannot take port 0.
unsigned short pick_free_port();

/// Connects (plain TCP) to 127.0.0.1:port until it succeeds; false if the process exited or
/// the bound passed first.
bool wait_for_port(unsigned short port, const process &p, std::chrono::milliseconds bound);

/// A server peer started on a free port: argv_for(port) names the command. A port taken
/// meanwhile by someone else (the peer exits, or never answers there) is retried with
/// another. Throws with the peer's output if it never became ready.
struct server_peer {
  unsigned short port = 0;
  std::unique_ptr<process> proc;
};
server_peer start_server(const std::function<std::vector<std::string>(unsigned short)> &argv_for,
                         process_options options = {}, std::chrono::milliseconds ready_bound = 10s);

} // namespace interop
