#include "interop.hpp"

#include "../engine_pair.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <unistd.h>

#ifndef TLSIO_INTEROP_SOURCE_DIR
#error "the build defines TLSIO_INTEROP_SOURCE_DIR"
#endif

namespace interop {

namespace ti = tlsio::test_identity;
using tlsio::compat::as_tuple;

std::string payload(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = i % 1040 == 1039 ? '\n' : static_cast<char>('a' + (i * 7) % 26);
  if (n > 0)
    s.back() = '\n';
  return s;
}

std::string difference(const std::string &got, const std::string &want) {
  if (got == want)
    return {};
  auto at = std::mismatch(got.begin(), got.end(), want.begin(), want.end());
  return "got " + std::to_string(got.size()) + " bytes, want " + std::to_string(want.size()) +
         "; they differ from offset " + std::to_string(at.first - got.begin());
}

std::filesystem::path source_dir() { return TLSIO_INTEROP_SOURCE_DIR; }

std::vector<std::string> python_peer(std::vector<std::string> args) {
  // Debian's own first: a version manager's shim on PATH costs a third of a second a start.
  std::filesystem::path debian = "/usr/bin/python3";
  auto python = ::access(debian.c_str(), X_OK) == 0 ? debian : require_program("python3");
  args.insert(args.begin(), {python.string(), (source_dir() / "tls_peer.py").string()});
  return args;
}

unsigned short python_port(process &peer) {
  std::string word;
  unsigned short port = 0;
  if (peer.wait_for_text("\n", 10s)) {
    std::istringstream line(peer.out());
    line >> word >> port;
  }
  if (word != "PORT")
    throw std::runtime_error("tls_peer.py printed no port: " + peer.describe());
  return port;
}

std::string read_text(const std::filesystem::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// --- temp_dir ---------------------------------------------------------------------------------

temp_dir::temp_dir() {
  auto pattern = (std::filesystem::temp_directory_path() / "tlsio-interop-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::system_error(errno, std::generic_category(), "mkdtemp");
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::filesystem::path temp_dir::write(const std::string &name, std::string_view contents) const {
  auto p = path_ / name;
  std::ofstream out(p, std::ios::binary);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  if (!out)
    throw std::runtime_error("cannot write " + p.string());
  return p;
}

// --- pki --------------------------------------------------------------------------------------

pki::pki(ti::key_type key)
    : key(key), name(key == ti::key_type::ecdsa_p256 ? "ECDSA P-256" : "RSA-2048"),
      root(ti::authority::create({.common_name = "tlsio interop root", .key = key})),
      intermediate(
          root.issue_intermediate({.common_name = "tlsio interop intermediate", .key = key})),
      server(intermediate.issue({.common_name = "localhost",
                                 .dns_names = {"localhost"},
                                 .ip_addresses = {"127.0.0.1", "::1"},
                                 .key = key,
                                 .extended_usage = ti::usage::server_only})),
      client(intermediate.issue({.common_name = "tlsio interop client",
                                 .key = key,
                                 .extended_usage = ti::usage::client_only})) {
  root_pem = dir.write("root.pem", root.certificate_pem());
  intermediate_pem = dir.write("intermediate.pem", intermediate.certificate_pem());
  server_leaf = dir.write("server_leaf.pem", server.certificate_pem);
  client_leaf = dir.write("client_leaf.pem", client.certificate_pem);
  server_chain = dir.write("server_chain.pem", server.chain_pem);
  server_key = dir.write("server_key.pem", server.private_key_pem);
  client_chain = dir.write("client_chain.pem", client.chain_pem);
  client_key = dir.write("client_key.pem", client.private_key_pem);
}

tlsio::context pki::client_context() const {
  auto ctx = tlsio_test::tested_context(tlsio::role::client);
  ctx.no_ca();
  ctx.add_certificate_authority(root.certificate_pem());
  return ctx;
}

tlsio::context pki::client_context_with_certificate() const {
  auto ctx = client_context();
  ctx.load_certificate_chain_pem(client.chain_pem);
  ctx.load_private_key_pem(client.private_key_pem);
  return ctx;
}

tlsio::context pki::server_context() const {
  auto ctx = tlsio_test::tested_context(tlsio::role::server);
  ctx.load_certificate_chain_pem(server.chain_pem);
  ctx.load_private_key_pem(server.private_key_pem);
  return ctx;
}

const pki &pki::ecdsa() {
  static const pki p(ti::key_type::ecdsa_p256);
  return p;
}

const pki &pki::rsa() {
  static const pki p(ti::key_type::rsa_2048);
  return p;
}

const pki &pki::get(ti::key_type key) { return key == ti::key_type::rsa_2048 ? rsa() : ecdsa(); }

// --- tlsio as the client ----------------------------------------------------------------------

asio::awaitable<connect_result> try_connect(tlsio::context ctx, std::string host,
                                            unsigned short port, tlsio::connect_options o) {
  auto executor = co_await asio::this_coro::executor;
  auto start = std::chrono::steady_clock::now();
  auto [ec, s] = co_await tlsio::async_connect(executor, ctx, host, std::to_string(port),
                                               std::move(o), as_tuple(asio::use_awaitable));
  connect_result r;
  r.ec = ec;
  r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  if (ec)
    r.detail = s.failure_detail().empty() ? ec.message() : s.failure_detail();
  else
    r.stream.emplace(std::move(s));
  co_return r;
}

namespace {

asio::awaitable<void> write_all(tlsio::stream<> &s, const std::string &data) {
  co_await asio::async_write(s, asio::buffer(data), asio::use_awaitable);
}

asio::awaitable<void> read_exact(tlsio::stream<> &s, std::string &out) {
  co_await asio::async_read(s, asio::buffer(out), asio::use_awaitable);
}

} // namespace

asio::awaitable<std::string> exchange(tlsio::stream<> &s, std::string data) {
  using namespace tlsio::compat::awaitable_operators;
  std::string got(data.size(), '\0');
  co_await (write_all(s, data) && read_exact(s, got));
  co_return got;
}

asio::awaitable<std::error_code> read_to_end(tlsio::stream<> &s, std::string &got) {
  std::vector<char> buffer(65536);
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buffer), as_tuple(asio::use_awaitable));
    got.append(buffer.data(), n);
    if (ec)
      co_return ec;
  }
}

// --- session handlers -------------------------------------------------------------------------

namespace {

session_record describe(const tlsio::stream<> &s) {
  session_record r;
  r.protocol = s.protocol_version();
  r.cipher = s.cipher_suite();
  r.peer_certificate = s.peer_certificate();
  return r;
}

asio::awaitable<session_record> echo(tlsio::stream<> &s, std::optional<std::size_t> limit) {
  auto r = describe(s);
  std::vector<char> buffer(65536);
  while (!limit || r.bytes < *limit) {
    auto want = limit ? std::min(buffer.size(), *limit - r.bytes) : buffer.size();
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buffer.data(), want),
                                              as_tuple(asio::use_awaitable));
    r.bytes += n;
    if (ec) {
      r.read_end = ec;
      break;
    }
    auto [write_ec, written] = co_await asio::async_write(s, asio::buffer(buffer.data(), n),
                                                          as_tuple(asio::use_awaitable));
    if (write_ec) {
      r.write_error = write_ec;
      break;
    }
  }
  auto [shutdown_ec] = co_await s.async_shutdown(as_tuple(asio::use_awaitable));
  r.shutdown = shutdown_ec;
  co_return r;
}

std::size_t content_length(std::string headers) {
  std::transform(headers.begin(), headers.end(), headers.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto at = headers.find("\r\ncontent-length:");
  return at == std::string::npos ? 0 : std::stoul(headers.substr(at + 17));
}

asio::awaitable<session_record> http(tlsio::stream<> &s) {
  auto r = describe(s);
  std::string request;
  auto [ec, n] = co_await asio::async_read_until(s, asio::dynamic_buffer(request), "\r\n\r\n",
                                                 as_tuple(asio::use_awaitable));
  if (ec) {
    r.read_end = ec;
    co_return r;
  }
  std::string body = request.substr(n);
  auto length = content_length(request.substr(0, n));
  if (body.size() < length) {
    auto have = body.size();
    body.resize(length);
    auto [body_ec, m] = co_await asio::async_read(
        s, asio::buffer(body.data() + have, length - have), as_tuple(asio::use_awaitable));
    if (body_ec) {
      r.read_end = body_ec;
      co_return r;
    }
  }
  r.bytes = body.size();
  std::string response = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         "Connection: close\r\n\r\n" +
                         body;
  auto [write_ec, written] =
      co_await asio::async_write(s, asio::buffer(response), as_tuple(asio::use_awaitable));
  r.write_error = write_ec;
  auto [shutdown_ec] = co_await s.async_shutdown(as_tuple(asio::use_awaitable));
  r.shutdown = shutdown_ec;
  co_return r;
}

} // namespace

session_handler echo_until_close() {
  return [](tlsio::stream<> &s) { return echo(s, std::nullopt); };
}

session_handler echo_then_close(std::size_t n) {
  return [n](tlsio::stream<> &s) { return echo(s, n); };
}

session_handler http_echo() {
  return [](tlsio::stream<> &s) { return http(s); };
}

// --- tls_server -------------------------------------------------------------------------------

struct tls_server::shared {
  session_handler handler;
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<session_record> sessions;
  std::deque<tlsio::handshake_failure> failures;
  std::size_t session_count = 0, failure_count = 0;

  template <class T> void push(std::deque<T> &queue, std::size_t &count, T item) {
    {
      std::lock_guard lock(mutex);
      queue.push_back(std::move(item));
      ++count;
    }
    changed.notify_all();
  }
  template <class T> std::optional<T> pop(std::deque<T> &queue, std::chrono::milliseconds bound) {
    std::unique_lock lock(mutex);
    if (!changed.wait_for(lock, bound, [&] { return !queue.empty(); }))
      return std::nullopt;
    T item = std::move(queue.front());
    queue.pop_front();
    return item;
  }
};

namespace {

asio::awaitable<void> run_session(std::shared_ptr<tls_server::shared> shared, tlsio::stream<> s) {
  session_record record;
  {
    auto owned = std::move(s);
    record = co_await shared->handler(owned);
  } // closed before the record is out, so that whoever sees it sees the socket gone
  shared->push(shared->sessions, shared->session_count, std::move(record));
}

asio::awaitable<void> accept_all(tlsio::acceptor &acceptor,
                                 std::shared_ptr<tls_server::shared> shared) {
  for (;;) {
    auto [ec, s] = co_await acceptor.async_accept(as_tuple(asio::use_awaitable));
    if (ec)
      co_return;
    asio::co_spawn(acceptor.get_executor(), run_session(shared, std::move(s)), asio::detached);
  }
}

} // namespace

tls_server::tls_server(tlsio::context ctx, session_handler handler, tlsio::acceptor_options options)
    : shared_(std::make_shared<shared>()) {
  shared_->handler = std::move(handler);
  options.on_failure = [s = shared_,
                        user = std::move(options.on_failure)](const tlsio::handshake_failure &f) {
    if (user)
      user(f);
    s->push(s->failures, s->failure_count, f);
  };
  acceptor_.emplace(io_.get_executor(), ctx, "127.0.0.1", 0, std::move(options));
  port_ = acceptor_->local_endpoint().port();
  asio::co_spawn(io_, accept_all(*acceptor_, shared_), asio::detached);
  thread_ = std::thread([this] { io_.run(); });
}

tls_server::~tls_server() {
  asio::post(io_, [this] { acceptor_->close(); });
  // Sessions end as their peers go; one stuck on a silent peer is cut off after a while.
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (!io_.stopped() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  io_.stop();
  thread_.join();
  acceptor_.reset();
}

std::optional<session_record> tls_server::next_session(std::chrono::milliseconds bound) {
  return shared_->pop(shared_->sessions, bound);
}

std::optional<tlsio::handshake_failure> tls_server::next_failure(std::chrono::milliseconds bound) {
  return shared_->pop(shared_->failures, bound);
}

std::size_t tls_server::sessions() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->session_count;
}

std::size_t tls_server::failures() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->failure_count;
}

std::size_t tls_server::acceptor_failures() {
  auto count = std::make_shared<std::promise<std::size_t>>();
  auto f = count->get_future();
  asio::post(io_, [this, count] { count->set_value(acceptor_->failures()); });
  if (f.wait_for(10s) != std::future_status::ready)
    throw std::runtime_error("the server's thread did not answer");
  return f.get();
}

} // namespace interop
