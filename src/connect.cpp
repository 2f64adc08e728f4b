// Resolve, connect and handshake (tlsio::async_connect, tlsio::connect), compiled once here
// so that a program including connect.hpp does not compile these coroutines again.
#include <tlsio/connect.hpp>

#include "host_port.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>

#include <exception>
#include <future>
#include <tuple>
#include <variant>

namespace tlsio::detail {
namespace {

using resolve_result = std::pair<std::error_code, asio::ip::tcp::resolver::results_type>;

// Asio 1.22's resolver cannot be cancelled: getaddrinfo() runs to its end on a private
// thread. So the coroutine waits on a timer that the resolve wakes, and that a deadline or a
// cancellation cuts short at once; an abandoned resolve ends in the background, its answer
// dropped. Runs on the connect's strand, as the resolve's handler does.
asio::awaitable<resolve_result> resolve(std::string host, std::string port) {
  struct pending {
    explicit pending(const asio::any_io_executor &ex)
        : wake(ex, asio::steady_timer::time_point::max()) {}
    asio::steady_timer wake;
    std::optional<resolve_result> answer;
  };
  auto executor = co_await asio::this_coro::executor;
  auto resolver = std::make_shared<asio::ip::tcp::resolver>(executor);
  auto state = std::make_shared<pending>(executor);
  resolver->async_resolve(host, port, [resolver, state](std::error_code ec, auto results) {
    state->answer.emplace(ec, std::move(results));
    state->wake.cancel();
  });
  if (!state->answer)
    co_await state->wake.async_wait(compat::as_tuple(asio::use_awaitable));
  if (!state->answer)
    co_return resolve_result{asio::error::operation_aborted, {}};
  co_return std::move(*state->answer);
}

asio::awaitable<std::error_code> resolve_connect_handshake(const context &ctx, stream<> &s,
                                                           const connect_request &r) {
  if (auto ec = check_port(r.port))
    co_return ec;
  if (ctx.get_role() != role::client)
    co_return make_error_code(error::wrong_role);
  auto token = compat::as_tuple(asio::use_awaitable);
  auto [resolve_ec, endpoints] = co_await resolve(unbracket(r.host), r.port);
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
  s.engine().set_session_cache_key(server);
  auto [handshake_ec] = co_await s.async_handshake(token);
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

// What an exception escaping the connect coroutine means, as an error code.
std::error_code error_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error &error) {
    return error.code();
  } catch (const std::bad_alloc &) {
    return make_error_code(std::errc::not_enough_memory);
  } catch (...) {
    return make_error_code(std::errc::state_not_recoverable);
  }
}

} // namespace

connect_request::connect_request(std::string_view h, std::string_view p, const connect_options &o)
    : host(h), port(p), deadline(o.deadline) {
  if (o.server_name)
    server_name.emplace(*o.server_name);
  if (o.resume)
    resume.emplace(o.resume->get());
  auto now = std::chrono::steady_clock::now();
  // A timeout past the clock's end is no bound (now + it would overflow).
  if (o.timeout && *o.timeout < std::chrono::steady_clock::time_point::max() - now) {
    auto relative = now + *o.timeout;
    deadline = deadline ? std::min(*deadline, relative) : relative;
  }
}

void start_connect(const asio::any_io_executor &ex, asio::cancellation_slot slot,
                   const context &ctx, connect_request request,
                   std::unique_ptr<connect_completion> done) {
  auto complete = [done = std::move(done), ex, ctx](std::exception_ptr e,
                                                    connect_result result) mutable {
    auto &[ec, s] = result;
    if (e)
      ec = error_of(e);
    if (!s)
      s.emplace(ctx, ex);
    done->complete(ec, std::move(*s));
  };
  // A strand: the resolve's handler and the deadline must not run at once on a
  // multi-threaded io_context. The stream comes out on it.
  asio::co_spawn(asio::make_strand(ex), connect_coroutine(ctx, std::move(request)),
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
  auto strand = asio::make_strand(co_await asio::this_coro::executor); // as start_connect
  auto [ec, s] =
      co_await asio::co_spawn(strand, detail::connect_coroutine(ctx, r), asio::use_awaitable);
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
  std::promise<std::pair<std::error_code, stream<>>> promise;
  auto outcome = promise.get_future();
  async_connect(io.get_executor(), ctx, host, port, options,
                [promise = std::move(promise)](std::error_code e, stream<> s) mutable {
                  promise.set_value({e, std::move(s)});
                });
  if (io.stopped())
    io.restart();
  // Another thread may be running io and complete the connect there: wait in short slices.
  using namespace std::chrono_literals;
  while (outcome.wait_for(0s) != std::future_status::ready)
    if (io.run_one_for(50ms) == 0 && io.stopped() &&
        outcome.wait_for(0s) != std::future_status::ready) {
      ec = asio::error::operation_aborted; // someone stopped io first
      return stream<>(ctx, io);
    }
  if (io.stopped()) // out of work after the connect: ready to run again, as it was given
    io.restart();
  auto [error, s] = outcome.get();
  ec = error;
  return std::move(s);
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
