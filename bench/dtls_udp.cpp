// tlsio's DTLS over loopback UDP (tlsio-dtls): a tlsio::dtls::acceptor and clients made by
// tlsio::dtls::async_connect, all on one io_context run by one thread (the acceptor and its
// associations share one strand anyway). The method is dtls_method.hpp's; a handshake is
// async_connect (resolving the numeric 127.0.0.1, a UDP socket of its own, the handshake),
// then async_shutdown, and the server's stream ends on the close_notify.
#include "dtls_method.hpp"
#include "environment.hpp"

#include <tlsio/compat.hpp>
#include <tlsio/dtls/acceptor.hpp>
#include <tlsio/dtls/connect.hpp>
#include <tlsio/error.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <array>
#include <exception>

namespace bench {
namespace {

namespace dtls = tlsio::dtls;
using asio::awaitable;
using asio::use_awaitable;
using tlsio::compat::as_tuple;

/// Returns each message to its sender until the stream ends (close_notify, or the acceptor
/// closing).
awaitable<void> echo(dtls::stream s) {
  std::array<char, 2048> buffer;
  for (;;) {
    auto [ec, n] = co_await s.async_receive(asio::buffer(buffer), as_tuple(use_awaitable));
    if (ec)
      co_return;
    co_await s.async_send(asio::buffer(buffer.data(), n), as_tuple(use_awaitable));
  }
}

class udp_run {
public:
  udp_run(const figure_spec &spec, tlsio_contexts &ctx)
      : spec_(spec), ctx_(ctx), acceptor_(io_.get_executor(), ctx.server, "127.0.0.1", 0),
        port_(std::to_string(acceptor_.local_endpoint().port())) {}

  figure_result run(const timing &t) {
    asio::co_spawn(io_, serve(), asio::detached);
    bool echo_mode = spec_.mode == mode::dtls_echo;
    grow(); // the handshake loops start one per completed handshake, up to N
    auto w = run_measured(c_, t, echo_mode ? 1 : spec_.concurrency, {[this] { io_.run(); }});
    auto r = timed_result(spec_, w, c_, latencies_);
    r.negotiated = negotiated_;
    return r;
  }

private:
  awaitable<void> serve() {
    for (;;) {
      auto [ec, s] = co_await acceptor_.async_accept(as_tuple(use_awaitable));
      if (ec)
        co_return;
      auto ex = s.get_executor(); // before s is moved into echo's frame
      asio::co_spawn(ex, echo(std::move(s)), asio::detached);
    }
  }

  /// One more client loop, unless there are N already. After stop, the last loop to end
  /// closes the acceptor (and with it the server's streams), so that io_.run() returns.
  void grow() {
    bool echo_mode = spec_.mode == mode::dtls_echo;
    if (started_ >= (echo_mode ? 1 : spec_.concurrency))
      return;
    ++started_, ++running_;
    if (!echo_mode)
      c_.loops.fetch_add(1);
    asio::co_spawn(io_, echo_mode ? echo_client() : handshake_client(),
                   [this](std::exception_ptr e) {
                     if (e)
                       c_.error("tlsio-dtls: a client loop threw");
                     if (--running_ == 0)
                       acceptor_.close();
                   });
  }

  awaitable<std::tuple<std::error_code, dtls::stream>> connect() {
    dtls::connect_options o;
    o.server_name = server_name; // the certificate's name; the address avoids a lookup
    auto r = co_await dtls::async_connect(io_.get_executor(), ctx_.client, "127.0.0.1", port_, o,
                                          as_tuple(use_awaitable));
    if (!std::get<0>(r) && negotiated_.empty())
      negotiated_ = std::get<1>(r).protocol_version() + " " + std::get<1>(r).cipher_suite();
    co_return r;
  }

  awaitable<void> handshake_client() {
    asio::steady_timer pause(io_);
    while (!c_.stop.load(std::memory_order_relaxed)) {
      auto start = clock::now();
      auto [ec, s] = co_await connect();
      if (!ec)
        std::tie(ec) = co_await s.async_shutdown(as_tuple(use_awaitable));
      s.close();
      if (ec) {
        c_.error("tlsio-dtls: " + ec.message());
        pause.expires_after(std::chrono::milliseconds(10)); // a failing peer is not hammered
        co_await pause.async_wait(as_tuple(use_awaitable));
        continue;
      }
      auto end = clock::now();
      latencies_.push_back({end, end - start});
      c_.done.fetch_add(1, std::memory_order_relaxed);
      grow();
    }
  }

  /// One batch of echo_window messages; the error that ended the stream, if any.
  awaitable<std::error_code> batch(dtls::stream &s, const std::vector<char> &message) {
    for (int i = 0; i < echo_window; ++i)
      if (auto [ec, n] = co_await s.async_send(asio::buffer(message), as_tuple(use_awaitable)); ec)
        co_return ec;
    c_.sent.fetch_add(echo_window, std::memory_order_relaxed);
    std::array<char, 2048> buffer;
    int back = 0;
    while (back < echo_window) {
      auto [ec, n] =
          co_await s.async_receive_for(asio::buffer(buffer), echo_timeout, as_tuple(use_awaitable));
      if (ec == tlsio::error::timed_out)
        break;
      if (ec)
        co_return ec;
      ++back;
      c_.bytes.fetch_add(n, std::memory_order_relaxed);
    }
    c_.lost.fetch_add(std::uint64_t(echo_window - back), std::memory_order_relaxed);
    co_return std::error_code{};
  }

  awaitable<void> echo_client() {
    auto [ec, s] = co_await connect();
    if (!ec)
      c_.loops.fetch_add(1);
    std::vector<char> message(spec_.write_bytes, 'x');
    while (!ec && !c_.stop.load(std::memory_order_relaxed))
      ec = co_await batch(s, message);
    if (!ec)
      std::tie(ec) = co_await s.async_shutdown(as_tuple(use_awaitable));
    if (ec)
      c_.error("tlsio-dtls echo: " + ec.message());
    s.close();
  }

  const figure_spec &spec_;
  tlsio_contexts &ctx_;
  counters c_;
  asio::io_context io_{1};
  dtls::acceptor acceptor_;
  std::string port_;
  std::vector<latency_sample> latencies_;
  std::string negotiated_;
  int started_ = 0, running_ = 0;
};

} // namespace

figure_result run_tlsio_dtls(environment &env, const figure_spec &spec) {
  auto ctx = make_tlsio_contexts(env.pki.get(spec.cert), spec.group, false, spec.impl);
  return udp_run(spec, ctx).run(env.durations);
}

} // namespace bench
