// Resolve, connect and handshake (tlsio::async_connect, tlsio::connect), compiled once here
// so that a program including connect.hpp does not compile these coroutines again.
#include <tlsio/connect.hpp>

#include "host_port.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include <exception>
#include <tuple>
#include <variant>

namespace tlsio::detail {
namespace {

asio::awaitable<std::error_code> resolve_connect_handshake(const context &ctx, stream<> &s,
                                                           const connect_request &r) {
  if (auto ec = check_port(r.port))
    co_return ec;
  if (ctx.get_role() != role::client)
    co_return make_error_code(error::wrong_role);
  auto token = compat::as_tuple(asio::use_awaitable);
  asio::ip::tcp::resolver resolver(s.get_executor());
  auto [resolve_ec, endpoints] = co_await resolver.async_resolve(unbracket(r.host), r.port, token);
  if (resolve_ec)
    co_return resolve_ec;
  auto [connect_ec, endpoint] = co_await asio::async_connect(s.next_layer(), endpoints, token);
  if (connect_ec)
    co_return connect_ec;
  auto name = r.server_name.value_or(r.host);
  s.set_server_name(name);
  // Keyed by the name that is verified, not by the address reached.
  auto server = name + ":" + r.port;
  auto offer = r.resume ? r.resume : ctx.cached_session(server);
  if (offer)
    s.engine().set_session(*offer);
  auto [handshake_ec] = co_await s.async_handshake(token);
  if (!handshake_ec)
    if (auto session = s.engine().get_session())
      ctx.cache_session(server, *session);
  co_return handshake_ec;
}

// optional<>: co_spawn default-constructs the result, and a stream needs a context.
using connect_result = std::tuple<std::error_code, std::optional<stream<>>>;

asio::awaitable<connect_result> connect_coroutine(const context ctx, connect_request r) {
  auto executor = co_await asio::this_coro::executor;
  stream<> s(ctx, executor);
  std::error_code ec;
  if (!r.deadline) {
    ec = co_await resolve_connect_handshake(ctx, s, r);
  } else {
    using namespace compat::awaitable_operators;
    asio::steady_timer timer(executor, *r.deadline);
    auto first =
        co_await (resolve_connect_handshake(ctx, s, r) || timer.async_wait(asio::use_awaitable));
    ec = first.index() == 0 ? std::get<0>(first) : make_error_code(error::timed_out);
  }
  if (ec) {
    std::error_code ignored;
    s.lowest_layer().close(ignored);
  }
  co_return connect_result(ec, std::move(s));
}

} // namespace

connect_request::connect_request(std::string_view h, std::string_view p, const connect_options &o)
    : host(h), port(p), deadline(o.deadline) {
  if (o.server_name)
    server_name.emplace(*o.server_name);
  if (o.resume)
    resume.emplace(o.resume->get());
  if (o.timeout) {
    auto relative = std::chrono::steady_clock::now() + *o.timeout;
    deadline = deadline ? std::min(*deadline, relative) : relative;
  }
}

void start_connect(const asio::any_io_executor &ex, asio::cancellation_slot slot,
                   const context &ctx, connect_request request,
                   std::unique_ptr<connect_completion> done) {
  auto complete = [done = std::move(done), ex, ctx](std::exception_ptr e,
                                                    connect_result result) mutable {
    auto &[ec, s] = result;
    if (e) // only allocation failures can land here; report them as an error code
      ec = make_error_code(std::errc::not_enough_memory);
    if (!s)
      s.emplace(ctx, ex);
    done->complete(ec, std::move(*s));
  };
  asio::co_spawn(ex, connect_coroutine(ctx, std::move(request)),
                 asio::bind_cancellation_slot(slot, std::move(complete)));
}

tls_error connect_error(const std::error_code &ec, const stream<> &s, std::string_view host,
                        std::string_view port) {
  auto detail = s.failure_detail();
  return tls_error(ec, "connecting to " + std::string(host) + " port " + std::string(port) + ": " +
                           (detail.empty() ? ec.message() : detail));
}

} // namespace tlsio::detail

namespace tlsio {

namespace {
asio::awaitable<stream<>> connect_or_throw(const context ctx, detail::connect_request r) {
  auto [ec, s] = co_await detail::connect_coroutine(ctx, r);
  if (ec)
    throw detail::connect_error(ec, *s, r.host, r.port);
  co_return std::move(*s);
}
} // namespace

// Not a coroutine: the options' views are copied now, not when the awaitable first runs.
asio::awaitable<stream<>> async_connect(const context &ctx, std::string_view host,
                                        std::string_view port, connect_options options) {
  return connect_or_throw(ctx, detail::connect_request(host, port, options));
}

stream<> connect(asio::io_context &io, const context &ctx, std::string_view host,
                 std::string_view port, const connect_options &options, std::error_code &ec) {
  // Shared with the handler: if io is stopped before the connect ends, it ends later.
  auto outcome = std::make_shared<std::optional<std::pair<std::error_code, stream<>>>>();
  async_connect(io.get_executor(), ctx, host, port, options,
                [outcome](std::error_code e, stream<> s) { outcome->emplace(e, std::move(s)); });
  if (io.stopped())
    io.restart();
  while (!*outcome && io.run_one() != 0) {
  }
  if (!*outcome) { // someone stopped io first
    ec = asio::error::operation_aborted;
    return stream<>(ctx, io);
  }
  ec = (*outcome)->first;
  return std::move((*outcome)->second);
}

stream<> connect(asio::io_context &io, const context &ctx, std::string_view host,
                 std::string_view port, std::error_code &ec) {
  return connect(io, ctx, host, port, connect_options{}, ec);
}

stream<> connect(asio::io_context &io, const context &ctx, std::string_view host,
                 std::string_view port, const connect_options &options) {
  std::error_code ec;
  auto s = connect(io, ctx, host, port, options, ec);
  if (ec)
    throw detail::connect_error(ec, s, host, port);
  return s;
}

} // namespace tlsio
