// How the DTLS operations compiled in src/dtls/ reach a handler of any type: one virtual
// call per completion, so that the public headers stay light (internal; included by
// dtls/stream.hpp).
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include <memory>
#include <tuple>
#include <utility>

namespace tlsio::dtls::detail {

class association;
struct acceptor_state;

/// The result of a compiled operation, delivered once.
template <class... Results> struct completion {
  virtual ~completion() = default;
  virtual void complete(Results... results) = 0;
};

/// A completion that calls `Handler` through its associated executor (default: the I/O
/// executor), keeping that executor's work alive until then.
template <class Handler, class IoExecutor, class... Results>
class completion_for final : public completion<Results...> {
public:
  completion_for(Handler handler, const IoExecutor &io)
      : handler_(std::move(handler)),
        work_(asio::make_work_guard(asio::get_associated_executor(handler_, io))) {}

  // Posted, never run inline: an operation that fails at once (an empty stream) must not
  // call its handler from inside the initiating function.
  void complete(Results... results) override {
    auto ex = work_.get_executor();
    asio::post(ex, [handler = std::move(handler_),
                    args = std::make_tuple(std::move(results)...)]() mutable {
      std::apply(std::move(handler), std::move(args));
    });
    work_.reset();
  }

private:
  Handler handler_;
  asio::executor_work_guard<asio::associated_executor_t<Handler, IoExecutor>> work_;
};

/// The completion for `handler` of an operation with results `Results...`.
template <class... Results, class Handler, class IoExecutor>
std::unique_ptr<completion<Results...>> make_completion(Handler handler, const IoExecutor &io) {
  return std::make_unique<completion_for<Handler, IoExecutor, Results...>>(std::move(handler), io);
}

} // namespace tlsio::dtls::detail
