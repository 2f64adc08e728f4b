#include <tlsio/dtls/poll.hpp>
#include <tlsio/dtls/stream.hpp>

#include "../context_impl.hpp"
#include "association.hpp"
#include "spawn_operation.hpp"

#include <asio/dispatch.hpp>
#include <asio/error.hpp>
#include <asio/system_executor.hpp>

namespace tlsio::dtls {

namespace detail {

namespace {

// Coroutines taking the association by value: it lives as long as the operation.
asio::awaitable<std::tuple<std::error_code, std::size_t>>
send_operation(std::shared_ptr<association> a, asio::const_buffer m, time_limit limit) {
  co_return co_await a->send(m, limit);
}
asio::awaitable<std::tuple<std::error_code, std::size_t>>
receive_operation(std::shared_ptr<association> a, asio::mutable_buffer b, time_limit limit) {
  co_return co_await a->receive(b, limit);
}
asio::awaitable<std::error_code> shutdown_operation(std::shared_ptr<association> a) {
  co_return co_await a->shutdown();
}
asio::awaitable<std::tuple<std::error_code, wait>>
poll_operation(std::shared_ptr<association> a, wait what, tlsio::detail::poll_deadline deadline) {
  co_return co_await a->poll(what, deadline);
}
asio::awaitable<std::tuple<std::error_code, std::size_t>> no_stream() {
  co_return std::tuple(std::error_code(asio::error::bad_descriptor), 0);
}

} // namespace

asio::any_io_executor executor_of(const std::shared_ptr<association> &a) {
  if (a)
    return a->executor();
  return asio::system_executor();
}

void start_send(std::shared_ptr<association> a, asio::const_buffer message, time_limit limit,
                asio::cancellation_slot slot,
                std::unique_ptr<completion<std::error_code, std::size_t>> done) {
  auto ex = executor_of(a);
  spawn_operation(ex, slot, a ? send_operation(std::move(a), message, limit) : no_stream(),
                  std::move(done));
}

void start_receive(std::shared_ptr<association> a, asio::mutable_buffer buffer, time_limit limit,
                   asio::cancellation_slot slot,
                   std::unique_ptr<completion<std::error_code, std::size_t>> done) {
  auto ex = executor_of(a);
  spawn_operation(ex, slot, a ? receive_operation(std::move(a), buffer, limit) : no_stream(),
                  std::move(done));
}

void start_poll(const std::shared_ptr<association> &a, wait what,
                tlsio::detail::poll_deadline deadline, asio::cancellation_slot slot,
                std::unique_ptr<completion<std::error_code, wait>> done) {
  if (!a) {
    done->complete(asio::error::bad_descriptor, wait::none);
    return;
  }
  spawn_operation(a->executor(), slot, poll_operation(a, what, deadline), std::move(done));
}

const std::shared_ptr<association> &state_of(const stream &s) noexcept { return s.state_; }

void start_shutdown(std::shared_ptr<association> a, asio::cancellation_slot slot,
                    std::unique_ptr<completion<std::error_code>> done) {
  if (!a) {
    done->complete(asio::error::bad_descriptor);
    return;
  }
  auto ex = a->executor();
  spawn_operation(ex, slot, shutdown_operation(std::move(a)), std::move(done));
}

} // namespace detail

stream::stream() noexcept = default;

stream::stream(std::shared_ptr<detail::association> a) noexcept : state_(std::move(a)) {}

stream::~stream() { close(); }

stream::stream(stream &&other) noexcept = default;

stream &stream::operator=(stream &&other) noexcept {
  if (this != &other) {
    close();
    state_ = std::move(other.state_);
  }
  return *this;
}

stream::executor_type stream::get_executor() const {
  // A common slip: co_spawn(s.get_executor(), f(std::move(s))) may move first.
  if (!state_)
    throw std::system_error(asio::error::bad_descriptor,
                            "tlsio::dtls::stream::get_executor() on an empty stream (moved "
                            "from?): take the executor before moving the stream");
  return state_->executor();
}

bool stream::is_open() const noexcept { return state_ != nullptr; }

void stream::close() {
  if (auto a = std::move(state_))
    asio::dispatch(a->executor(), [a] { a->close(); });
}

std::size_t stream::max_message_size() const noexcept {
  return state_ ? state_->max_message_size() : 0;
}

namespace {
const detail::handshake_facts &facts_of(const std::shared_ptr<detail::association> &a) {
  if (!a)
    throw std::system_error(asio::error::bad_descriptor, "tlsio::dtls::stream is empty");
  return a->facts();
}
} // namespace

asio::ip::udp::endpoint stream::local_endpoint() const { return facts_of(state_).local; }
asio::ip::udp::endpoint stream::remote_endpoint() const { return facts_of(state_).remote; }
std::string stream::protocol_version() const { return state_ ? state_->facts().version : ""; }
std::string stream::cipher_suite() const { return state_ ? state_->facts().suite : ""; }
std::optional<certificate_info> stream::peer_certificate() const {
  return state_ ? state_->facts().peer_certificate : std::nullopt;
}
std::string stream::server_name() const { return state_ ? state_->facts().server_name : ""; }
std::string stream::alpn_protocol() const { return state_ ? state_->facts().alpn : ""; }
bool stream::resumed() const noexcept { return state_ && state_->facts().resumed; }
std::optional<session> stream::get_session() const {
  if (!state_ || !state_->facts().made || !*state_->facts().made->get().resumable)
    return std::nullopt;
  return state_->facts().made;
}
std::string stream::failure_detail() const { return state_ ? state_->end_detail() : ""; }

} // namespace tlsio::dtls
