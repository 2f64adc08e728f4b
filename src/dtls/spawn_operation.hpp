// Running one of the DTLS operations (a coroutine on the association's strand) for a
// completion of any type, with the caller's cancellation slot (internal).
#pragma once

#include <tlsio/detail/dtls_operations.hpp>
#include <tlsio/dtls/stream.hpp>

#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>

#include <exception>
#include <memory>
#include <new>
#include <system_error>
#include <tuple>

namespace tlsio::dtls::detail {

/// Builds streams from associations (the stream's constructor is private).
struct stream_access {
  static stream make(std::shared_ptr<association> a) { return stream(std::move(a)); }
  static const std::shared_ptr<association> &state(const stream &s) { return s.state_; }
};

/// The error an exception escaping an operation stands for.
inline std::error_code error_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error &x) {
    return x.code();
  } catch (const std::bad_alloc &) {
    return std::make_error_code(std::errc::not_enough_memory);
  } catch (...) {
    return std::make_error_code(std::errc::state_not_recoverable);
  }
}

inline std::tuple<std::error_code> as_results(std::error_code ec) { return {ec}; }
template <class... T> std::tuple<T...> as_results(std::tuple<T...> t) { return t; }

/// Runs `op` on `ex` (a strand) and hands its result to `done`; `slot` cancels it.
///
/// The caller's slot may be emitted from any thread (a timeout's timer on another strand,
/// say), and Asio 1.22's co_spawn acts on an emit at once, on the emitting thread, racing
/// the operation's own steps (and, before the operation has started, throwing where
/// nothing catches). So the caller's emits are posted to `ex` and reach the operation
/// through a signal of its own there, always after it started.
template <class T, class... Results>
void spawn_operation(const asio::any_io_executor &ex, asio::cancellation_slot slot,
                     asio::awaitable<T> op, std::unique_ptr<completion<Results...>> done) {
  auto signal = std::make_shared<asio::cancellation_signal>();
  asio::co_spawn(
      ex, std::move(op),
      asio::bind_cancellation_slot(
          signal->slot(), [signal, done = std::move(done)](std::exception_ptr e, T result) mutable {
            auto results = as_results(std::move(result));
            if (e)
              std::get<0>(results) = error_of(e);
            std::apply([&](auto &&...r) { done->complete(std::move(r)...); }, std::move(results));
          }));
  // Only now: co_spawn has attached the operation to `signal` (on this thread), so every
  // emit, run on `ex`, comes after.
  if (slot.is_connected())
    slot.assign([signal, ex](asio::cancellation_type type) {
      asio::post(ex, [signal, type] { signal->emit(type); });
    });
}

} // namespace tlsio::dtls::detail
