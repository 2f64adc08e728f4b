// tlsio-client: a TLS client for the command line, like `openssl s_client -quiet`.
//
//   tlsio-client [options] HOST:PORT      (or HOST PORT; an IPv6 address as [::1]:443)
//   tlsio-client --dtls [options] HOST:PORT
//
// Copies standard input to the server and the server's data to standard output. Once the
// input has ended it goes on reading until the server closes or has been quiet for a second,
// then sends close_notify. --dtls speaks DTLS 1.2 over UDP instead (dtls_client.hpp): each
// line of standard input is one message. On failure, one line on standard error that names the
// server and the reason, and an exit status for the kind of failure (exit_status.hpp; --help).
#include "command_line.hpp"
#include "dtls_client.hpp"
#include "dtls_option.hpp"
#include "engine_option.hpp"
#include "exit_status.hpp"
#include "host_port.hpp"
#include "key_log.hpp"
#include "report.hpp"
#include "standard_io.hpp"

#include <tlsio/stream.hpp>

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <array>
#include <chrono>
#include <iostream>

namespace {

using asio::awaitable;
using asio::use_awaitable;
using clock_type = std::chrono::steady_clock;
using tool::exit_status;
constexpr auto as_tuple = tlsio::compat::as_tuple(use_awaitable);
constexpr auto quiet_period = std::chrono::seconds(1);
constexpr std::string_view usage = "usage: tlsio-client [options] HOST:PORT\n"
                                   "       tlsio-client [options] HOST PORT\n"
                                   "       tlsio-client --dtls [options] HOST:PORT\n";
constexpr std::string_view options_help =
    "\nCopies standard input to the server and the server's data to standard output.\n"
    "\noptions:\n"
    "  --ca FILE, --cacert FILE  trust only the CAs in FILE; \"system\": the system's\n"
    "                            store (default: system)\n"
    "  -k, --insecure            do NOT verify the server's certificate; prints a warning\n"
    "                            (default: off, the chain and the host name are verified)\n"
    "  --servername NAME         the name to verify and send as SNI (default: HOST)\n"
    "  --alpn P,...              the ALPN protocols to offer (default: none)\n"
    "  --cert FILE               a client certificate chain, leaf first (default: none)\n"
    "  --key FILE                the private key of --cert (default: none)\n"
    "  --pass PASSWORD           the password of --key (default: none)\n"
    "  --dtls                    DTLS 1.2 over UDP (Mbed TLS engine): each line of standard\n"
    "                            input, its newline included, is one message (a line longer\n"
    "                            than a message can be: several); each message received is\n"
    "                            written out. At the end of the input it waits for as many\n"
    "                            messages as it sent, or for a second without any\n"
    "                            (default: off, TLS over TCP)\n";
constexpr std::string_view options_help_end =
    "  -v, --verbose             print what was negotiated to standard error (default: off)\n"
    "  -h, --help                print this help and exit\n"
    "  --version                 print tlsio's and the TLS engines' versions and exit\n";

struct client_options {
  std::string host, port;
  std::optional<std::string> ca; // a bundle file; none (or "system"): the system's store
  bool insecure = false;
  bool verbose = false;
  bool dtls = false;
  std::optional<std::string> server_name;
  std::vector<std::string> alpn;
  std::optional<std::string> cert, key, password;
  tool::engine_options engine;
};

// HOST:PORT, [v6]:PORT or HOST PORT.
void set_target(client_options &o, const std::vector<std::string> &positional) {
  tool::host_port target;
  if (positional.size() == 1)
    target = tool::split_host_port(positional[0]);
  else if (positional.size() == 2)
    target = {tool::unbracket(positional[0]), positional[1]};
  else
    throw tool::usage_error("expected HOST:PORT or HOST PORT");
  tool::check_port(target.port);
  o.host = target.host;
  o.port = target.port;
}

client_options parse(int argc, char **argv) {
  client_options o;
  std::vector<std::string> positional;
  tool::command_line args(argc, argv);
  while (auto arg = args.next()) {
    if (*arg == "--ca" || *arg == "--cacert")
      o.ca = args.value();
    else if (*arg == "--insecure" || *arg == "-k")
      o.insecure = true;
    else if (*arg == "--verbose" || *arg == "-v")
      o.verbose = true;
    else if (*arg == "--dtls")
      o.dtls = true;
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
    else if (tool::parse_engine_option(o.engine, *arg, args))
      continue;
    else if (arg->starts_with("-"))
      throw tool::usage_error("unknown option " + *arg);
    else
      positional.push_back(*arg);
  }
  set_target(o, positional);
  if (o.cert.has_value() != o.key.has_value())
    throw tool::usage_error("--cert and --key go together");
  if (o.password && !o.key)
    throw tool::usage_error("--pass is for --key");
  if (o.dtls)
    tool::choose_dtls_engine(o.engine);
  return o;
}

// Throws std::runtime_error with the sentence to print (tool::usage_error for a TLS version
// the engine does not speak).
tlsio::context make_context(const client_options &o) {
  auto ctx = tool::make_engine_context(tlsio::role::client, o.engine);
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
    tool::write_stdout({buffer.data(), n});
    s.last_data = clock_type::now();
  }
}

// Standard input to the server; then waits for the server to be quiet for a while, since
// it may still be answering.
awaitable<void> send(session &s, tool::stdin_reader &input) {
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

using outcome = tool::client_outcome;

// Resolve and TCP connect, apart from the handshake: their failures have their own status.
awaitable<outcome> open_connection(const client_options &o, tlsio::stream<> &stream) {
  asio::ip::tcp::resolver resolver(stream.get_executor());
  auto [ec, endpoints] = co_await resolver.async_resolve(o.host, o.port, as_tuple);
  if (ec)
    co_return outcome{exit_status::unreachable, "cannot resolve: " + ec.message()};
  auto [connect_ec, endpoint] =
      co_await asio::async_connect(stream.next_layer(), endpoints, as_tuple);
  if (connect_ec)
    co_return outcome{exit_status::unreachable, "cannot connect: " + connect_ec.message()};
  if (o.verbose)
    std::cerr << "* connected to " << tool::to_string(endpoint) << "\n";
  co_return outcome{};
}

awaitable<outcome> handshake(const client_options &o, tlsio::stream<> &stream) {
  // An IP literal is checked against the certificate's addresses and never sent as SNI.
  stream.set_server_name(o.server_name.value_or(o.host));
  auto [ec] = co_await stream.async_handshake(as_tuple);
  if (ec) {
    auto reason = tool::describe(ec, stream);
    // The engine says when a server seems to want TLS 1.3; say which engine speaks it.
    if (reason.find("TLS 1.3") != std::string::npos && o.engine.engine == tlsio::backend::mbedtls &&
        tool::has_tls1_3_engine())
      reason += " (--engine openssl does)";
    co_return outcome{tool::handshake_status(ec, stream.verification_result()), reason};
  }
  if (o.verbose)
    tool::print_negotiated(std::cerr, stream, tool::engine_description(o.engine.engine));
  co_return outcome{};
}

awaitable<outcome> run_tls(const client_options &o, tlsio::context ctx) {
  auto executor = co_await asio::this_coro::executor;
  tlsio::stream<> stream(ctx, executor);
  if (auto r = co_await open_connection(o, stream); r.status != exit_status::ok)
    co_return r;
  if (auto r = co_await handshake(o, stream); r.status != exit_status::ok)
    co_return r;

  session s{stream};
  tool::stdin_reader input(executor);
  using namespace tlsio::compat::awaitable_operators;
  co_await (receive(s) || send(s, input));
  if (s.error)
    co_return outcome{exit_status::tls, tool::describe(s.error, stream)};
  // Errors ignored: all data has arrived, and a server that closes without answering our
  // close_notify loses nothing.
  co_await stream.async_shutdown(as_tuple);
  co_return outcome{};
}

awaitable<outcome> run(const client_options &o, tlsio::context ctx) {
  // A named target: GCC 12 mishandles temporaries with destructors in a co_await expression.
  tool::dtls_target target{o.host, o.port, o.server_name, o.verbose};
  if (o.dtls)
    co_return co_await tool::run_dtls_client(ctx, target);
  co_return co_await run_tls(o, std::move(ctx));
}

void print_usage_error(const tool::usage_error &e) {
  std::cerr << "tlsio-client: " << e.what() << "\n" << usage << "(--help lists the options)\n";
}

// Everything after the command line; every failure line starts with the server's name.
int connect_and_copy(const client_options &options) {
  auto where = tool::join_host_port(options.host, options.port);
  try {
    auto ctx = make_context(options);
    if (options.insecure)
      std::cerr << "tlsio-client: WARNING: --insecure: the server's certificate is NOT "
                   "verified; anyone on the path can read and change this connection\n";
    asio::io_context io;
    outcome result;
    asio::co_spawn(io, run(options, ctx), [&](std::exception_ptr e, outcome r) {
      if (e)
        std::rethrow_exception(e);
      result = std::move(r);
    });
    io.run();
    if (result.status != exit_status::ok)
      std::cerr << "tlsio-client: " << where << ": " << result.reason << "\n";
    return tool::to_int(result.status);
  } catch (const tool::usage_error &e) {
    print_usage_error(e);
    return tool::to_int(exit_status::usage);
  } catch (const std::exception &e) {
    std::cerr << "tlsio-client: " << where << ": " << e.what() << "\n";
    return tool::to_int(exit_status::failure);
  }
}

} // namespace

int main(int argc, char **argv) {
  if (tool::has_flag(argc, argv, "--help", "-h")) {
    std::cout << usage << options_help << tool::engine_help(28) << options_help_end
              << tool::client_exit_help << tool::environment_help;
    return 0;
  }
  if (tool::has_flag(argc, argv, "--version")) {
    tool::print_version(std::cout, "tlsio-client");
    return 0;
  }
  client_options options;
  try {
    options = parse(argc, argv);
  } catch (const tool::usage_error &e) {
    print_usage_error(e);
    return tool::to_int(exit_status::usage);
  }
  // A closed standard input reads as empty; otherwise the first socket would become it.
  if (::fcntl(STDIN_FILENO, F_GETFD) == -1)
    ::open("/dev/null", O_RDONLY);
  return connect_and_copy(options);
}
