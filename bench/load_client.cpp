// tlsio-load: the load client of scripts/bench-servers.sh (issue 17), which compares
// tlsio-server with lighttpd (mod_mbedtls) and nginx (OpenSSL) as their users measure them.
//
// Why asio::ssl over OpenSSL rather than tlsio: the client must not be what it measures.
// OpenSSL's client side is independent of all three servers' code paths, and its x25519 and
// P-256 verification are about five times cheaper than Mbed TLS 2.28's, so one client core
// can saturate one server core running Mbed TLS (h2load, the tool users point at servers,
// is an OpenSSL client too). Asio gives the many concurrent connections in one thread.
//
// The client offers only TLS 1.2 and ECDHE-ECDSA-AES128-GCM-SHA256, and the groups x25519 and
// P-256: Mbed TLS refuses an ECDSA certificate whose curve (P-256) the client did not list;
// lighttpd and nginx accept only x25519 and tlsio-server prefers it, so x25519 is what every
// server uses (each line says what was negotiated, and the script checks it). It does
// not verify the certificate: verification costs only the client; instead every answer must
// be a 200 with its whole body, or it counts as failed.
//
// Usage: tlsio-load --mode MODE --port N [--host 127.0.0.1] [--pid SERVER_PID]
//                   [--duration S] [--warmup S] [--concurrency N] [--connections N]
// Modes (each prints one line of key=value pairs on standard output):
//   full       connect, full handshake, GET with Connection: close, read to the end; repeat
//   resumed    the same, each loop offering the session ticket of its previous connection
//   keepalive  N connections each sending GET after GET on one connection
//   latency    `full` load, plus one light client on a keep-alive connection sending one GET
//              every 10 ms; prints p50/p99 of its request-to-response times
//   idle       open --connections TLS connections (handshake done, no request), then report
//              the server's VmRSS growth per connection
// With --pid the line carries the server's CPU seconds (utime+stime from /proc/PID/stat)
// during the measured window, which starts after --warmup seconds.
#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/streambuf.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <tlsio/compat.hpp>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

using asio::awaitable;
using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using ssl_stream = asio::ssl::stream<tcp::socket>;
constexpr auto use_tuple = tlsio::compat::as_tuple(asio::use_awaitable);

clock_type::duration to_duration(double seconds) {
  return std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
}

struct options {
  std::string mode;
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  long pid = 0;
  double duration = 3;
  double warmup = 0.5;
  int concurrency = 16;
  int connections = 2000;
};

[[noreturn]] void usage(const std::string &why) {
  std::cerr << "tlsio-load: " << why << "\n(see the comment at the top of bench/load_client.cpp)\n";
  std::exit(2);
}

options parse(int argc, char **argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc)
      usage(arg + " needs a value");
    std::string value = argv[++i];
    try {
      if (arg == "--mode")
        o.mode = value;
      else if (arg == "--host")
        o.host = value;
      else if (arg == "--port")
        o.port = static_cast<unsigned short>(std::stoul(value));
      else if (arg == "--pid")
        o.pid = std::stol(value);
      else if (arg == "--duration")
        o.duration = std::stod(value);
      else if (arg == "--warmup")
        o.warmup = std::stod(value);
      else if (arg == "--concurrency")
        o.concurrency = std::stoi(value);
      else if (arg == "--connections")
        o.connections = std::stoi(value);
      else
        usage("unknown option " + arg);
    } catch (const std::logic_error &) {
      usage("bad value for " + arg + ": " + value);
    }
  }
  if (o.port == 0 || o.mode.empty())
    usage("--mode and --port are required");
  return o;
}

// --- The server's process, from /proc ---------------------------------------------------------

double server_cpu_seconds(long pid) {
  if (pid == 0)
    return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name may hold spaces; the fields are counted after its closing parenthesis.
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int number = 3; fields >> field; ++number) {
    if (number == 14)
      utime = std::stoull(field);
    if (number == 15) {
      stime = std::stoull(field);
      break;
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long server_rss_kib(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stol(line.substr(6));
  return 0;
}

double own_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](timeval t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// --- TLS --------------------------------------------------------------------------------------

asio::ssl::context make_context() {
  asio::ssl::context ctx{asio::ssl::context::tls_client};
  SSL_CTX *native = ctx.native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(native, "ECDHE-ECDSA-AES128-GCM-SHA256") != 1 ||
      SSL_CTX_set1_groups_list(native, "X25519:P-256") != 1)
    throw std::runtime_error("cannot configure OpenSSL's client context");
  // Sessions are kept by hand (SSL_get1_session), one per loop, as a browser tab would.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  ctx.set_verify_mode(asio::ssl::verify_none);
  return ctx;
}

const std::string request_close = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
const std::string request_keep = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

// Reads one response; true if it is a 200 whose body (by Content-Length) was read whole.
awaitable<bool> read_response(ssl_stream &s, asio::streambuf &buffer) {
  auto [ec, head_size] = co_await asio::async_read_until(s, buffer, "\r\n\r\n", use_tuple);
  if (ec)
    co_return false;
  std::string head(asio::buffers_begin(buffer.data()),
                   asio::buffers_begin(buffer.data()) + static_cast<std::ptrdiff_t>(head_size));
  buffer.consume(head_size);
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto at = lower.find("\r\ncontent-length:");
  if (head.rfind("HTTP/1.1 200", 0) != 0 || at == std::string::npos)
    co_return false;
  std::size_t body = std::stoul(head.substr(at + 17));
  if (buffer.size() < body) {
    auto [read_ec, n] = co_await asio::async_read(
        s, buffer, asio::transfer_exactly(body - buffer.size()), use_tuple);
    if (read_ec)
      co_return false;
  }
  buffer.consume(body);
  co_return true;
}

// --- The run ----------------------------------------------------------------------------------

struct run_state {
  options opt;
  asio::io_context &io;
  asio::ssl::context &ctx;
  tcp::endpoint endpoint;
  bool running = true;
  bool measuring = false;
  long done = 0;    // completed units (connections or requests) in the window
  long resumed = 0; // of which resumed handshakes
  long failed = 0;  // failures in the window
  std::vector<double> latencies_ms{};
  std::string negotiated{}; // of the first handshake: protocol, suite, key exchange group
};

std::string describe(SSL *ssl) {
  EVP_PKEY *key = nullptr;
  std::string group = "none";
  if (SSL_get_peer_tmp_key(ssl, &key) == 1) {
    group = EVP_PKEY_get_id(key) == EVP_PKEY_X25519 ? "x25519" : EVP_PKEY_get0_type_name(key);
    EVP_PKEY_free(key);
  }
  return std::string("protocol=") + SSL_get_version(ssl) + " suite=" + SSL_get_cipher_name(ssl) +
         " group=" + group;
}

// One connection of the `full`/`resumed`/`latency` modes; true if its response was a 200.
awaitable<bool> one_connection(run_state &st, SSL_SESSION *&session, bool &was_resumed) {
  ssl_stream s(st.io, st.ctx);
  auto [ec] = co_await s.next_layer().async_connect(st.endpoint, use_tuple);
  if (ec)
    co_return false;
  s.next_layer().set_option(tcp::no_delay(true));
  if (session)
    SSL_set_session(s.native_handle(), session);
  auto [hs_ec] = co_await s.async_handshake(ssl_stream::client, use_tuple);
  if (hs_ec)
    co_return false;
  was_resumed = SSL_session_reused(s.native_handle()) == 1;
  if (st.negotiated.empty() && !was_resumed)
    st.negotiated = describe(s.native_handle());
  auto [w_ec, written] = co_await asio::async_write(s, asio::buffer(request_close), use_tuple);
  if (w_ec)
    co_return false;
  asio::streambuf buffer;
  bool ok = co_await read_response(s, buffer);
  // A session is complete once the handshake is; the ticket came before the Finished.
  if (session)
    SSL_SESSION_free(session);
  session = SSL_get1_session(s.native_handle());
  // No close_notify exchange: the server closes (Connection: close), as h2load sees it. But
  // OpenSSL makes a session unresumable when its connection ends without a shutdown; this
  // marks it shut down, so that the next connection can offer the ticket.
  SSL_set_shutdown(s.native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  co_return ok;
}

awaitable<void> connection_loop(run_state &st, bool resume) {
  SSL_SESSION *session = nullptr;
  while (st.running) {
    bool was_resumed = false;
    bool ok = co_await one_connection(st, session, was_resumed);
    if (!resume && session) {
      SSL_SESSION_free(session);
      session = nullptr;
    }
    if (st.measuring && st.running) {
      st.done += ok;
      st.failed += !ok;
      st.resumed += ok && was_resumed;
    }
  }
  if (session)
    SSL_SESSION_free(session);
}

// One keep-alive connection; `pace` > 0: one request per pace, recording latencies.
awaitable<void> keepalive_loop(run_state &st, std::chrono::milliseconds pace) {
  while (st.running) {
    ssl_stream s(st.io, st.ctx);
    auto [ec] = co_await s.next_layer().async_connect(st.endpoint, use_tuple);
    if (!ec) {
      s.next_layer().set_option(tcp::no_delay(true));
      std::tie(ec) = co_await s.async_handshake(ssl_stream::client, use_tuple);
    }
    if (!ec && st.negotiated.empty())
      st.negotiated = describe(s.native_handle());
    asio::streambuf buffer;
    asio::steady_timer timer(st.io);
    while (!ec && st.running) {
      auto start = clock_type::now();
      auto [w_ec, n] = co_await asio::async_write(s, asio::buffer(request_keep), use_tuple);
      bool ok = !w_ec && co_await read_response(s, buffer);
      if (st.measuring && st.running) {
        st.done += ok;
        st.failed += !ok;
        if (ok && pace.count() > 0)
          st.latencies_ms.push_back(
              std::chrono::duration<double, std::milli>(clock_type::now() - start).count());
      }
      if (!ok)
        break; // the server closed (its keep-alive limit): reconnect
      if (pace.count() > 0) {
        timer.expires_after(pace);
        std::tie(ec) = co_await timer.async_wait(use_tuple);
      }
    }
  }
}

// --- Idle memory -----------------------------------------------------------------------------

struct idle_state {
  std::vector<std::unique_ptr<ssl_stream>> open;
  long failed = 0;
  long resumed = 0;
  int next = 0;
  SSL_SESSION *session = nullptr; // offered by every connection, if set
};

awaitable<void> idle_opener(run_state &st, idle_state &idle, int count) {
  while (idle.next < count) {
    ++idle.next;
    auto s = std::make_unique<ssl_stream>(st.io, st.ctx);
    auto [ec] = co_await s->next_layer().async_connect(st.endpoint, use_tuple);
    if (idle.session)
      SSL_set_session(s->native_handle(), idle.session);
    if (!ec)
      std::tie(ec) = co_await s->async_handshake(ssl_stream::client, use_tuple);
    if (!ec && SSL_session_reused(s->native_handle()) == 1)
      ++idle.resumed;
    if (!ec && st.negotiated.empty())
      st.negotiated = describe(s->native_handle());
    if (ec)
      ++idle.failed;
    else
      idle.open.push_back(std::move(s));
  }
}

void run_idle(const options &o, asio::io_context &io, asio::ssl::context &ctx,
              const tcp::endpoint &endpoint) {
  run_state st{o, io, ctx, endpoint};
  // A few connections first, so that what the server sets up once is not counted per connection.
  idle_state warm;
  asio::co_spawn(io, idle_opener(st, warm, 20), asio::detached);
  io.run();
  io.restart();
  // The idle connections resume the first warm-up connection's ticket: 2 000 full Mbed TLS
  // handshakes would take most of the run, and what an established connection keeps (the
  // session without the handshake's state) is the same either way.
  idle_state idle;
  if (!warm.open.empty())
    idle.session = SSL_get1_session(warm.open.front()->native_handle());
  for (auto &s : warm.open) // closed as shut down, so that the session stays resumable
    SSL_set_shutdown(s->native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  warm.open.clear();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  long before = server_rss_kib(o.pid);
  auto opening = clock_type::now();
  for (int i = 0; i < std::min(o.concurrency, o.connections); ++i)
    asio::co_spawn(io, idle_opener(st, idle, o.connections), asio::detached);
  io.run();
  io.restart();
  double open_seconds = std::chrono::duration<double>(clock_type::now() - opening).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  long after = server_rss_kib(o.pid);
  auto open = static_cast<long>(idle.open.size());
  if (idle.session)
    SSL_SESSION_free(idle.session);
  std::printf(
      "mode=idle %s connections=%ld failed=%ld resumed=%ld rss_before_kib=%ld rss_after_kib=%ld "
      "kib_per_connection=%.2f open_seconds=%.2f\n",
      st.negotiated.c_str(), open, idle.failed, idle.resumed, before, after,
      open > 0 ? static_cast<double>(after - before) / static_cast<double>(open) : 0.0,
      open_seconds);
}

double percentile(std::vector<double> values, double p) {
  if (values.empty())
    return 0;
  std::sort(values.begin(), values.end());
  auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

awaitable<void> timekeeper(run_state &st, double &cpu_before, double &cpu_after, double &own_before,
                           double &own_after) {
  asio::steady_timer timer(st.io);
  timer.expires_after(to_duration(st.opt.warmup));
  co_await timer.async_wait(use_tuple);
  cpu_before = server_cpu_seconds(st.opt.pid);
  own_before = own_cpu_seconds();
  st.measuring = true;
  timer.expires_after(to_duration(st.opt.duration));
  co_await timer.async_wait(use_tuple);
  cpu_after = server_cpu_seconds(st.opt.pid);
  own_after = own_cpu_seconds();
  st.running = false;
  st.measuring = false;
}

clock_type::duration grace(const options &o) { return to_duration(o.warmup + o.duration + 5); }

void run_load(const options &o, asio::io_context &io, asio::ssl::context &ctx,
              const tcp::endpoint &endpoint) {
  run_state st{o, io, ctx, endpoint};
  for (int i = 0; i < o.concurrency; ++i) {
    if (o.mode == "keepalive")
      asio::co_spawn(io, keepalive_loop(st, std::chrono::milliseconds(0)), asio::detached);
    else
      asio::co_spawn(io, connection_loop(st, o.mode == "resumed"), asio::detached);
  }
  double cpu_before = 0, cpu_after = 0, own_before = 0, own_after = 0;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        co_await timekeeper(st, cpu_before, cpu_after, own_before, own_after);
      },
      asio::detached);
  // The light client has its own thread (on the same core, by taskset), so that its requests
  // do not wait behind the load's handshakes in the client; it measures the same window.
  asio::io_context light_io(1);
  run_state light{o, light_io, ctx, endpoint};
  asio::steady_timer light_start(light_io), light_end(light_io);
  std::thread light_thread;
  if (o.mode == "latency") {
    asio::co_spawn(light_io, keepalive_loop(light, std::chrono::milliseconds(10)), asio::detached);
    light_start.expires_after(to_duration(o.warmup));
    light_start.async_wait([&](std::error_code) { light.measuring = true; });
    light_end.expires_after(to_duration(o.warmup + o.duration));
    light_end.async_wait([&](std::error_code) { light.running = light.measuring = false; });
    light_thread = std::thread([&] { light_io.run_for(grace(o)); });
  }
  // Loops blocked on a server that never answers must not keep the run alive.
  io.run_for(grace(o));
  if (light_thread.joinable())
    light_thread.join();

  double server_cpu = cpu_after - cpu_before;
  std::printf("mode=%s %s done=%ld failed=%ld resumed=%ld seconds=%.3f per_second=%.1f "
              "server_cpu_seconds=%.3f per_cpu_second=%.1f client_cpu_share=%.2f",
              o.mode.c_str(), st.negotiated.c_str(), st.done, st.failed, st.resumed, o.duration,
              static_cast<double>(st.done) / o.duration, server_cpu,
              server_cpu > 0 ? static_cast<double>(st.done) / server_cpu : 0.0,
              (own_after - own_before) / o.duration);
  if (o.mode == "latency")
    std::printf(" light_requests=%zu light_failed=%ld p50_ms=%.3f p99_ms=%.3f",
                light.latencies_ms.size(), light.failed, percentile(light.latencies_ms, 0.50),
                percentile(light.latencies_ms, 0.99));
  std::printf("\n");
}

} // namespace

int main(int argc, char **argv) {
  auto o = parse(argc, argv);
  if (o.mode != "full" && o.mode != "resumed" && o.mode != "keepalive" && o.mode != "latency" &&
      o.mode != "idle")
    usage("unknown mode " + o.mode);
  try {
    asio::io_context io(1);
    auto ctx = make_context();
    tcp::endpoint endpoint(asio::ip::make_address(o.host), o.port);
    if (o.mode == "idle")
      run_idle(o, io, ctx, endpoint);
    else
      run_load(o, io, ctx, endpoint);
  } catch (const std::exception &e) {
    std::cerr << "tlsio-load: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
