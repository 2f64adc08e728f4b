// Differences between Asio versions, kept in one place.
#pragma once

#include <asio/version.hpp>

// Asio 1.22 (Debian 12) has deferred, as_tuple, parallel_group and the awaitable operators
// only under asio::experimental; later versions moved them into asio::. Code that needs
// them names tlsio::compat:: so it builds with either.
#if __has_include(<asio/deferred.hpp>)
#include <asio/as_tuple.hpp>
#include <asio/deferred.hpp>
namespace tlsio::compat {
using asio::as_tuple;
using asio::deferred;
} // namespace tlsio::compat
#else
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/deferred.hpp>
namespace tlsio::compat {
using asio::experimental::as_tuple;
using asio::experimental::deferred;
} // namespace tlsio::compat
#endif

#if __has_include(<asio/experimental/awaitable_operators.hpp>)
#include <asio/experimental/awaitable_operators.hpp>
namespace tlsio::compat {
namespace awaitable_operators = asio::experimental::awaitable_operators;
} // namespace tlsio::compat
#endif
