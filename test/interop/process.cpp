#include "process.hpp"

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <system_error>

extern char **environ;

namespace interop {
namespace {

using clock = std::chrono::steady_clock;

[[noreturn]] void throw_errno(const std::string &what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void set_nonblocking(int fd) {
  if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
    throw_errno("fcntl");
}

struct pipe_pair {
  int read = -1, write = -1;
  pipe_pair() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
      throw_errno("pipe2");
    read = fds[0];
    write = fds[1];
  }
};

void close_fd(int &fd) {
  if (fd >= 0)
    ::close(fd);
  fd = -1;
}

// A write to a peer that has gone must fail with EPIPE, not end the test process.
void ignore_sigpipe() {
  static const bool done = [] {
    ::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)done;
}

exit_status decode(int status) {
  exit_status s;
  if (WIFEXITED(status))
    s.code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    s.signal = WTERMSIG(status);
  return s;
}

std::string join(const std::vector<std::string> &argv) {
  std::string text;
  for (const auto &a : argv)
    text += (text.empty() ? "" : " ") + a;
  return text;
}

std::string tail(const std::string &s, std::size_t n = 2000) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

} // namespace

// --- programs ---------------------------------------------------------------------------------

std::optional<std::filesystem::path> find_program(const std::string &name) {
  const char *env = std::getenv("PATH");
  std::string path = (env ? std::string(env) : std::string("/usr/bin:/bin")) + ":/usr/sbin:/sbin";
  std::istringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty())
      continue;
    auto candidate = std::filesystem::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return std::nullopt;
}

std::filesystem::path require_program(const std::string &name) {
  if (auto p = find_program(name))
    return *p;
  throw std::runtime_error("the peer program '" + name +
                           "' is not installed: run scripts/setup.sh --test");
}

std::string exit_status::describe() const {
  std::string text =
      signal ? "killed by signal " + std::to_string(signal) : "exited with " + std::to_string(code);
  return killed_at_deadline ? text + " at its deadline" : text;
}

// --- process ----------------------------------------------------------------------------------

struct process::state {
  mutable std::mutex mutex;
  std::condition_variable changed;
  std::string out, err;
  std::optional<exit_status> status;
  bool stop = false;
};

process::process(std::vector<std::string> argv, process_options options)
    : argv_(std::move(argv)), options_(std::move(options)), state_(std::make_unique<state>()) {
  ignore_sigpipe();
  auto program = argv_.at(0).find('/') == std::string::npos ? require_program(argv_[0])
                                                            : std::filesystem::path(argv_[0]);
  pipe_pair in, out, err;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.read, 0);
  posix_spawn_file_actions_adddup2(&actions, out.write, 1);
  posix_spawn_file_actions_adddup2(&actions, err.write, 2);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3); // no test socket leaks into a peer
  if (!options_.cwd.empty())
    posix_spawn_file_actions_addchdir_np(&actions, options_.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group, so that killing it kills whatever it started too.
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t defaults, empty;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigemptyset(&empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::vector<char *> args;
  for (auto &a : argv_)
    args.push_back(a.data());
  args.push_back(nullptr);
  int ret = ::posix_spawn(&pid_, program.c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(in.read);
  ::close(out.write);
  ::close(err.write);
  if (ret != 0) {
    ::close(in.write);
    ::close(out.read);
    ::close(err.read);
    throw std::system_error(ret, std::generic_category(), "spawning " + join(argv_));
  }
  stdin_fd_ = in.write;
  set_nonblocking(stdin_fd_);
  set_nonblocking(out.read);
  set_nonblocking(err.read);
  monitor_fds_[0] = out.read;
  monitor_fds_[1] = err.read;
  monitor_ = std::thread([this] { monitor(); });
}

process::~process() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stop = true;
  }
  state_->changed.notify_all();
  if (monitor_.joinable())
    monitor_.join();
  close_fd(stdin_fd_);
}

// Drains stdout and stderr, reaps the child, and kills its group at the deadline or when
// the owner lets go. Runs until the child is reaped and its output read.
void process::monitor() {
  auto deadline = clock::now() + options_.timeout;
  std::string loop_pending; // stdout bytes not yet copied back into stdin
  bool killed = false, deadline_kill = false;
  auto kill_group = [&](bool at_deadline) {
    if (!killed) {
      ::kill(-pid_, SIGKILL);
      killed = true;
      deadline_kill = at_deadline;
    }
  };
  std::optional<clock::time_point> reaped_at;
  exit_status status;
  for (;;) {
    drain(loop_pending);
    if (!reaped_at) {
      int raw = 0;
      if (::waitpid(pid_, &raw, WNOHANG) == pid_) {
        status = decode(raw);
        status.killed_at_deadline = deadline_kill;
        reaped_at = clock::now();
      }
    }
    bool pipes_open = monitor_fds_[0] >= 0 || monitor_fds_[1] >= 0;
    // Done once reaped and drained (a grandchild holding the pipes gets a moment, no more).
    if (reaped_at && (!pipes_open || clock::now() - *reaped_at > 200ms))
      break;
    bool stop;
    {
      std::lock_guard lock(state_->mutex);
      stop = state_->stop;
    }
    if (stop)
      kill_group(false);
    else if (clock::now() > deadline)
      kill_group(true);
    else if (reaped_at)
      kill_group(false); // the leader is gone; take whatever it left behind with it
  }
  close_fd(monitor_fds_[0]);
  close_fd(monitor_fds_[1]);
  {
    // Published only now, so that whoever waits for the exit sees all of the output.
    std::lock_guard lock(state_->mutex);
    state_->status = status;
  }
  state_->changed.notify_all();
}

// Reads what stdout and stderr hold (waiting up to 10 ms for more), and copies stdout back
// into stdin when asked to.
void process::drain(std::string &loop_pending) {
  pollfd p[2] = {{monitor_fds_[0], POLLIN, 0}, {monitor_fds_[1], POLLIN, 0}};
  ::poll(p, 2, 10);
  char buffer[65536];
  for (int i = 0; i < 2; ++i) {
    while (monitor_fds_[i] >= 0) {
      ssize_t n = ::read(monitor_fds_[i], buffer, sizeof buffer);
      if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
          close_fd(monitor_fds_[i]);
        break;
      }
      std::lock_guard lock(state_->mutex);
      (i == 0 ? state_->out : state_->err).append(buffer, static_cast<std::size_t>(n));
      if (i == 0 && options_.loop_stdout_to_stdin)
        loop_pending.append(buffer, static_cast<std::size_t>(n));
    }
  }
  state_->changed.notify_all();
  if (loop_pending.empty())
    return;
  std::lock_guard lock(state_->mutex);
  ssize_t n = stdin_fd_ >= 0 ? ::write(stdin_fd_, loop_pending.data(), loop_pending.size()) : -1;
  if (n > 0)
    loop_pending.erase(0, static_cast<std::size_t>(n));
  else if (n < 0 && errno != EAGAIN)
    loop_pending.clear(); // the process no longer reads
}

template <class Ready>
bool process::wait_until(Ready ready, std::chrono::milliseconds bound) const {
  std::unique_lock lock(state_->mutex);
  return state_->changed.wait_for(lock, bound, [&] { return ready() || state_->status; }) &&
         ready();
}

bool process::write(std::string_view data) {
  auto deadline = clock::now() + options_.timeout;
  while (!data.empty()) {
    if (stdin_fd_ < 0 || clock::now() > deadline)
      return false;
    ssize_t n;
    {
      std::lock_guard lock(state_->mutex); // the monitor may be writing its loop-back bytes
      n = ::write(stdin_fd_, data.data(), data.size());
    }
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (errno != EAGAIN && errno != EINTR)
      return false;
    pollfd p{stdin_fd_, POLLOUT, 0};
    ::poll(&p, 1, 20);
  }
  return true;
}

void process::close_stdin() {
  std::lock_guard lock(state_->mutex);
  close_fd(stdin_fd_);
}

std::string process::out() const {
  std::lock_guard lock(state_->mutex);
  return state_->out;
}

std::string process::err() const {
  std::lock_guard lock(state_->mutex);
  return state_->err;
}

bool process::wait_for_output(std::size_t n, std::chrono::milliseconds bound) {
  return wait_until([&] { return state_->out.size() >= n; }, bound);
}

bool process::wait_for_text(std::string_view text, std::chrono::milliseconds bound,
                            bool in_stderr) {
  return wait_until(
      [&] { return (in_stderr ? state_->err : state_->out).find(text) != std::string::npos; },
      bound);
}

std::optional<exit_status> process::wait(std::chrono::milliseconds bound) {
  std::unique_lock lock(state_->mutex);
  state_->changed.wait_for(lock, bound, [&] { return state_->status.has_value(); });
  return state_->status;
}

bool process::running() const {
  std::lock_guard lock(state_->mutex);
  return !state_->status;
}

exit_status process::kill() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stop = true;
  }
  state_->changed.notify_all();
  if (monitor_.joinable())
    monitor_.join();
  std::lock_guard lock(state_->mutex);
  return state_->status.value_or(exit_status{});
}

std::string process::describe() const {
  std::lock_guard lock(state_->mutex);
  std::string text =
      join(argv_) + ": " + (state_->status ? state_->status->describe() : std::string("running"));
  if (!state_->err.empty())
    text += "\nstderr: " + tail(state_->err);
  if (!state_->out.empty())
    text += "\nstdout: " + tail(state_->out, 600);
  return text;
}

// --- ports ------------------------------------------------------------------------------------

unsigned short pick_free_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
  return probe.local_endpoint().port();
}

bool wait_for_port(unsigned short port, const process &p, std::chrono::milliseconds bound) {
  asio::io_context io;
  auto deadline = clock::now() + bound;
  while (clock::now() < deadline && p.running()) {
    asio::ip::tcp::socket s(io);
    std::error_code ec;
    s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    if (!ec)
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

server_peer start_server(const std::function<std::vector<std::string>(unsigned short)> &argv_for,
                         process_options options, std::chrono::milliseconds ready_bound) {
  std::string last_failure;
  for (int attempt = 0; attempt < 3; ++attempt) {
    server_peer peer;
    peer.port = pick_free_port();
    peer.proc = std::make_unique<process>(argv_for(peer.port), options);
    if (wait_for_port(peer.port, *peer.proc, ready_bound))
      return peer;
    peer.proc->kill();
    last_failure = peer.proc->describe();
  }
  throw std::runtime_error("the server peer never accepted connections: " + last_failure);
}

} // namespace interop
