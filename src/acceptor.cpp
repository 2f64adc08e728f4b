#include <tlsio/acceptor.hpp>
#include <tlsio/connect.hpp>
#include <tlsio/poll.hpp>

#include <asio/ip/v6_only.hpp>
#include <asio/redirect_error.hpp>

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

} // namespace

asio::ip::tcp::endpoint listen_endpoint(const asio::any_io_executor &ex, std::string_view host,
                                        std::string_view port) {
  asio::ip::tcp::resolver resolver(ex);
  auto results = resolver.resolve(is_any(host) ? std::string("::") : detail::unbracket(host),
                                  std::string(port), asio::ip::tcp::resolver::passive);
  return results.begin()->endpoint();
}

asio::awaitable<void> handshake_one(std::shared_ptr<acceptor_state> state,
                                    asio::ip::tcp::socket socket) {
  std::error_code ec;
  auto peer = socket.remote_endpoint(ec);
  stream<> s(state->current_context(), std::move(socket));
  using namespace compat::awaitable_operators;
  auto first = co_await (s.async_handshake(compat::as_tuple(asio::use_awaitable)) ||
                         state->closed.async_wait(compat::as_tuple(asio::use_awaitable)));
  if (first.index() == 1) { // the acceptor closed
    state->release_slot();
    co_return;
  }
  ec = std::get<0>(std::get<0>(first));
  if (ec) {
    state->report(ec, s.failure_detail(), peer);
  } else {
    co_await state->ready.async_send(std::error_code{}, std::optional<stream<>>(std::move(s)),
                                     asio::redirect_error(asio::use_awaitable, ec));
    state->arrived.cancel();
  }
  state->release_slot();
}

asio::awaitable<void> accept_loop(std::shared_ptr<acceptor_state> state) {
  auto executor = co_await asio::this_coro::executor;
  for (;;) {
    std::error_code ec;
    if (state->pending >= state->options.max_pending) {
      state->slot_free.expires_after(std::chrono::seconds(1));
      co_await state->slot_free.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (!state->listener.is_open())
        co_return;
      continue;
    }
    auto socket =
        co_await state->listener.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (!state->listener.is_open())
      co_return;
    if (out_of_resources(ec)) {
      state->report(ec, "out of resources while accepting; pausing 100 ms", {});
      asio::steady_timer pause(executor, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (ec) { // e.g. the client gave up before we accepted it
      state->report(ec, {}, {});
      continue;
    }
    ++state->pending;
    asio::co_spawn(executor, handshake_one(state, std::move(socket)), asio::detached);
  }
}

asio::awaitable<std::tuple<std::error_code, wait>> poll_acceptor(std::shared_ptr<acceptor_state> s,
                                                                 poll_deadline deadline) {
  using namespace compat::awaitable_operators;
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  for (;;) {
    if (!s->listener.is_open())
      co_return std::tuple(std::error_code{}, wait::none);
    if (s->ready.ready())
      co_return std::tuple(std::error_code{}, wait::read);
    if (deadline && *deadline <= std::chrono::steady_clock::now())
      co_return std::tuple(std::error_code{}, wait::none);
    timer.expires_at(deadline.value_or(asio::steady_timer::time_point::max()));
    co_await (s->arrived.async_wait(compat::as_tuple(asio::use_awaitable)) ||
              timer.async_wait(compat::as_tuple(asio::use_awaitable)));
    asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none)
      co_return std::tuple(make_error_code(asio::error::operation_aborted), wait::none);
  }
}

} // namespace detail

acceptor::acceptor(const asio::any_io_executor &executor, const context &ctx, std::string_view host,
                   std::string_view port, acceptor_options options)
    : state_(std::make_shared<detail::acceptor_state>(executor, ctx, std::move(options))) {
  auto endpoint = detail::listen_endpoint(executor, host, port);
  try {
    detail::open_and_bind(state_->listener, endpoint, state_->options);
  } catch (const std::system_error &) {
    if (!detail::is_any(host))
      throw;
    // No IPv6 here: any IPv4 address.
    state_->listener = asio::ip::tcp::acceptor(executor);
    detail::open_and_bind(state_->listener, {asio::ip::tcp::v4(), endpoint.port()},
                          state_->options);
  }
}

acceptor::~acceptor() {
  if (state_)
    close();
}

void acceptor::close() {
  std::error_code ignored;
  state_->listener.close(ignored);
  state_->slot_free.cancel();
  state_->arrived.cancel();
  // In the past rather than cancelled: a handshake that starts waiting later ends at once.
  state_->closed.expires_at(asio::steady_timer::time_point::min());
  state_->ready.close();
}

void acceptor::set_context(const context &ctx) {
  std::lock_guard lock(state_->context_mutex);
  state_->ctx = ctx;
}

void acceptor::start() {
  if (std::exchange(state_->started, true))
    return;
  asio::co_spawn(state_->listener.get_executor(), detail::accept_loop(state_), asio::detached);
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
    asio::ip::tcp::socket socket(state_->listener.get_executor());
    state_->listener.accept(socket, ec);
    if (ec)
      return stream<>(state_->current_context(), state_->listener.get_executor());
    auto peer = socket.remote_endpoint(ec);
    stream<> s(state_->current_context(), std::move(socket));
    s.handshake(ec);
    if (!ec)
      return s;
    state_->report(ec, s.failure_detail(), peer);
  }
}

} // namespace tlsio
