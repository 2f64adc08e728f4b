// Running an asynchronous operation under a time limit (internal).
#pragma once

#include <tlsio/error.hpp>

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/error.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <memory>

namespace tlsio::detail {

/// Starts initiate(handler) with a handler whose cancellation slot a timer can trigger: if
/// the operation has not completed after `timeout`, it is cancelled (terminal) and completes
/// with error::timed_out. Cancellation from the caller's own slot still works.
template <class Signature, class Executor, class Initiate, class Token>
auto with_timeout(const Executor &executor, std::chrono::steady_clock::duration timeout,
                  Initiate initiate, Token &&token) {
  return asio::async_initiate<Token, Signature>(
      [](auto handler, const Executor &ex, std::chrono::steady_clock::duration limit,
         Initiate start) {
        struct shared {
          explicit shared(const asio::any_io_executor &e) : timer(e) {}
          asio::steady_timer timer;
          asio::cancellation_signal signal;
          // Set by the expiry, read by the completion: on an executor that is not a strand
          // the two may run on two threads at once.
          std::atomic<bool> expired = false;
        };
        auto handler_ex = asio::get_associated_executor(handler, ex);
        auto st = std::make_shared<shared>(ex);
        auto caller_slot = asio::get_associated_cancellation_slot(handler);
        if (caller_slot.is_connected())
          caller_slot.assign([st](asio::cancellation_type type) { st->signal.emit(type); });
        st->timer.expires_after(limit);
        // The expiry runs where the handler does (on its strand, if it has one): it cancels
        // the operation, which must not race with the operation's own steps.
        st->timer.async_wait(asio::bind_executor(handler_ex, [st](std::error_code ec) {
          if (!ec) {
            st->expired = true;
            st->signal.emit(asio::cancellation_type::terminal);
          }
        }));
        auto complete = [st, caller_slot, handler = std::move(handler)](std::error_code ec,
                                                                        auto... results) mutable {
          st->timer.cancel();
          if (caller_slot.is_connected())
            caller_slot.clear();
          if (st->expired && ec == asio::error::operation_aborted)
            ec = error::timed_out;
          std::move(handler)(ec, std::move(results)...);
        };
        start(asio::bind_cancellation_slot(st->signal.slot(),
                                           asio::bind_executor(handler_ex, std::move(complete))));
      },
      token, executor, timeout, std::move(initiate));
}

} // namespace tlsio::detail
