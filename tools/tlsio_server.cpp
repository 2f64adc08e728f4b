// tlsio-server: a TLS server for the command line.
//
//   tlsio-server --cert FILE --key FILE [options]
//   tlsio-server --generate CA_OUT_FILE [options]
//
// Serves connections concurrently until SIGINT or SIGTERM. --echo (the default) sends back
// what each client sends; --http answers every HTTP/1.x request with a short greeting.
// --ca FILE requires client certificates issued by the CAs in FILE. --generate makes a
// throwaway CA and a certificate for localhost instead of --cert/--key, writes the CA to
// CA_OUT_FILE for clients to trust, and prints a command that connects. --threads N runs N
// threads, each with its own io_context and its own listening socket on the port. --dtls
// serves DTLS 1.2 over UDP instead (dtls_server.hpp), echoing each message, on one thread.
//
// The first line on standard output is "listening on HOST:PORT"; the log goes to standard
// error. Exit statuses: exit_status.hpp (and --help).
#include "command_line.hpp"
#include "dtls_option.hpp"
#include "dtls_server.hpp"
#include "engine_option.hpp"
#include "exit_status.hpp"
#include "host_port.hpp"
#include "http_service.hpp"
#include "key_log.hpp"
#include "report.hpp"

#include <tlsio/acceptor.hpp>
#include <tlsio/compat.hpp>
#include <tlsio/testing/test_identity.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <array>
#include <charconv>
#include <csignal>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <thread>

namespace {

using asio::awaitable;
using asio::use_awaitable;
using tool::exit_status;
constexpr auto as_tuple = tlsio::compat::as_tuple(use_awaitable);
constexpr std::string_view usage = "usage: tlsio-server --cert FILE --key FILE [options]\n"
                                   "       tlsio-server --generate CA_OUT_FILE [options]\n";
constexpr std::string_view options_help =
    "\nServes TLS connections until SIGINT or SIGTERM. The first line on standard output is\n"
    "\"listening on HOST:PORT\"; the log goes to standard error.\n"
    "\noptions:\n"
    "  --cert FILE          the certificate chain, leaf first (required without --generate)\n"
    "  --key FILE           the private key of --cert (required without --generate)\n"
    "  --pass PASSWORD      the password of --key (default: none)\n"
    "  --generate CA_FILE   instead of --cert/--key: a throwaway certificate for localhost,\n"
    "                       127.0.0.1 and ::1; its CA goes to CA_FILE, and a command that\n"
    "                       connects is printed (default: off)\n"
    "  --host H             the address to listen on (default: every address)\n"
    "  --port N             the port; 0 picks a free one (default: 4433)\n"
    "  --threads N          N threads, each with its own listening socket on the port\n"
    "                       (SO_REUSEPORT), so that the kernel spreads clients over them\n"
    "                       (default: 1)\n"
    "  --ca FILE            require client certificates issued by the CAs in FILE\n"
    "                       (default: none asked for)\n"
    "  --echo               send back what each client sends (default mode)\n"
    "  --http               answer each HTTP/1.x request with a short greeting (default: off)\n"
    "  --alpn P,...         the ALPN protocols to accept (default: none)\n"
    "  --no-tickets         issue no session tickets (RFC 5077), so that no client resumes\n"
    "                       (default: tickets on, keys rotating hourly, as servers do)\n"
    "  --dtls               serve DTLS 1.2 over UDP (Mbed TLS engine), echoing each message\n"
    "                       to its sender; not with --http, nor --threads above 1\n"
    "                       (default: off)\n";
constexpr std::string_view options_help_end =
    "  -h, --help           print this help and exit\n"
    "  --version            print tlsio's and the TLS engine's versions and exit\n";

enum class mode { echo, http };

struct server_options {
  std::optional<std::string> cert, key, password, client_ca, generate;
  std::string host; // empty: every address
  std::string port = "4433";
  int threads = 1;
  mode serve = mode::echo;
  std::vector<std::string> alpn;
  bool tickets = true;
  bool dtls = false;
  tool::engine_options engine;
};

int parse_threads(const std::string &text) {
  int n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || n < 1 || n > 1024)
    throw tool::usage_error("--threads takes a number from 1 to 1024, not " + text);
  return n;
}

// One option; false if `arg` is none of the server's.
bool parse_option(server_options &o, const std::string &arg, tool::command_line &args) {
  if (arg == "--cert")
    o.cert = args.value();
  else if (arg == "--key")
    o.key = args.value();
  else if (arg == "--pass")
    o.password = args.value();
  else if (arg == "--host")
    o.host = tool::unbracket(args.value());
  else if (arg == "--port")
    o.port = args.value();
  else if (arg == "--threads")
    o.threads = parse_threads(args.value());
  else if (arg == "--ca")
    o.client_ca = args.value();
  else if (arg == "--echo")
    o.serve = mode::echo;
  else if (arg == "--no-tickets")
    o.tickets = false;
  else if (arg == "--http")
    o.serve = mode::http;
  else if (arg == "--alpn")
    o.alpn = tool::split_list(args.value());
  else if (arg == "--generate")
    o.generate = args.value();
  else if (arg == "--dtls")
    o.dtls = true;
  else
    return tool::parse_engine_option(o.engine, arg, args);
  return true;
}

// What --dtls cannot do: HTTP runs over TCP, and the DTLS acceptor is one UDP socket.
void check_dtls(server_options &o) {
  if (o.serve == mode::http)
    throw tool::usage_error("--http: HTTP needs TCP; --dtls serves only the echo");
  if (o.threads > 1)
    throw tool::usage_error("--threads: --dtls serves from one UDP socket on one thread");
  tool::choose_dtls_engine(o.engine);
}

server_options parse(int argc, char **argv) {
  server_options o;
  tool::command_line args(argc, argv);
  while (auto arg = args.next())
    if (!parse_option(o, *arg, args))
      throw tool::usage_error("unexpected argument " + *arg);
  if (o.generate ? o.cert || o.key : !o.cert || !o.key)
    throw tool::usage_error("give either --cert and --key, or --generate");
  if (o.password && !o.key)
    throw tool::usage_error("--pass is for --key");
  tool::check_port(o.port);
  if (o.dtls)
    check_dtls(o);
  return o;
}

void check(const std::error_code &ec, const std::string &what) {
  if (ec)
    throw std::runtime_error(what + ": " + ec.message());
}

// A throwaway CA and a certificate for this machine's loopback names.
void load_generated_identity(tlsio::context &ctx, const std::string &ca_file) {
  namespace ti = tlsio::test_identity;
  auto ca = ti::authority::create("tlsio-server throwaway CA");
  auto leaf = ca.issue({.common_name = "localhost",
                        .dns_names = {"localhost"},
                        .ip_addresses = {"127.0.0.1", "::1"}});
  ctx.load_certificate_chain_pem(leaf.chain_pem);
  ctx.load_private_key_pem(leaf.private_key_pem);
  std::ofstream out(ca_file);
  out << ca.certificate_pem();
  if (!out.flush())
    throw std::runtime_error("cannot write the CA certificate to " + ca_file);
}

// Throws tool::usage_error for a TLS version the engine does not speak.
tlsio::context make_context(const server_options &o) {
  auto ctx = tool::make_engine_context(tlsio::role::server, o.engine);
  std::error_code ec;
  if (o.generate) {
    load_generated_identity(ctx, *o.generate);
  } else {
    ctx.load_certificate_chain(*o.cert, ec);
    check(ec, "cannot load certificate " + *o.cert);
    ctx.load_private_key(*o.key, o.password, ec);
    check(ec, "cannot load private key " + *o.key);
  }
  if (o.client_ca) {
    ctx.set_ca_bundle(*o.client_ca, ec);
    check(ec, "cannot load CA bundle " + *o.client_ca);
    ctx.set_client_certificate(tlsio::client_certificate::required);
  }
  if (!o.alpn.empty())
    ctx.set_alpn(o.alpn);
  // Load generators and browsers reconnect expecting to resume, as nginx and lighttpd let
  // them; one context serves every thread, so any thread takes any thread's tickets.
  if (o.tickets)
    ctx.enable_session_tickets();
  tool::honour_key_log_variable(ctx, "tlsio-server");
  return ctx;
}

// One write per line, so that lines from several threads never mix.
void log(const std::string &line) { std::cerr << "tlsio-server: " + line + "\n" << std::flush; }

// "TLS 1.2 to TLS 1.3", "TLS 1.3 only": what the context will speak.
std::string versions(const tlsio::context &ctx) {
  auto min = tool::version_name(ctx.min_version()), max = tool::version_name(ctx.max_version());
  return min == max ? std::string(min) + " only" : std::string(min) + " to " + std::string(max);
}

// --- Echo ------------------------------------------------------------------------------------

awaitable<std::error_code> serve_echo(tlsio::stream<> &s) {
  std::array<char, 16384> buffer;
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buffer), as_tuple);
    if (ec == asio::error::eof) // the client's close_notify
      break;
    if (ec)
      co_return ec;
    auto [write_ec, written] =
        co_await asio::async_write(s, asio::buffer(buffer.data(), n), as_tuple);
    if (write_ec)
      co_return write_ec;
  }
  auto [ec] = co_await s.async_shutdown(as_tuple);
  co_return ec;
}

// --- Serving ---------------------------------------------------------------------------------

struct server {
  tlsio::acceptor acceptor;
  mode serve;
  int thread_number;                         // 0: the only thread
  std::set<tlsio::stream<> *> connections{}; // to close when the server stops

  /// "thread 2: 127.0.0.1:5555", or only the peer when there is one thread.
  std::string name(const std::string &peer) const {
    return thread_number == 0 ? peer : "thread " + std::to_string(thread_number) + ": " + peer;
  }

  void stop() {
    acceptor.close();
    for (auto *s : connections) {
      std::error_code ignored;
      s->lowest_layer().close(ignored);
    }
  }
};

std::string describe_connection(const tlsio::stream<> &s) {
  auto line = s.protocol_version() + " " + s.cipher_suite() +
              (s.resumed() ? ", resumed" : ", full handshake");
  if (auto alpn = s.alpn_protocol(); !alpn.empty())
    line += ", ALPN " + alpn;
  if (auto client = s.peer_certificate())
    line += ", client '" + client->subject + "'";
  return line;
}

awaitable<void> serve_connection(server &srv, tlsio::stream<> s) {
  std::error_code ec;
  auto peer = tool::to_string(s.lowest_layer().remote_endpoint(ec));
  srv.connections.insert(&s);
  struct unregister {
    server &srv;
    tlsio::stream<> *s;
    ~unregister() { srv.connections.erase(s); }
  } guard{srv, &s};

  log(srv.name(peer) + ": " + describe_connection(s));
  // Not `c ? co_await a : co_await b`: GCC 12 runs both when they return a class type.
  if (srv.serve == mode::http)
    ec = co_await tool::serve_http(s);
  else
    ec = co_await serve_echo(s);
  if (ec && ec != asio::error::operation_aborted)
    log(srv.name(peer) + ": " + tool::describe(ec, s));
}

awaitable<void> accept_loop(server &srv) {
  for (;;) {
    auto [ec, s] = co_await srv.acceptor.async_accept(as_tuple);
    if (ec) // closed
      co_return;
    asio::co_spawn(srv.acceptor.get_executor(), serve_connection(srv, std::move(s)),
                   asio::detached);
  }
}

void log_failure(const tlsio::handshake_failure &f) {
  log((f.peer.port() != 0 ? "handshake with " + tool::to_string(f.peer) : "accepting") +
      " failed: " + f.detail);
}

// For the printed command: the path as the shell must see it.
std::string shell_quote(const std::string &word) {
  if (!word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789_./:=@%+-") == std::string::npos)
    return word;
  std::string quoted = "'";
  for (char c : word)
    quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// --generate: a command that works as printed. curl only in --http mode: an echo server
// sends curl's own request back, which curl rejects ("Received HTTP/0.9").
std::string try_command(const server_options &o, unsigned short port) {
  // The generated certificate names localhost, 127.0.0.1 and ::1; any other address it
  // listens on is reached as localhost.
  auto host = o.host == "127.0.0.1" || o.host == "::1" ? o.host : "localhost";
  auto where = tool::join_host_port(host, std::to_string(port));
  auto ca = shell_quote(*o.generate);
  if (o.serve == mode::http)
    return "curl --cacert " + ca + " https://" + where + "/";
  return "echo hello | tlsio-client " + std::string(o.dtls ? "--dtls " : "") + "--cacert " + ca +
         " " + where;
}

// One per --threads: an io_context run by one thread, with its own acceptor. Connections
// never leave their thread, so they need no strand.
struct worker {
  asio::io_context io{1};
  std::optional<server> srv;

  void run() {
    io.run();
    // Lets the cancelled operations finish. Handshakes in progress inside the acceptor are
    // not cancelled by close(), so they get a moment, not their whole handshake timeout.
    io.restart();
    io.run_for(std::chrono::seconds(1));
  }
};

tlsio::acceptor listen(worker &w, const tlsio::context &ctx, const server_options &o,
                       const std::string &port) {
  try {
    return tlsio::acceptor(
        w.io.get_executor(), ctx, o.host, port,
        {.reuse_port = o.threads > 1, .strand_per_connection = false, .on_failure = log_failure});
  } catch (const std::system_error &e) {
    auto where = tool::join_host_port(o.host.empty() ? "*" : o.host, port);
    throw tool::listen_error("cannot listen on " + where + ": " + e.code().message());
  }
}

// SO_REUSEPORT would let this server join another one's group on a port it holds, and the
// kernel would split clients between them: first make sure the port is free.
void check_port_free(const tlsio::context &ctx, const server_options &o) {
  asio::io_context io;
  try {
    tlsio::acceptor probe(io.get_executor(), ctx, o.host, o.port);
  } catch (const std::system_error &e) {
    auto where = tool::join_host_port(o.host.empty() ? "*" : o.host, o.port);
    throw tool::listen_error("cannot listen on " + where + ": " + e.code().message());
  }
}

// Port 0: the first acceptor picks the port, and the others bind to the same one.
std::vector<std::unique_ptr<worker>> start_workers(const tlsio::context &ctx,
                                                   const server_options &o) {
  std::vector<std::unique_ptr<worker>> workers;
  auto port = o.port;
  if (o.threads > 1 && port != "0")
    check_port_free(ctx, o);
  for (int i = 0; i < o.threads; ++i) {
    auto &w = *workers.emplace_back(std::make_unique<worker>());
    w.srv.emplace(server{listen(w, ctx, o, port), o.serve, o.threads > 1 ? i + 1 : 0});
    port = std::to_string(w.srv->acceptor.local_endpoint().port());
  }
  for (auto &w : workers)
    asio::co_spawn(w->io, accept_loop(*w->srv), asio::detached);
  return workers;
}

// The first line on standard output, then the log's first lines.
void announce(const server_options &o, const tlsio::context &ctx, const std::string &endpoint,
              unsigned short port) {
  std::cout << "listening on " << endpoint << std::endl;
  log("engine " + tool::engine_description(o.engine.engine) + ", " + versions(ctx) +
      (o.dtls ? ", DTLS over UDP" : ""));
  if (o.generate) {
    log("trust " + *o.generate + " to connect, e.g.: " + try_command(o, port));
    if (o.serve == mode::echo && !o.dtls)
      log("for curl, add --http to this server's command: it echoes by default");
  }
}

// --dtls: one io_context on this thread, until SIGINT or SIGTERM.
int run_dtls(const server_options &o, const tlsio::context &ctx) {
  asio::io_context io{1};
  tool::dtls_echo_server srv(io.get_executor(), ctx, o.host, o.port, log);
  auto endpoint = srv.local_endpoint();
  announce(o, ctx, tool::to_string(endpoint), endpoint.port());
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code, int) {
    srv.stop();
    io.stop();
  });
  srv.start();
  io.run();
  // Lets the cancelled operations finish.
  io.restart();
  io.run_for(std::chrono::seconds(1));
  return 0;
}

int run(const server_options &o) {
  auto ctx = make_context(o);
  if (o.dtls)
    return run_dtls(o, ctx);
  auto workers = start_workers(ctx, o);
  auto endpoint = workers.front()->srv->acceptor.local_endpoint();
  announce(o, ctx, tool::to_string(endpoint), endpoint.port());

  asio::signal_set signals(workers.front()->io, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code, int) {
    for (auto &w : workers)
      asio::post(w->io, [&w = *w] {
        w.srv->stop();
        w.io.stop();
      });
  });
  std::vector<std::jthread> threads;
  for (std::size_t i = 1; i < workers.size(); ++i)
    threads.emplace_back([&w = *workers[i]] { w.run(); });
  workers.front()->run();
  return 0;
}

void print_usage_error(const tool::usage_error &e) {
  std::cerr << "tlsio-server: " << e.what() << "\n" << usage << "(--help lists the options)\n";
}

} // namespace

int main(int argc, char **argv) {
  if (tool::has_flag(argc, argv, "--help", "-h")) {
    std::cout << usage << options_help << tool::engine_help(23) << options_help_end
              << tool::server_exit_help << tool::environment_help;
    return 0;
  }
  if (tool::has_flag(argc, argv, "--version")) {
    tool::print_version(std::cout, "tlsio-server");
    return 0;
  }
  server_options options;
  try {
    options = parse(argc, argv);
  } catch (const tool::usage_error &e) {
    print_usage_error(e);
    return tool::to_int(exit_status::usage);
  }
  try {
    return run(options);
  } catch (const tool::usage_error &e) { // a TLS version the engine does not speak
    print_usage_error(e);
    return tool::to_int(exit_status::usage);
  } catch (const tool::listen_error &e) {
    std::cerr << "tlsio-server: " << e.what() << "\n";
    return tool::to_int(exit_status::unreachable);
  } catch (const std::exception &e) {
    std::cerr << "tlsio-server: " << e.what() << "\n";
    return tool::to_int(exit_status::failure);
  }
}
