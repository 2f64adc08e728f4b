#include <tlsio/acceptor.hpp>
#include <tlsio/poll.hpp>

#include "host_port.hpp"

#include <asio/dispatch.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>

#include <tuple>

namespace tlsio {
namespace detail {
namespace {

bool is_any(std::string_view host) { return host.empty() || host == "*"; }

// Errors that say the process is out of a resource: waiting lets connections close.
bool out_of_resources(const std::error_code &ec) {
  return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
         ec == asio::error::no_memory || ec == std::errc::too_many_files_open_in_system;
}

void open_and_bind(asio::ip::tcp::acceptor &listener, const asio::ip::tcp::endpoint &endpoint,
                   const acceptor_options &options) {
  listener.open(endpoint.protocol());
  listener.set_option(asio::socket_base::reuse_address(true));
  if (options.reuse_port) {
    int one = 1;
    ::setsockopt(listener.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  }
  if (endpoint.address().is_v6() && endpoint.address().is_unspecified())
    listener.set_option(asio::ip::v6_only(false)); // dual-stack: IPv4 clients too
  listener.bind(endpoint);
  listener.listen(options.backlog);
}

// Completes a wait at once, with no error, through the handler's executor.
template <class Handler> void complete_now(const asio::any_io_executor &fallback, Handler handler) {
  auto ex = asio::get_associated_executor(handler, fallback);
  asio::post(ex,
             [handler = std::move(handler)]() mutable { std::move(handler)(std::error_code{}); });
}

// The waits on the shared listener and timers start under the state's mutex, because close()
// may run on another thread (see acceptor_state). Each checks, under the same lock, whether
// there is still anything to wait for, so that a wake-up between the caller's check and the
// wait is never lost.

template <class Token>
auto async_accept_on(acceptor_state &s, const asio::any_io_executor &connection, Token &&token) {
  return asio::async_initiate<Token, void(std::error_code, asio::ip::tcp::socket)>(
      [&s](auto handler, const asio::any_io_executor &ex) {
        std::lock_guard lock(s.mutex);
        s.listener.async_accept(ex, std::move(handler)); // the socket is bound to ex
      },
      token, connection);
}

// Until a handshake slot is free (pending < max_pending) or the acceptor closes.
template <class Token> auto async_wait_slot(acceptor_state &s, Token &&token) {
  return asio::async_initiate<Token, void(std::error_code)>(
      [&s](auto handler) {
        std::lock_guard lock(s.mutex);
        if (s.pending < s.options.max_pending || !s.listener.is_open())
          return complete_now(s.strand, std::move(handler));
        s.slot_free.expires_at(asio::steady_timer::time_point::max());
        s.slot_free.async_wait(std::move(handler));
      },
      token);
}

// Until a stream is waiting in the queue or the acceptor closes (or the caller cancels).
template <class Token> auto async_wait_arrival(acceptor_state &s, Token &&token) {
  return asio::async_initiate<Token, void(std::error_code)>(
      [&s](auto handler) {
        std::lock_guard lock(s.mutex);
        if (s.ready.ready() || !s.listener.is_open())
          return complete_now(s.strand, std::move(handler));
        s.arrived.async_wait(std::move(handler));
      },
      token);
}

// Enters a handshake in the list close() walks; false if the acceptor has closed already.
bool enter_handshake(acceptor_state &s,
                     const std::shared_ptr<acceptor_state::handshake_in_progress> &h,
                     acceptor_state::handshake_list::iterator &at) {
  std::lock_guard lock(s.mutex);
  if (!s.listener.is_open())
    return false;
  at = s.handshakes.insert(s.handshakes.end(), h);
  return true;
}

void release_slot(acceptor_state &s) {
  --s.pending;
  std::lock_guard lock(s.mutex);
  s.slot_free.cancel();
}

void wake_pollers(acceptor_state &s) {
  std::lock_guard lock(s.mutex);
  s.arrived.cancel();
}

handshake_failure make_failure(const std::error_code &ec, std::string detail,
                               asio::ip::tcp::endpoint peer) {
  return {ec, detail.empty() ? ec.message() : std::move(detail), peer};
}

// Counts the failure and calls on_failure on the acceptor's strand (at once if already there),
// so that the callback never runs twice at the same time.
void report(const std::shared_ptr<acceptor_state> &state, const std::error_code &ec,
            std::string detail, asio::ip::tcp::endpoint peer) {
  asio::dispatch(state->strand, [state, f = make_failure(ec, std::move(detail), peer)] {
    ++state->failures;
    if (state->options.on_failure)
      state->options.on_failure(f);
  });
}

// For the blocking accept(): on the calling thread.
void report_here(acceptor_state &state, const std::error_code &ec, std::string detail,
                 asio::ip::tcp::endpoint peer) {
  ++state.failures;
  if (state.options.on_failure)
    state.options.on_failure(make_failure(ec, std::move(detail), peer));
}

} // namespace

asio::ip::tcp::endpoint listen_endpoint(const asio::any_io_executor &ex, std::string_view host,
                                        std::string_view port) {
  asio::ip::tcp::resolver resolver(ex);
  auto results = resolver.resolve(is_any(host) ? std::string("::") : detail::unbracket(host),
                                  std::string(port), asio::ip::tcp::resolver::passive);
  return results.begin()->endpoint();
}

// Runs on the connection's executor (its own strand unless strand_per_connection is off).
// Cancelled by close() through the state's list rather than raced against a wait for it: a
// parallel group per connection cost more than the rest of a resumed handshake's bookkeeping.
asio::awaitable<void> handshake_one(std::shared_ptr<acceptor_state> state,
                                    asio::ip::tcp::socket socket) {
  std::error_code ec;
  auto peer = socket.remote_endpoint(ec);
  stream<> s(state->current_context(), std::move(socket));
  auto handshake = std::make_shared<acceptor_state::handshake_in_progress>();
  handshake->executor = co_await asio::this_coro::executor;
  acceptor_state::handshake_list::iterator at;
  if (enter_handshake(*state, handshake, at)) { // else the acceptor has closed
    std::tie(ec) = co_await s.async_handshake(asio::bind_cancellation_slot(
        handshake->cancel.slot(), compat::as_tuple(asio::use_awaitable)));
    handshake->done = true;
    {
      std::lock_guard lock(state->mutex);
      state->handshakes.erase(at);
    }
    if (!ec) {
      co_await state->ready.async_send(std::error_code{}, std::optional<stream<>>(std::move(s)),
                                       asio::redirect_error(asio::use_awaitable, ec));
      wake_pollers(*state);
    } else if (!(ec == asio::error::operation_aborted && !state->is_open())) {
      report(state, ec, s.failure_detail(), peer);
    }
  }
  release_slot(*state);
}

// Runs on the acceptor's strand.
asio::awaitable<void> accept_loop(std::shared_ptr<acceptor_state> state) {
  auto executor = co_await asio::this_coro::executor;
  for (;;) {
    std::error_code ec;
    if (state->pending >= state->options.max_pending) {
      co_await async_wait_slot(*state, asio::redirect_error(asio::use_awaitable, ec));
      if (!state->is_open())
        co_return;
      continue;
    }
    auto connection = state->connection_executor();
    auto socket =
        co_await async_accept_on(*state, connection, asio::redirect_error(asio::use_awaitable, ec));
    if (!state->is_open())
      co_return;
    if (out_of_resources(ec)) {
      report(state, ec, "out of resources while accepting; pausing 100 ms", {});
      asio::steady_timer pause(executor, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (ec) { // e.g. the client gave up before we accepted it
      report(state, ec, {}, {});
      continue;
    }
    ++state->pending;
    asio::co_spawn(connection, handshake_one(state, std::move(socket)), asio::detached);
  }
}

asio::awaitable<std::tuple<std::error_code, wait>> poll_acceptor(std::shared_ptr<acceptor_state> s,
                                                                 poll_deadline deadline) {
  using namespace compat::awaitable_operators;
  co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation(),
                                                     detail::as_terminal_cancellation{});
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  for (;;) {
    if (!s->is_open())
      co_return std::tuple(make_error_code(asio::error::bad_descriptor), wait::none);
    if (s->ready.ready())
      co_return std::tuple(std::error_code{}, wait::read);
    if (deadline && *deadline <= std::chrono::steady_clock::now())
      co_return std::tuple(std::error_code{}, wait::none);
    timer.expires_at(deadline.value_or(asio::steady_timer::time_point::max()));
    co_await (async_wait_arrival(*s, compat::as_tuple(asio::use_awaitable)) ||
              timer.async_wait(compat::as_tuple(asio::use_awaitable)));
    asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none)
      co_return std::tuple(make_error_code(asio::error::operation_aborted), wait::none);
  }
}

} // namespace detail

namespace detail {
namespace {

// Binds and listens on host:port for ctx; on failure, what failed (for the exception).
std::pair<std::error_code, std::string> start_listening(acceptor_state &state, const context &ctx,
                                                        std::string_view host,
                                                        std::string_view port) {
  if (ctx.get_role() != role::server)
    return {make_error_code(error::wrong_role), "tlsio::acceptor"};
  if (auto ec = check_port(port))
    return {ec, "tlsio::acceptor: port " + std::string(port)};
  // A context every handshake would refuse is refused here, before anyone connects.
  if (auto ec = ctx.finalize())
    return {ec, "tlsio::acceptor: the server context cannot accept connections"};
  try {
    auto endpoint = listen_endpoint(state.executor, host, port);
    try {
      open_and_bind(state.listener, endpoint, state.options);
    } catch (const std::system_error &) {
      if (!is_any(host))
        throw;
      // No IPv6 here: any IPv4 address.
      state.listener = asio::ip::tcp::acceptor(state.strand);
      open_and_bind(state.listener, {asio::ip::tcp::v4(), endpoint.port()}, state.options);
    }
  } catch (const std::system_error &e) {
    return {e.code(),
            "tlsio::acceptor: listening on " + std::string(host) + " port " + std::string(port)};
  }
  return {};
}

} // namespace
} // namespace detail

acceptor::acceptor(const asio::any_io_executor &executor, const context &ctx, std::string_view host,
                   std::string_view port, acceptor_options options)
    : state_(std::make_shared<detail::acceptor_state>(executor, ctx, std::move(options))) {
  auto [ec, what] = detail::start_listening(*state_, ctx, host, port);
  if (ec) {
    close();
    throw std::system_error(ec, what);
  }
}

acceptor::acceptor(const asio::any_io_executor &executor, const context &ctx, std::string_view host,
                   std::string_view port, acceptor_options options, std::error_code &ec)
    : state_(std::make_shared<detail::acceptor_state>(executor, ctx, std::move(options))) {
  ec = detail::start_listening(*state_, ctx, host, port).first;
  if (ec)
    close();
}

acceptor &acceptor::operator=(acceptor &&other) noexcept {
  if (this != &other) {
    if (state_)
      close();
    state_ = std::move(other.state_);
  }
  return *this;
}

acceptor::~acceptor() {
  if (state_)
    close();
}

asio::ip::tcp::endpoint acceptor::local_endpoint() const {
  std::lock_guard lock(state_->mutex);
  return state_->listener.local_endpoint();
}

void acceptor::close() {
  auto &s = *state_;
  {
    std::lock_guard lock(s.mutex);
    std::error_code ignored;
    s.listener.close(ignored); // a pending accept completes with operation_aborted
    s.slot_free.cancel();
    s.arrived.cancel();
    // A handshake entered later sees the listener closed and does not start.
    for (const auto &h : s.handshakes)
      asio::post(h->executor, [h] {
        if (!h->done)
          h->cancel.emit(asio::cancellation_type::terminal);
      });
  }
  s.ready.close();
}

void acceptor::set_context(const context &ctx) {
  if (ctx.get_role() != role::server)
    throw std::system_error(make_error_code(error::wrong_role), "tlsio::acceptor::set_context");
  // A reload every handshake would refuse is refused here; the old context stays.
  if (auto ec = ctx.finalize())
    throw std::system_error(ec, "tlsio::acceptor::set_context");
  std::lock_guard lock(state_->context_mutex);
  state_->ctx = ctx;
}

void acceptor::start() {
  if (state_->started.exchange(true))
    return;
  asio::co_spawn(state_->strand, detail::accept_loop(state_), asio::detached);
}

stream<> acceptor::accept() {
  std::error_code ec;
  auto s = accept(ec);
  if (ec)
    throw std::system_error(ec, "accepting a TLS connection");
  return s;
}

stream<> acceptor::accept(std::error_code &ec) {
  for (;;) {
    asio::ip::tcp::socket socket(state_->connection_executor());
    state_->listener.accept(socket, ec);
    if (ec)
      return stream<>(state_->current_context(), state_->executor);
    auto peer = socket.remote_endpoint(ec);
    stream<> s(state_->current_context(), std::move(socket));
    s.handshake(ec);
    if (!ec)
      return s;
    detail::report_here(*state_, ec, s.failure_detail(), peer);
  }
}

} // namespace tlsio
