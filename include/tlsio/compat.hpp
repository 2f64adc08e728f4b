/// \file
/// tlsio::compat: names that differ between Asio versions, so that code (tlsio's, and yours)
/// builds with Debian 12's Asio 1.22 and with later versions alike.
///
/// Asio 1.22 has deferred, as_tuple and the awaitable operators only under
/// asio::experimental; later versions moved the first two into asio::. And on Asio 1.22 an
/// executor has no default completion token (asio::default_completion_token_t is void), so an
/// asynchronous call without a token does not compile; tlsio's members default to
/// tlsio::default_token_t instead.
///
/// Example:
///
///     auto [ec, n] = co_await s.async_read_some(buf,
///     tlsio::compat::as_tuple(asio::use_awaitable)); std::size_t m = co_await
///     s.async_read_some(buf); // the default token: asio::use_awaitable
///
#pragma once

#include <asio/async_result.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/version.hpp>

#include <type_traits>

#if __has_include(<asio/deferred.hpp>)
#include <asio/as_tuple.hpp>
#include <asio/deferred.hpp>
namespace tlsio::compat {
/// asio::as_tuple (asio::experimental::as_tuple on Asio 1.22): a token adapter that passes
/// the error code in the result instead of throwing it.
using asio::as_tuple;
/// asio::deferred (asio::experimental::deferred on Asio 1.22): a token that makes the
/// operation a function object, started when it is called or awaited.
using asio::deferred;
} // namespace tlsio::compat
#else
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/deferred.hpp>
namespace tlsio::compat {
/// asio::as_tuple (asio::experimental::as_tuple on Asio 1.22): a token adapter that passes
/// the error code in the result instead of throwing it.
using asio::experimental::as_tuple;
/// asio::deferred (asio::experimental::deferred on Asio 1.22): a token that makes the
/// operation a function object, started when it is called or awaited.
using asio::experimental::deferred;
} // namespace tlsio::compat
#endif

#if __has_include(<asio/experimental/awaitable_operators.hpp>)
#include <asio/experimental/awaitable_operators.hpp>
namespace tlsio::compat {
/// asio::experimental::awaitable_operators: `a || b` waits for the first of two awaitables
/// and cancels the other; `a && b` waits for both.
namespace awaitable_operators = asio::experimental::awaitable_operators;
} // namespace tlsio::compat
#endif

namespace tlsio {

/// The completion token an asynchronous tlsio member uses when it is given none: the
/// executor's own default if it names one (e.g. a socket made with
/// asio::use_awaitable_t<>::as_default_on), else asio::use_awaitable, so that
/// `co_await s.async_read_some(buf)` works in an asio::awaitable coroutine.
template <class Executor>
using default_token_t =
    std::conditional_t<std::is_void_v<asio::default_completion_token_t<Executor>>,
                       asio::use_awaitable_t<>, asio::default_completion_token_t<Executor>>;

} // namespace tlsio
