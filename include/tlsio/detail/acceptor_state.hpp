// The implementation of tlsio::acceptor: the state its accept loop, its handshakes and its
// callers share (internal; included by acceptor.hpp after the options it declares).
#pragma once

#include <tlsio/stream.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

namespace tlsio {

namespace detail {

struct acceptor_state {
  // optional<>: a channel default-constructs its payload, and a stream needs a context.
  using ready_channel =
      asio::experimental::concurrent_channel<void(std::error_code, std::optional<stream<>>)>;

  acceptor_state(const asio::any_io_executor &ex, const context &c, acceptor_options o)
      : executor(ex), strand(asio::make_strand(ex)), ctx(c), options(std::move(o)),
        listener(strand), ready(ex, 64), slot_free(strand), arrived(strand) {
    arrived.expires_at(asio::steady_timer::time_point::max());
  }

  context current_context() const {
    std::lock_guard lock(context_mutex);
    return ctx;
  }
  /// The executor for a new connection: a strand of its own, or the acceptor's executor.
  asio::any_io_executor connection_executor() const {
    if (options.strand_per_connection)
      return asio::make_strand(executor);
    return executor;
  }
  bool is_open() const {
    std::lock_guard lock(mutex);
    return listener.is_open();
  }

  const asio::any_io_executor executor; // as given; get_executor() returns it
  const asio::any_io_executor strand;   // the accept loop and on_failure calls run here
  mutable std::mutex context_mutex;     // set_context may come from another thread
  context ctx;
  const acceptor_options options;
  // close() may come from any thread while the accept loop (on `strand`) and the handshakes
  // (on their connections' strands) use these: every call on them holds `mutex`, including
  // the start of each wait. Handlers run without it. The channel guards itself.
  mutable std::mutex mutex;
  asio::ip::tcp::acceptor listener;
  ready_channel ready;
  asio::steady_timer slot_free; // wakes the accept loop when max_pending is no longer reached
  asio::steady_timer arrived;   // wakes pollers when a stream joins the queue
  /// A handshake in progress and what cancels it: close() emits `cancel` through `executor`
  /// (the connection's), where alone the handshake and `done` are touched.
  struct handshake_in_progress {
    asio::any_io_executor executor;
    asio::cancellation_signal cancel;
    bool done = false;
  };
  using handshake_list = std::list<std::shared_ptr<handshake_in_progress>>;
  handshake_list handshakes;
  std::atomic<std::size_t> pending{0};
  std::atomic<std::size_t> failures{0};
  std::atomic<bool> started{false};
};

asio::ip::tcp::endpoint listen_endpoint(const asio::any_io_executor &ex, std::string_view host,
                                        std::string_view port);

asio::awaitable<void> handshake_one(std::shared_ptr<acceptor_state> state,
                                    asio::ip::tcp::socket socket);
asio::awaitable<void> accept_loop(std::shared_ptr<acceptor_state> state);

struct acceptor_access; // lets poll.hpp wait for the queue

/// async_accept()'s initiation: the next stream from the queue of completed handshakes.
struct initiate_accept {
  template <class Handler>
  void operator()(Handler handler, std::shared_ptr<acceptor_state> state) const {
    auto ex = asio::get_associated_executor(handler, state->executor);
    auto slot = asio::get_associated_cancellation_slot(handler);
    auto deliver = [state, handler = std::move(handler)](std::error_code ec,
                                                         std::optional<stream<>> s) mutable {
      if (!s) { // closed or cancelled: an unconnected stream, and Asio's usual code
        s.emplace(state->current_context(), state->executor);
        if (ec)
          ec = asio::error::operation_aborted; // not the channel's own closed/cancelled
      }
      std::move(handler)(ec, std::move(*s));
    };
    state->ready.async_receive(
        asio::bind_cancellation_slot(slot, asio::bind_executor(ex, std::move(deliver))));
  }
};

} // namespace detail

} // namespace tlsio
