// Standard input and output for tlsio-client: reading standard input inside the event loop,
// and writing standard output whether or not it is blocking.
#pragma once

#include <tlsio/compat.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/use_awaitable.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <span>
#include <system_error>

namespace tool {

// Standard input, read without blocking the event loop. Pipes, terminals and sockets are
// watched with epoll. epoll refuses regular files and devices such as /dev/null, but reading
// those never waits, so they are read directly.
class stdin_reader {
public:
  explicit stdin_reader(const asio::any_io_executor &executor) : descriptor_(executor) {
    struct stat st {};
    if (::fstat(STDIN_FILENO, &st) != 0)
      return;
    if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || ::isatty(STDIN_FILENO)) {
      saved_flags_ = ::fcntl(STDIN_FILENO, F_GETFL);
      descriptor_.assign(STDIN_FILENO);
    }
  }
  // Asio made the file non-blocking, which the shell (and standard output, when both are
  // the terminal) would otherwise inherit.
  ~stdin_reader() {
    if (descriptor_.is_open()) {
      descriptor_.release();
      ::fcntl(STDIN_FILENO, F_SETFL, saved_flags_);
    }
  }
  stdin_reader(const stdin_reader &) = delete;
  stdin_reader &operator=(const stdin_reader &) = delete;

  /// Some bytes; 0 at the end of the input.
  asio::awaitable<std::size_t> read_some(asio::mutable_buffer buffer) {
    if (!descriptor_.is_open())
      co_return read_directly(buffer);
    auto [ec, n] =
        co_await descriptor_.async_read_some(buffer, tlsio::compat::as_tuple(asio::use_awaitable));
    if (ec && ec != asio::error::eof)
      throw std::system_error(ec, "reading standard input");
    co_return n;
  }

private:
  static std::size_t read_directly(asio::mutable_buffer buffer) {
    for (;;) {
      auto n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
      if (n >= 0)
        return static_cast<std::size_t>(n);
      if (errno != EINTR)
        throw std::system_error(errno, std::generic_category(), "reading standard input");
    }
  }

  asio::posix::stream_descriptor descriptor_;
  int saved_flags_ = 0;
};

// Standard output may be non-blocking: a terminal shared with standard input (see above).
inline void write_stdout(std::span<const char> data) {
  while (!data.empty()) {
    auto n = ::write(STDOUT_FILENO, data.data(), data.size());
    if (n >= 0) {
      data = data.subspan(static_cast<std::size_t>(n));
    } else if (errno == EAGAIN) {
      pollfd writable{STDOUT_FILENO, POLLOUT, 0};
      ::poll(&writable, 1, -1);
    } else if (errno != EINTR) {
      throw std::system_error(errno, std::generic_category(), "writing standard output");
    }
  }
}

} // namespace tool
