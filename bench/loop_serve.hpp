// --role server: the loopback server side alone, serving until SIGINT or SIGTERM, printing
// how many connections are open and the resident memory they add.
#pragma once

#include "loop_server.hpp"
#include "net.hpp"

#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <cstdio>
#include <memory>
#include <thread>

namespace bench {

template <class A> asio::awaitable<void> report_sessions(run_context<A> &r, long base_kib) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  int last = -1;
  for (;;) {
    timer.expires_after(std::chrono::seconds(2));
    std::error_code ec;
    co_await timer.async_wait(into(ec));
    int open = r.sessions.load();
    if (ec)
      co_return;
    if (open == last)
      continue;
    last = open;
    long delta = resident_kib() - base_kib;
    std::printf("server: %d connections open, VmRSS +%ld KiB (%.1f KiB per connection)\n", open,
                delta, open > 0 ? double(delta) / open : 0.0);
    std::fflush(stdout);
  }
}

template <class A>
void serve_forever(typename A::contexts &ctx, int thread_count, unsigned short port) {
  figure_spec spec;
  counters c;
  run_context<A> r(spec, ctx, c);
  std::vector<std::unique_ptr<io_thread<A>>> threads;
  tcp::endpoint at(asio::ip::address_v4::any(), port);
  for (int i = 0; i < thread_count; ++i) {
    auto &t = *threads.emplace_back(std::make_unique<io_thread<A>>());
    t.acceptor.emplace(listen_on(t.io, at));
    asio::co_spawn(t.io, accept_loop(r, *t.acceptor), asio::detached);
  }
  auto &first = threads.front()->io;
  asio::signal_set signals(first, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code, int) {
    for (auto &t : threads)
      t->io.stop();
  });
  release_free_memory();
  asio::co_spawn(first, report_sessions(r, resident_kib()), asio::detached);
  std::printf("server: listening on port %u with %d thread(s); Ctrl-C ends\n", unsigned(port),
              thread_count);
  std::fflush(stdout);
  std::vector<std::thread> running;
  for (auto &t : threads)
    running.emplace_back([&t = *t] { t.io.run(); });
  for (auto &thread : running)
    thread.join();
  if (c.errors > 0)
    std::printf("server: %llu errors, first: %s\n", (unsigned long long)c.errors.load(),
                c.first_error().c_str());
}

} // namespace bench
