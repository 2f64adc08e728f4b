// tlsio-server: a TLS server for the command line.
//
//   tlsio-server --cert FILE --key FILE [--pass PASSWORD] [--host H] [--port N] [--ca FILE]
//                [--echo|--http] [--alpn P,...]
//   tlsio-server --generate CA_OUT_FILE [...]
//
// Serves connections concurrently until SIGINT or SIGTERM. --echo (the default) sends back
// what each client sends; --http answers every HTTP/1.x request with a short greeting.
// --ca FILE requires client certificates issued by the CAs in FILE. --generate makes a
// throwaway CA and a certificate for localhost instead of --cert/--key, and writes the CA to
// CA_OUT_FILE for clients to trust (curl --cacert CA_OUT_FILE https://localhost:PORT/).
//
// The first line on standard output is "listening on HOST:PORT"; the log goes to standard
// error.
#include "command_line.hpp"
#include "host_port.hpp"
#include "key_log.hpp"
#include "report.hpp"

#include <tlsio/acceptor.hpp>
#include <tlsio/detail/asio_compat.hpp>
#include <tlsio/test_identity.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/read_until.hpp>
#include <asio/signal_set.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <csignal>
#include <ctime>
#include <fstream>
#include <iostream>
#include <set>

namespace {

using asio::awaitable;
using asio::use_awaitable;
constexpr auto as_tuple = tlsio::compat::as_tuple(use_awaitable);
constexpr const char *usage =
    "usage: tlsio-server --cert FILE --key FILE [--pass PASSWORD] [--host H] [--port N]\n"
    "                    [--ca FILE] [--echo|--http] [--alpn P,...]\n"
    "       tlsio-server --generate CA_OUT_FILE [--host H] [--port N] [...]\n";

enum class mode { echo, http };

struct server_options {
  std::optional<std::string> cert, key, password, client_ca, generate;
  std::string host; // empty: every address
  std::string port = "4433";
  mode serve = mode::echo;
  std::vector<std::string> alpn;
};

server_options parse(int argc, char **argv) {
  server_options o;
  tool::command_line args(argc, argv);
  while (auto arg = args.next()) {
    if (*arg == "--cert")
      o.cert = args.value();
    else if (*arg == "--key")
      o.key = args.value();
    else if (*arg == "--pass")
      o.password = args.value();
    else if (*arg == "--host")
      o.host = args.value();
    else if (*arg == "--port")
      o.port = args.value();
    else if (*arg == "--ca")
      o.client_ca = args.value();
    else if (*arg == "--echo")
      o.serve = mode::echo;
    else if (*arg == "--http")
      o.serve = mode::http;
    else if (*arg == "--alpn")
      o.alpn = tool::split_list(args.value());
    else if (*arg == "--generate")
      o.generate = args.value();
    else
      throw tool::usage_error("unexpected argument " + *arg);
  }
  if (o.generate ? o.cert || o.key : !o.cert || !o.key)
    throw tool::usage_error("give either --cert and --key, or --generate");
  if (o.password && !o.key)
    throw tool::usage_error("--pass is for --key");
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

tlsio::context make_context(const server_options &o) {
  tlsio::context ctx{tlsio::role::server};
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
  tool::honour_key_log_variable(ctx, "tlsio-server");
  return ctx;
}

void log(const std::string &line) { std::cerr << "tlsio-server: " << line << std::endl; }

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

// --- HTTP ------------------------------------------------------------------------------------

constexpr std::size_t max_request_head = 64 * 1024;

struct http_request {
  bool valid = false;
  bool head_only = false; // HEAD: no body in the response
  bool keep_alive = false;
  bool framed = true; // false: a body we cannot find the end of (chunked)
  std::size_t body_size = 0;
};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool has_token(std::string_view list, std::string_view token) {
  for (const auto &item : tool::split_list(lower(list))) {
    auto first = item.find_first_not_of(' ');
    auto last = item.find_last_not_of(' ');
    if (first != std::string::npos && item.substr(first, last - first + 1) == token)
      return true;
  }
  return false;
}

// The request line and headers, up to and including the blank line.
http_request parse_request(std::string_view head) {
  http_request r;
  auto line_end = head.find("\r\n");
  auto request_line = head.substr(0, line_end);
  auto method = request_line.substr(0, request_line.find(' '));
  auto version = request_line.substr(request_line.rfind(' ') + 1);
  if (method.empty() || (version != "HTTP/1.1" && version != "HTTP/1.0"))
    return r;
  r.valid = true;
  r.head_only = method == "HEAD";
  bool close = false, keep_alive = false;
  for (auto pos = line_end + 2; pos < head.size();) {
    auto end = head.find("\r\n", pos);
    auto line = head.substr(pos, end - pos);
    pos = end + 2;
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      continue;
    auto name = lower(line.substr(0, colon));
    auto value = line.substr(colon + 1);
    value.remove_prefix(std::min(value.find_first_not_of(" \t"), value.size()));
    if (name == "connection") {
      close = close || has_token(value, "close");
      keep_alive = keep_alive || has_token(value, "keep-alive");
    } else if (name == "content-length") {
      auto [end_ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), r.body_size);
      r.framed = r.framed && ec == std::errc{};
    } else if (name == "transfer-encoding") {
      r.framed = false;
    }
  }
  // HTTP/1.1 keeps the connection by default, HTTP/1.0 only when asked to.
  r.keep_alive = r.framed && !close && (version == "HTTP/1.1" || keep_alive);
  return r;
}

std::string http_date() {
  std::array<char, 64> text{};
  auto now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  return {text.data(), std::strftime(text.data(), text.size(), "%a, %d %b %Y %H:%M:%S GMT", &utc)};
}

std::string http_response(const http_request &r, const tlsio::stream<> &s) {
  std::string status = r.valid ? "200 OK" : "400 Bad Request";
  std::string body =
      r.valid ? "hello from tlsio over " + s.protocol_version() + " (" + s.cipher_suite() + ")\n"
              : "tlsio-server: this is not an HTTP/1.x request\n";
  return "HTTP/1.1 " + status + "\r\nDate: " + http_date() +
         "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
         (r.keep_alive ? "" : "\r\nConnection: close") + "\r\n\r\n" + (r.head_only ? "" : body);
}

// Reads past a request's body (ignored), so that the next request starts where it should.
awaitable<std::error_code> skip_body(tlsio::stream<> &s, std::string &buffer, std::size_t size) {
  auto buffered = std::min(size, buffer.size());
  buffer.erase(0, buffered);
  size -= buffered;
  std::array<char, 16384> scratch;
  while (size > 0) {
    auto [ec, n] = co_await s.async_read_some(
        asio::buffer(scratch.data(), std::min(size, scratch.size())), as_tuple);
    if (ec)
      co_return ec;
    size -= n;
  }
  co_return std::error_code{};
}

awaitable<std::error_code> serve_http(tlsio::stream<> &s) {
  std::string buffer;
  for (;;) {
    auto [ec, n] = co_await asio::async_read_until(
        s, asio::dynamic_buffer(buffer, max_request_head), "\r\n\r\n", as_tuple);
    if (ec == asio::error::eof && buffer.empty()) // closed between requests
      break;
    if (ec)
      co_return ec;
    auto request = parse_request(std::string_view(buffer).substr(0, n));
    buffer.erase(0, n);
    if (request.keep_alive) {
      if (auto skip_ec = co_await skip_body(s, buffer, request.body_size))
        co_return skip_ec;
    }
    auto response = http_response(request, s);
    auto [write_ec, written] = co_await asio::async_write(s, asio::buffer(response), as_tuple);
    if (write_ec)
      co_return write_ec;
    if (!request.keep_alive)
      break;
  }
  auto [ec] = co_await s.async_shutdown(as_tuple);
  co_return ec;
}

// --- Serving ---------------------------------------------------------------------------------

struct server {
  tlsio::acceptor acceptor;
  mode serve;
  std::set<tlsio::stream<> *> connections{}; // to close when the server stops

  void stop() {
    acceptor.close();
    for (auto *s : connections) {
      std::error_code ignored;
      s->lowest_layer().close(ignored);
    }
  }
};

std::string describe_connection(const tlsio::stream<> &s) {
  auto line = s.protocol_version() + " " + s.cipher_suite();
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

  log(peer + ": " + describe_connection(s));
  // Not `c ? co_await a : co_await b`: GCC 12 runs both when they return a class type.
  if (srv.serve == mode::http)
    ec = co_await serve_http(s);
  else
    ec = co_await serve_echo(s);
  if (ec && ec != asio::error::operation_aborted)
    log(peer + ": " + tool::describe(ec, s));
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

tlsio::acceptor listen(asio::io_context &io, const tlsio::context &ctx, const server_options &o) {
  try {
    return tlsio::acceptor(io.get_executor(), ctx, o.host, o.port, {.on_failure = log_failure});
  } catch (const std::system_error &e) {
    auto host = o.host.empty() ? "*" : o.host;
    throw std::runtime_error("cannot listen on " + host + " port " + o.port + ": " +
                             e.code().message());
  }
}

int run(const server_options &o) {
  auto ctx = make_context(o);
  asio::io_context io;
  server srv{listen(io, ctx, o), o.serve};
  auto endpoint = srv.acceptor.local_endpoint();
  std::cout << "listening on " << tool::to_string(endpoint) << std::endl;
  if (o.generate)
    log("trust " + *o.generate + " to connect, e.g. curl --cacert " + *o.generate +
        " https://localhost:" + std::to_string(endpoint.port()) + "/");

  asio::co_spawn(io, accept_loop(srv), asio::detached);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code, int) {
    srv.stop();
    io.stop();
  });
  io.run();
  // Lets the cancelled operations finish. Handshakes in progress inside the acceptor are not
  // cancelled by close(), so they get a moment, not their whole handshake timeout.
  io.restart();
  io.run_for(std::chrono::seconds(1));
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (tool::has_flag(argc, argv, "--help", "-h")) {
    std::cout << usage << tool::environment_help;
    return 0;
  }
  server_options options;
  try {
    options = parse(argc, argv);
  } catch (const tool::usage_error &e) {
    std::cerr << "tlsio-server: " << e.what() << "\n" << usage;
    return 2;
  }
  try {
    return run(options);
  } catch (const std::exception &e) {
    std::cerr << "tlsio-server: " << e.what() << "\n";
    return 1;
  }
}
