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
/// The caller may emit its slot from any thread (a timer on another strand, a parallel
/// group), and Asio 1.22's co_spawn acts on an emit on the emitting thread, racing the
/// operation's steps, and throws where nothing catches if the emit comes before the
/// operation has started. So the caller's slot is connected here, once, before anything
/// can complete, to a handler that only posts to `ex`; the operation is spawned from `ex`
/// with a signal of its own, and every emit of that signal happens on `ex`, after the
/// operation's first step.
template <class T, class... Results>
void spawn_operation(const asio::any_io_executor &ex, asio::cancellation_slot slot,
                     asio::awaitable<T> op, std::unique_ptr<completion<Results...>> done) {
  struct cancellation {
    asio::cancellation_signal signal;
    asio::cancellation_type requested = asio::cancellation_type::none;
    bool started = false;
  };
  auto c = std::make_shared<cancellation>();
  if (slot.is_connected())
    slot.assign([c, ex](asio::cancellation_type type) {
      asio::post(ex, [c, type] {
        c->requested |= type;
        if (c->started)
          c->signal.emit(type);
      });
    });
  asio::post(ex, [c, ex, op = std::move(op), done = std::move(done)]() mutable {
    asio::co_spawn(
        ex, std::move(op),
        asio::bind_cancellation_slot(
            c->signal.slot(), [c, done = std::move(done)](std::exception_ptr e, T result) mutable {
              auto results = as_results(std::move(result));
              if (e)
                std::get<0>(results) = error_of(e);
              std::apply([&](auto &&...r) { done->complete(std::move(r)...); }, std::move(results));
            }));
    c->started = true;
    if (c->requested != asio::cancellation_type::none)       // came before the operation: now,
      asio::post(ex, [c] { c->signal.emit(c->requested); }); // after its first step
  });
}

} // namespace tlsio::dtls::detail
