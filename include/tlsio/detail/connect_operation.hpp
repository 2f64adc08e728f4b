// The implementation of tlsio::async_connect: the request it copies, and how the operation
// compiled in src/connect.cpp reaches a handler of any type (internal; included by
// connect.hpp after the options it declares).
#pragma once

#include <tlsio/stream.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tlsio {

namespace detail {

/// connect_options with what the views refer to copied, for the operation to keep.
struct connect_request {
  connect_request(std::string_view host, std::string_view port, const connect_options &o);
  std::string host, port;
  std::optional<std::string> server_name;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::optional<session> resume;
};

/// How the library's connect operation (compiled once, in src/connect.cpp) hands its result
/// to a handler of any type: one virtual call, so that headers stay light.
struct connect_completion {
  virtual ~connect_completion() = default;
  virtual void complete(std::error_code ec, stream<> s) = 0;
};

/// Starts resolve + connect + handshake on `ex`; calls done->complete() on `ex` once.
/// Terminal cancellation through `slot` aborts it with asio::error::operation_aborted.
void start_connect(const asio::any_io_executor &ex, asio::cancellation_slot slot,
                   const context &ctx, connect_request request,
                   std::unique_ptr<connect_completion> done);

template <class Handler, class IoExecutor>
class connect_completion_for final : public connect_completion {
public:
  connect_completion_for(Handler handler, const IoExecutor &io)
      : handler_(std::move(handler)),
        work_(asio::make_work_guard(asio::get_associated_executor(handler_, io))) {}

  void complete(std::error_code ec, stream<> s) override {
    auto ex = work_.get_executor();
    asio::dispatch(ex, [handler = std::move(handler_), ec, s = std::move(s)]() mutable {
      std::move(handler)(ec, std::move(s));
    });
    work_.reset();
  }

private:
  Handler handler_;
  asio::executor_work_guard<asio::associated_executor_t<Handler, IoExecutor>> work_;
};

/// async_connect()'s initiation: the operation compiled in src/connect.cpp, completing
/// through the handler's associated executor.
template <class Executor> struct initiate_connect {
  template <class Handler>
  void operator()(Handler handler, const Executor &ex, const context &c, connect_request r) const {
    auto slot = asio::get_associated_cancellation_slot(handler);
    using completion = connect_completion_for<Handler, Executor>;
    start_connect(ex, slot, c, std::move(r), std::make_unique<completion>(std::move(handler), ex));
  }
};

tls_error connect_error(const std::error_code &ec, const stream<> &s, std::string_view host,
                        std::string_view port);

} // namespace detail

} // namespace tlsio
