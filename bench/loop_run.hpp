// Runs one loopback figure: T threads, each with its own io_context and (unless the server
// is in another process) its own acceptor on the shared port (SO_REUSEPORT); the client
// loops are spread over the threads. The same code for every adapter.
#pragma once

#include "environment.hpp"
#include "loop_client.hpp"
#include "loop_server.hpp"
#include "net.hpp"

#include <asio/post.hpp>

#include <exception>
#include <memory>
#include <thread>

namespace bench {

template <class A> class loopback_run {
public:
  loopback_run(const environment &env, const figure_spec &spec, typename A::contexts &ctx)
      : env_(env), spec_(spec), r_(spec_, ctx, c_) {
    for (int i = 0; i < spec.threads; ++i)
      threads_.push_back(std::make_unique<io_thread<A>>());
    r_.count_at_receiver = !env.remote;
  }

  figure_result run() {
    start_servers();
    return spec_.mode == mode::idle ? run_idle() : run_timed();
  }

private:
  void start_servers() {
    if (env_.remote) {
      r_.target = *env_.remote;
      return;
    }
    tcp::endpoint at(asio::ip::make_address_v4("127.0.0.1"), 0);
    for (auto &t : threads_) {
      t->acceptor.emplace(listen_on(t->io, at));
      at.port(t->acceptor->local_endpoint().port()); // the others share the first one's port
      asio::co_spawn(t->io, accept_loop(r_, *t->acceptor), asio::detached);
    }
    r_.target = at;
  }

  /// Shares `loops` client loops out among the threads and starts them: all at once, or
  /// (ramp) one per thread, the rest one per completed connection.
  void start_clients(int loops, bool ramp) {
    r_.grow = [this](io_thread<A> &t) { spawn_client(t); };
    for (int k = 0; k < loops; ++k)
      threads_[static_cast<std::size_t>(k) % threads_.size()]->loops_target++;
    for (auto &t : threads_)
      do
        spawn_client(*t);
      while (!ramp && t->loops_started < t->loops_target);
  }

  void spawn_client(io_thread<A> &t) {
    if (t.loops_started >= t.loops_target)
      return;
    ++t.loops_started;
    ++r_.clients_running;
    if (spec_.mode != mode::bulk)
      c_.loops.fetch_add(1);
    asio::co_spawn(t.io, client_loop(r_, t), [this](std::exception_ptr e) {
      if (e)
        c_.error("client loop threw");
      if (--r_.clients_running == 0)
        close_acceptors();
    });
  }

  void close_acceptors() {
    for (auto &t : threads_)
      asio::post(t->io, [&t = *t] {
        if (t.acceptor)
          t.acceptor->close();
      });
  }

  std::vector<std::function<void()>> bodies() {
    std::vector<std::function<void()>> b;
    for (auto &t : threads_)
      b.push_back([&t = *t] { t.io.run(); });
    return b;
  }

  figure_result run_timed() {
    start_clients(spec_.concurrency, spec_.mode != mode::bulk);
    auto w = run_measured(c_, env_.durations, spec_.concurrency, bodies());
    std::vector<latency_sample> all;
    for (auto &t : threads_)
      all.insert(all.end(), t->latencies.begin(), t->latencies.end());
    auto res = timed_result(spec_, w, c_, all);
    res.negotiated = r_.negotiated;
    return res;
  }

  figure_result run_idle() {
    int n = env_.idle_connections;
    r_.idle_left = n;
    release_free_memory();
    long before = resident_kib(), heap_before = heap_in_use_kib();
    auto start = clock::now();
    start_clients(std::min(spec_.concurrency, n), false);
    std::vector<std::thread> running;
    for (auto &body : bodies())
      running.emplace_back(body);
    while (c_.done.load() + c_.errors.load() < std::uint64_t(n) && r_.clients_running > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    double establish = std::chrono::duration<double>(clock::now() - start).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(200)); // let the servers settle
    long after = resident_kib(), heap_after = heap_in_use_kib();
    auto res = idle_result();
    release_held();
    c_.stop = true;
    for (auto &thread : running)
      thread.join();
    double open = double(std::max<std::uint64_t>(1, res.count));
    res.value = double(after - before) / open;
    res.unit = "KiB/conn";
    res.establish_s = establish;
    double ends = env_.remote ? open : 2 * open; // both ends live here, unless remote
    res.kib_per_end = double(after - before) / ends;
    res.heap_kib_per_end = double(heap_after - heap_before) / ends;
    return res;
  }

  /// Closes the idle connections' client sockets; their servers see the end and finish.
  void release_held() {
    for (auto &t : threads_)
      asio::post(t->io, [&t = *t] {
        for (auto &s : t.held) {
          std::error_code ignored;
          s.lowest_layer().close(ignored);
        }
      });
  }

  figure_result idle_result() {
    figure_result res;
    res.spec = spec_;
    res.count = c_.done.load();
    res.errors = c_.errors.load();
    res.first_error = c_.first_error();
    res.negotiated = r_.negotiated;
    return res;
  }

  const environment &env_;
  figure_spec spec_;
  counters c_;
  run_context<A> r_;
  std::vector<std::unique_ptr<io_thread<A>>> threads_;
};

} // namespace bench
