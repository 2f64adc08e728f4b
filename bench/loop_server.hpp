// The server side of the loopback loops (and of --role server), written once for every
// adapter: accept, handshake, then serve what the client's first byte asks for.
#pragma once

#include "loop_state.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

namespace bench {

/// 'h': answer one byte, then close_notify both ways.
template <class A> asio::awaitable<void> answer(typename A::stream_type &s, std::error_code &ec) {
  co_await asio::async_write(s, asio::buffer("k", 1), into(ec));
  if (!ec)
    co_await s.async_shutdown(into(ec));
}

/// 'b': read and count until the client's close_notify, then answer it.
template <class A>
asio::awaitable<void> sink(run_context<A> &r, typename A::stream_type &s, std::error_code &ec) {
  std::vector<char> buffer(64 * 1024);
  for (;;) {
    std::size_t n = co_await s.async_read_some(asio::buffer(buffer), into(ec));
    if (ec)
      break;
    if (r.count_at_receiver)
      r.c.bytes.fetch_add(n, std::memory_order_relaxed);
  }
  if (ec == asio::error::eof)
    co_await s.async_shutdown(into(ec));
}

template <class A> asio::awaitable<void> serve(run_context<A> &r, typename A::stream_type s) {
  r.sessions.fetch_add(1, std::memory_order_relaxed);
  std::error_code ec;
  co_await A::handshake(s, true, into(ec));
  char what = 0;
  if (!ec)
    co_await asio::async_read(s, asio::buffer(&what, 1), into(ec));
  if (!ec && what == 'h')
    co_await answer<A>(s, ec);
  else if (!ec && what == 'b')
    co_await sink(r, s, ec);
  else if (!ec && what == 'i')
    co_await hold<A>(s); // until the client goes away; how it ends does not matter
  if (ec)
    r.c.error("server: " + A::describe(s, ec));
  std::error_code ignored;
  s.lowest_layer().close(ignored);
  r.sessions.fetch_sub(1, std::memory_order_relaxed);
}

template <class A> asio::awaitable<void> accept_loop(run_context<A> &r, tcp::acceptor &acceptor) {
  for (;;) {
    std::error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(into(ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open())
      co_return;
    if (!ec)
      socket.set_option(tcp::no_delay(true), ec);
    if (ec) {
      r.c.error("accept: " + ec.message());
      continue;
    }
    asio::co_spawn(acceptor.get_executor(), serve(r, A::server(r.ctx, std::move(socket))),
                   asio::detached);
  }
}

} // namespace bench
