#include <tlsio/dtls/connect.hpp>

#include "association.hpp"
#include "spawn_operation.hpp"

#include <tlsio/error.hpp>

#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <tlsio/compat.hpp>

namespace tlsio::dtls {

namespace detail {

namespace {

struct connect_outcome {
  std::error_code error;
  stream s;
  std::string detail; // the engine's failure detail, for the throwing form
};

constexpr auto wait_tuple = tlsio::compat::as_tuple(asio::use_awaitable);

/// One handshake with one address; the association, or why not.
asio::awaitable<std::tuple<std::error_code, std::shared_ptr<association>, std::string>>
try_endpoint(const asio::any_io_executor &strand, const context &ctx, const connect_request &r,
             const asio::ip::udp::endpoint &to) {
  auto socket = std::make_shared<asio::ip::udp::socket>(strand);
  std::error_code ec;
  socket->open(to.protocol(), ec);
  if (!ec)
    socket->connect(to, ec);
  if (!ec)
    socket->non_blocking(true, ec);
  if (ec)
    co_return std::tuple(ec, nullptr, std::string());
  dtls::engine engine(ctx);
  auto name = r.server_name ? *r.server_name : r.host;
  engine.set_server_name(name);
  engine.set_mtu(r.mtu);
  // Keyed by the name that is verified, not by the address reached.
  auto server = name + ":" + r.port + "/udp";
  auto offer = r.resume ? r.resume : ctx.cached_session(server);
  if (offer)
    engine.set_session(*offer);
  engine.set_session_cache_key(server);
  auto a = std::make_shared<association>(strand, std::move(engine), socket, std::nullopt,
                                         r.idle_timeout);
  // Whatever way this coroutine ends (an exception too), a failed association is closed:
  // its receive loop would otherwise keep it and its socket until a timeout.
  struct close_unless_kept {
    std::shared_ptr<association> a;
    ~close_unless_kept() {
      if (a)
        a->close();
    }
  } guard{a};
  a->start_client();
  ec = co_await a->handshake(r.deadline);
  if (ec)
    co_return std::tuple(ec, nullptr, a->failure_detail());
  guard.a = nullptr;
  co_return std::tuple(ec, a, std::string());
}

asio::awaitable<connect_outcome> connect_coroutine(context ctx, connect_request r) {
  auto strand = co_await asio::this_coro::executor;
  // A cancellation is reported as operation_aborted by the step it reaches, not thrown at
  // the next co_await (the resolver of Asio 1.22 cannot be cancelled mid-way).
  co_await asio::this_coro::throw_if_cancelled(false);
  if (ctx.get_role() != role::client)
    co_return connect_outcome{error::wrong_role, {}, {}};
  // Shared with the timer's handler, which may run after this coroutine has ended.
  auto resolver = std::make_shared<asio::ip::udp::resolver>(strand);
  asio::steady_timer limit(strand);
  if (r.deadline) {
    limit.expires_at(*r.deadline);
    limit.async_wait([resolver](std::error_code ec) {
      if (!ec)
        resolver->cancel();
    });
  }
  auto [resolve_error, endpoints] = co_await resolver->async_resolve(r.host, r.port, wait_tuple);
  limit.cancel();
  auto state = co_await asio::this_coro::cancellation_state;
  if (state.cancelled() != asio::cancellation_type::none)
    co_return connect_outcome{asio::error::operation_aborted, {}, {}};
  if (resolve_error) {
    bool late = r.deadline && std::chrono::steady_clock::now() >= *r.deadline;
    co_return connect_outcome{late ? std::error_code(error::timed_out) : resolve_error, {}, {}};
  }
  std::error_code last = asio::error::host_not_found;
  std::string why;
  for (const auto &entry : endpoints) {
    auto [ec, a, detail] = co_await try_endpoint(strand, ctx, r, entry.endpoint());
    if (!ec)
      co_return connect_outcome{{}, stream_access::make(std::move(a)), {}};
    last = ec;
    why = detail;
    if (ec != asio::error::connection_refused)
      break;
  }
  co_return connect_outcome{last, {}, why};
}

asio::awaitable<std::tuple<std::error_code, stream>> connect_results(context ctx,
                                                                     connect_request r) {
  auto outcome = co_await connect_coroutine(std::move(ctx), std::move(r));
  co_return std::tuple(outcome.error, std::move(outcome.s));
}

asio::awaitable<std::tuple<std::error_code, stream, std::string>>
connect_results_with_detail(context ctx, connect_request r) {
  auto outcome = co_await connect_coroutine(std::move(ctx), std::move(r));
  co_return std::tuple(outcome.error, std::move(outcome.s), std::move(outcome.detail));
}

} // namespace

void start_connect(const asio::any_io_executor &ex, asio::cancellation_slot slot,
                   const context &ctx, connect_request request,
                   std::unique_ptr<completion<std::error_code, stream>> done) {
  auto strand = asio::any_io_executor(asio::make_strand(ex));
  spawn_operation(strand, slot, connect_results(ctx, std::move(request)), std::move(done));
}

} // namespace detail

namespace {
// Through spawn_operation like the other forms, so that a cancellation from the caller's
// thread reaches the connect on its strand.
asio::awaitable<stream> connect_or_throw(const context ctx, detail::connect_request r) {
  auto ex = co_await asio::this_coro::executor;
  auto [ec, s, why] = co_await asio::async_initiate<decltype(detail::wait_tuple),
                                                    void(std::error_code, stream, std::string)>(
      [&ex, &ctx, &r](auto handler) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        auto strand = asio::any_io_executor(asio::make_strand(ex));
        detail::spawn_operation(
            strand, slot, detail::connect_results_with_detail(ctx, r),
            detail::make_completion<std::error_code, stream, std::string>(std::move(handler), ex));
      },
      detail::wait_tuple);
  if (ec)
    throw tls_error(ec, "DTLS connecting to " + r.host + " port " + r.port + ": " +
                            (why.empty() ? ec.message() : why));
  co_return std::move(s);
}
} // namespace

// Not a coroutine: the options' views are copied now, not when the awaitable first runs.
asio::awaitable<stream> async_connect(const context &ctx, std::string_view host,
                                      std::string_view port, connect_options options) {
  return connect_or_throw(ctx, detail::connect_request(host, port, options));
}

} // namespace tlsio::dtls
