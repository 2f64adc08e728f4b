// tlsio-client: a TLS client for the command line, like `openssl s_client -quiet`.
//
//   tlsio-client HOST PORT [--ca FILE|system] [--insecure] [--servername NAME]
//                [--alpn P,...] [--cert FILE --key FILE [--pass PASSWORD]]
//
// Copies standard input to the server and the server's data to standard output. Once the
// input has ended it goes on reading until the server closes or has been quiet for a second,
// then sends close_notify. Exit status 0 on success; otherwise one line on standard error
// that names the reason, and 1 (2 for a command line it cannot understand).
#include "tool_options.hpp"

#include <tlsio/connect.hpp>
#include <tlsio/detail/asio_compat.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <iostream>
#include <span>

namespace {

using asio::awaitable;
using asio::use_awaitable;
using clock_type = std::chrono::steady_clock;
constexpr auto as_tuple = tlsio::compat::as_tuple(use_awaitable);
constexpr auto quiet_period = std::chrono::seconds(1);
constexpr const char *usage =
    "usage: tlsio-client HOST PORT [--ca FILE|system] [--insecure] [--servername NAME]\n"
    "                    [--alpn P,...] [--cert FILE --key FILE [--pass PASSWORD]]\n";

struct client_options {
  std::string host, port;
  std::optional<std::string> ca; // a bundle file; none (or "system"): the system's store
  bool insecure = false;
  std::optional<std::string> server_name;
  std::vector<std::string> alpn;
  std::optional<std::string> cert, key, password;
};

client_options parse(int argc, char **argv) {
  client_options o;
  std::vector<std::string> positional;
  tool::command_line args(argc, argv);
  while (auto arg = args.next()) {
    if (*arg == "--ca")
      o.ca = args.value();
    else if (*arg == "--insecure")
      o.insecure = true;
    else if (*arg == "--servername")
      o.server_name = args.value();
    else if (*arg == "--alpn")
      o.alpn = tool::split_list(args.value());
    else if (*arg == "--cert")
      o.cert = args.value();
    else if (*arg == "--key")
      o.key = args.value();
    else if (*arg == "--pass")
      o.password = args.value();
    else if (arg->starts_with("-"))
      throw tool::usage_error("unknown option " + *arg);
    else
      positional.push_back(*arg);
  }
  if (positional.size() != 2)
    throw tool::usage_error("expected HOST and PORT");
  if (o.cert.has_value() != o.key.has_value())
    throw tool::usage_error("--cert and --key go together");
  if (o.password && !o.key)
    throw tool::usage_error("--pass is for --key");
  o.host = positional[0];
  o.port = positional[1];
  return o;
}

// Throws std::runtime_error with the sentence to print.
tlsio::context make_context(const client_options &o) {
  tlsio::context ctx{tlsio::role::client};
  auto check = [](const std::error_code &ec, const std::string &what) {
    if (ec)
      throw std::runtime_error("cannot load " + what + ": " + ec.message());
  };
  std::error_code ec;
  if (o.ca && *o.ca != "system") {
    ctx.set_ca_bundle(*o.ca, ec);
    check(ec, "CA bundle " + *o.ca);
  }
  if (o.cert) {
    ctx.load_certificate_chain(*o.cert, ec);
    check(ec, "certificate " + *o.cert);
    ctx.load_private_key(*o.key, o.password, ec);
    check(ec, "private key " + *o.key);
  }
  if (!o.alpn.empty())
    ctx.set_alpn(o.alpn);
  if (o.insecure)
    ctx.set_verify(tlsio::verify::insecure_skip);
  tool::honour_key_log_variable(ctx, "tlsio-client");
  return ctx;
}

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
  awaitable<std::size_t> read_some(asio::mutable_buffer buffer) {
    if (!descriptor_.is_open())
      co_return read_directly(buffer);
    auto [ec, n] = co_await descriptor_.async_read_some(buffer, as_tuple);
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
void write_stdout(std::span<const char> data) {
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

struct session {
  tlsio::stream<> &stream;
  clock_type::time_point last_data = clock_type::now();
  std::error_code error{};
};

// The server's data to standard output, until its close_notify.
awaitable<void> receive(session &s) {
  std::array<char, 16384> buffer;
  for (;;) {
    auto [ec, n] = co_await s.stream.async_read_some(asio::buffer(buffer), as_tuple);
    if (ec) {
      if (ec != asio::error::eof && ec != asio::error::operation_aborted)
        s.error = ec;
      co_return;
    }
    write_stdout({buffer.data(), n});
    s.last_data = clock_type::now();
  }
}

// Standard input to the server; then waits for the server to be quiet for a while, since
// it may still be answering.
awaitable<void> send(session &s, stdin_reader &input) {
  std::array<char, 16384> buffer;
  while (std::size_t n = co_await input.read_some(asio::buffer(buffer))) {
    auto [ec, written] =
        co_await asio::async_write(s.stream, asio::buffer(buffer.data(), n), as_tuple);
    if (ec) {
      if (ec != asio::error::operation_aborted)
        s.error = ec;
      co_return;
    }
  }
  s.last_data = clock_type::now();
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (clock_type::now() < s.last_data + quiet_period) {
    timer.expires_at(s.last_data + quiet_period);
    co_await timer.async_wait(use_awaitable);
  }
}

std::string connect_failure(const std::error_code &ec, const tlsio::stream<> &s,
                            const client_options &o) {
  if (ec.category() == asio::error::get_netdb_category() ||
      ec.category() == asio::error::get_addrinfo_category())
    return "cannot resolve " + o.host + ": " + ec.message();
  if (ec.category() == asio::error::get_system_category())
    return "cannot connect to " + o.host + " port " + o.port + ": " + ec.message();
  return tool::describe(ec, s);
}

// The failure to report, or "" on success.
awaitable<std::string> run(const client_options &o, tlsio::context ctx) {
  auto executor = co_await asio::this_coro::executor;
  tlsio::connect_options options{.server_name = o.server_name};
  auto [ec, stream] =
      co_await tlsio::async_connect(executor, ctx, o.host, o.port, options, as_tuple);
  if (ec)
    co_return connect_failure(ec, stream, o);

  session s{stream};
  stdin_reader input(executor);
  using namespace tlsio::compat::awaitable_operators;
  co_await (receive(s) || send(s, input));
  if (s.error)
    co_return tool::describe(s.error, stream);
  // Errors ignored: all data has arrived, and a server that closes without answering our
  // close_notify loses nothing.
  co_await stream.async_shutdown(as_tuple);
  co_return "";
}

} // namespace

int main(int argc, char **argv) {
  if (tool::wants_help(argc, argv)) {
    std::cout << usage << tool::environment_help;
    return 0;
  }
  client_options options;
  try {
    options = parse(argc, argv);
  } catch (const tool::usage_error &e) {
    std::cerr << "tlsio-client: " << e.what() << "\n" << usage;
    return 2;
  }
  // A closed standard input reads as empty; otherwise the first socket would become it.
  if (::fcntl(STDIN_FILENO, F_GETFD) == -1)
    ::open("/dev/null", O_RDONLY);
  try {
    auto ctx = make_context(options);
    if (options.insecure)
      std::cerr << "tlsio-client: WARNING: --insecure: the server's certificate is NOT "
                   "verified; anyone on the path can read and change this connection\n";
    asio::io_context io;
    std::string failure;
    asio::co_spawn(io, run(options, ctx), [&](std::exception_ptr e, std::string result) {
      if (e)
        std::rethrow_exception(e);
      failure = std::move(result);
    });
    io.run();
    if (failure.empty())
      return 0;
    std::cerr << "tlsio-client: " << failure << "\n";
  } catch (const std::exception &e) {
    std::cerr << "tlsio-client: " << e.what() << "\n";
  }
  return 1;
}
