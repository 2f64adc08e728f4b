// The client loops over loopback TCP, written once for every adapter (see loop_state.hpp).
//
//   handshake: connect -> handshake -> 1 byte each way -> close_notify both ways -> close,
//              again and again; each connection's time from start to close is its latency.
//   bulk:      one connection writing spec.write_bytes at a time until told to stop.
//   idle:      open connections until env.idle_connections are open, and keep them open.
// The first byte tells the server which ('h', 'b', 'i').
#pragma once

#include "loop_state.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

namespace bench {

template <class A>
asio::awaitable<void> open_client(run_context<A> &r, typename A::stream_type &s,
                                  std::error_code &ec) {
  co_await s.lowest_layer().async_connect(r.target, into(ec));
  if (!ec)
    s.lowest_layer().set_option(tcp::no_delay(true), ec);
  if (!ec)
    co_await A::handshake(s, false, into(ec));
  if (!ec)
    r.note_negotiated(s);
}

/// One byte each way, the session kept if wanted, then close_notify both ways.
template <class A>
asio::awaitable<void> exchange_and_close(typename A::stream_type &s, typename A::session_type *keep,
                                         std::error_code &ec) {
  char byte = 'h';
  co_await asio::async_write(s, asio::buffer(&byte, 1), into(ec));
  if (!ec)
    co_await asio::async_read(s, asio::buffer(&byte, 1), into(ec));
  if (!ec && keep)
    if (auto fresh = A::get_session(s))
      *keep = std::move(fresh);
  if (!ec)
    co_await s.async_shutdown(into(ec));
}

/// One connection's life; false if it failed.
template <class A>
asio::awaitable<bool> one_handshake(run_context<A> &r, io_thread<A> &t,
                                    typename A::session_type &session) {
  bool resume = r.spec.mode == mode::handshake_resumed;
  auto start = clock::now();
  auto s = A::client(r.ctx, t.io.get_executor());
  if (resume && session)
    A::set_session(s, session);
  std::error_code ec;
  co_await open_client(r, s, ec);
  // TLS 1.3 tickets are meant for one use (RFC 8446, C.4), and on tlsio's OpenSSL engine a
  // TLS 1.3 session resumes once only (offered again, it gets a full handshake; probably
  // OpenSSL's client cache mode, which the engine sets to learn of tickets that come after
  // the handshake): the TLS 1.3 rows resume with each connection's newest ticket. The TLS
  // 1.2 rows keep their first session, as before.
  bool renew = is_tls13(r.spec.impl);
  if (!ec)
    co_await exchange_and_close<A>(s, resume && (!session || renew) ? &session : nullptr, ec);
  std::error_code ignored;
  s.lowest_layer().close(ignored);
  if (ec) {
    r.c.error("client: " + A::describe(s, ec));
    co_return false;
  }
  auto end = clock::now();
  t.latencies.push_back({end, end - start});
  if (A::resumed(s))
    r.c.resumed.fetch_add(1, std::memory_order_relaxed);
  r.c.done.fetch_add(1, std::memory_order_relaxed);
  r.grow(t);
  co_return true;
}

template <class A> asio::awaitable<void> handshake_client(run_context<A> &r, io_thread<A> &t) {
  typename A::session_type session{};
  asio::steady_timer pause(t.io);
  while (!r.c.stop.load(std::memory_order_relaxed)) {
    if (co_await one_handshake(r, t, session))
      continue;
    pause.expires_after(std::chrono::milliseconds(10)); // a failing peer is not hammered
    std::error_code ignored;
    co_await pause.async_wait(into(ignored));
  }
}

template <class A> asio::awaitable<void> bulk_client(run_context<A> &r, io_thread<A> &t) {
  auto s = A::client(r.ctx, t.io.get_executor());
  std::error_code ec;
  co_await open_client(r, s, ec);
  if (!ec)
    co_await asio::async_write(s, asio::buffer("b", 1), into(ec));
  r.c.loops.fetch_add(1);
  std::vector<char> data(r.spec.write_bytes, 'x');
  while (!ec && !r.c.stop.load(std::memory_order_relaxed)) {
    std::size_t n = co_await asio::async_write(s, asio::buffer(data), into(ec));
    if (!r.count_at_receiver)
      r.c.bytes.fetch_add(n, std::memory_order_relaxed);
  }
  if (!ec)
    co_await s.async_shutdown(into(ec));
  if (ec)
    r.c.error("bulk client: " + A::describe(s, ec));
}

template <class A> asio::awaitable<void> idle_client(run_context<A> &r, io_thread<A> &t) {
  while (r.idle_left.fetch_sub(1) > 0 && !r.c.stop.load()) {
    auto it = t.held.insert(t.held.end(), A::client(r.ctx, t.io.get_executor()));
    std::error_code ec;
    co_await open_client(r, *it, ec);
    if (!ec)
      co_await asio::async_write(*it, asio::buffer("i", 1), into(ec));
    if (ec) {
      r.c.error("idle client: " + A::describe(*it, ec));
      t.held.erase(it);
      continue;
    }
    r.c.done.fetch_add(1);
    asio::co_spawn(t.io, hold<A>(*it), asio::detached);
  }
}

template <class A> asio::awaitable<void> client_loop(run_context<A> &r, io_thread<A> &t) {
  switch (r.spec.mode) {
  case mode::handshake_full:
  case mode::handshake_resumed:
    return handshake_client(r, t);
  case mode::bulk:
    return bulk_client(r, t);
  case mode::idle:
    return idle_client(r, t);
  case mode::dtls_handshake: // dtls_udp.cpp's, never here
  case mode::dtls_echo:
    break;
  }
  return handshake_client(r, t);
}

} // namespace bench
