// Programs run by the tools test: started with posix_spawn, their output kept in files, and
// never waited for without a bound (test helper).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

namespace tools_test {

/// A running program. Standard output and error go to DIR/NAME.out and DIR/NAME.err;
/// standard input is a pipe (write_stdin, close_stdin) or a file. Killed if still running
/// when destroyed.
class child_process {
public:
  child_process(const std::vector<std::string> &argv, const std::filesystem::path &dir,
                const std::string &name,
                const std::optional<std::filesystem::path> &stdin_file = std::nullopt);
  ~child_process();
  child_process(const child_process &) = delete;
  child_process &operator=(const child_process &) = delete;

  void write_stdin(std::string_view data);
  void close_stdin();
  void send_signal(int signal);

  /// Waits until standard output contains `text`: false if the program ended or the time
  /// ran out first.
  bool wait_for_output(std::string_view text, std::chrono::milliseconds timeout);
  /// The same for standard error.
  bool wait_for_error(std::string_view text, std::chrono::milliseconds timeout);
  /// Waits for the program to end, killing it once the time runs out. The exit status
  /// (128 + N for death by signal N), or nullopt if it had to be killed.
  std::optional<int> wait(std::chrono::milliseconds timeout);

  std::string out() const;
  std::string err() const;

private:
  bool reap(bool block);
  bool wait_for(const std::filesystem::path &file, std::string_view text,
                std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::optional<int> status_;
  std::filesystem::path out_path_, err_path_;
};

/// What a program that ran to completion left behind.
struct run_result {
  std::optional<int> status; ///< nullopt: killed after the timeout
  std::string out, err;
};

/// Runs a program with `input` on a pipe to its standard input, closed after the input.
run_result run(const std::vector<std::string> &argv, std::string_view input,
               const std::filesystem::path &dir, const std::string &name,
               std::chrono::milliseconds timeout = std::chrono::seconds(20));

/// The full path of a program found in $PATH, or nullopt.
std::optional<std::filesystem::path> find_program(std::string_view name);

/// A fresh directory under the system's temporary directory, removed with what it holds.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir &) = delete;
  temp_dir &operator=(const temp_dir &) = delete;
  const std::filesystem::path &path() const noexcept { return path_; }

private:
  std::filesystem::path path_;
};

} // namespace tools_test
