/// \file
/// tlsio::async_connect and tlsio::connect: resolve, connect and handshake in one call
/// (the seed's tls-connect).
///
/// Example:
///
///     tlsio::context ctx{tlsio::role::client};
///     tlsio::stream<> s = co_await tlsio::async_connect(ctx, "example.com", "https");
///
/// host is a DNS name, an IPv4 literal ("127.0.0.1") or an IPv6 literal with or without
/// brackets ("::1", "[::1]"); port is a number or a service name ("443", "https"). Each
/// resolved address is tried in turn. The server's certificate chain is verified, and so is
/// the host: a name against the certificate's DNS names (and sent as SNI), an IP literal
/// against its IP addresses (and never sent as SNI).
///
/// Errors: resolver and socket errors keep Asio's codes; TLS failures are tlsio::error
/// values (error::host_name_mismatch, error::untrusted_issuer, ...) or engine codes;
/// error::timed_out if the options' deadline passes first; error::invalid_port for a port
/// number above 65535; error::wrong_role for a server's context. The stream handed to the handler
/// on failure is unconnected; its failure_detail() says more about a TLS failure.
#pragma once

#include <tlsio/detail/asio_compat.hpp>
#include <tlsio/stream.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>

namespace tlsio {

/// What tlsio::async_connect may do beyond the defaults. Every member is optional.
struct connect_options {
  /// The name to verify and send as SNI, if not the host connected to.
  std::optional<std::string> server_name{};
  /// A bound on resolve + connect + handshake together, counted from when the connect
  /// starts; error::timed_out when it passes. With `deadline` too, the earlier applies.
  /// The context's handshake timeout still bounds the handshake.
  std::optional<std::chrono::steady_clock::duration> timeout{};
  /// The same bound as an absolute time of the steady clock.
  std::optional<std::chrono::steady_clock::time_point> deadline{};
  /// A session to offer for resumption (from an earlier stream's engine().get_session()).
  /// Without one, a context with enable_session_cache() offers its last session for the
  /// same server name and port (server_name if given, else the host).
  std::optional<session> resume{};
};

namespace detail {

/// A port given as digits must fit in 16 bits: the resolver would wrap "99999" to 34463.
inline std::error_code check_port(std::string_view port) {
  if (port.empty() || port.find_first_not_of("0123456789") != std::string_view::npos)
    return {}; // a service name, which the resolver looks up
  auto digits = port.substr(std::min(port.find_first_not_of('0'), port.size()));
  if (digits.size() > 5 || (digits.size() == 5 && digits > "65535"))
    return error::invalid_port;
  return {};
}

/// "[::1]" -> "::1": brackets belong to URLs, not to the resolver.
inline std::string unbracket(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return std::string(host);
}

inline std::optional<std::chrono::steady_clock::time_point>
connect_deadline(const connect_options &o) {
  std::optional<std::chrono::steady_clock::time_point> d = o.deadline;
  if (o.timeout) {
    auto relative = std::chrono::steady_clock::now() + *o.timeout;
    d = d ? std::min(*d, relative) : relative;
  }
  return d;
}

inline asio::awaitable<std::error_code> resolve_connect_handshake(const context &ctx, stream<> &s,
                                                                  std::string host,
                                                                  std::string port,
                                                                  connect_options options) {
  if (auto ec = check_port(port))
    co_return ec;
  if (ctx.get_role() != role::client)
    co_return make_error_code(error::wrong_role);
  auto token = compat::as_tuple(asio::use_awaitable);
  asio::ip::tcp::resolver resolver(s.get_executor());
  auto [resolve_ec, endpoints] = co_await resolver.async_resolve(unbracket(host), port, token);
  if (resolve_ec)
    co_return resolve_ec;
  auto [connect_ec, endpoint] = co_await asio::async_connect(s.next_layer(), endpoints, token);
  if (connect_ec)
    co_return connect_ec;
  auto name = options.server_name ? *options.server_name : host;
  s.set_server_name(name);
  // Keyed by the name that is verified, not by the address reached.
  auto server = name + ":" + port;
  if (!options.resume)
    options.resume = ctx.cached_session(server);
  if (options.resume)
    s.engine().set_session(*options.resume);
  auto [handshake_ec] = co_await s.async_handshake(token);
  if (!handshake_ec)
    if (auto session = s.engine().get_session())
      ctx.cache_session(server, *session);
  co_return handshake_ec;
}

// optional<>: co_spawn default-constructs the result, and a stream needs a context.
using connect_result = std::tuple<std::error_code, std::optional<stream<>>>;

inline asio::awaitable<connect_result>
connect_coroutine(const context ctx, std::string host, std::string port, connect_options options) {
  auto executor = co_await asio::this_coro::executor;
  stream<> s(ctx, executor);
  auto deadline = connect_deadline(options);
  std::error_code ec;
  if (!deadline) {
    ec = co_await resolve_connect_handshake(ctx, s, std::move(host), std::move(port), options);
  } else {
    using namespace compat::awaitable_operators;
    asio::steady_timer timer(executor, *deadline);
    auto first =
        co_await (resolve_connect_handshake(ctx, s, std::move(host), std::move(port), options) ||
                  timer.async_wait(asio::use_awaitable));
    ec = first.index() == 0 ? std::get<0>(first) : make_error_code(error::timed_out);
  }
  if (ec) {
    std::error_code ignored;
    s.lowest_layer().close(ignored);
  }
  co_return connect_result(ec, std::move(s));
}

} // namespace detail

/// Resolves host, connects to port and performs the TLS handshake as a client.
///
/// \param executor the executor the connect runs on, which becomes the stream's
///   executor (pass a strand to have the stream on one).
/// \param ctx a client's context (copied; finalized by the handshake).
/// \param host a DNS name or an IP literal (IPv6 with or without brackets): connected to,
///   verified and sent as SNI as described at the top of connect.hpp.
/// \param port a number or a service name.
/// \param options a deadline, another name to verify, a session to resume.
/// \param token any completion token.
///
/// Completion signature: void(std::error_code, tlsio::stream<>). On success the stream is
/// connected; on failure it is unconnected (its socket closed) and its failure_detail()
/// says more about a TLS failure. The handler runs on its associated executor, by default
/// `executor`.
///
/// Errors: error::invalid_port, error::wrong_role, the resolver's and the socket's Asio
/// codes, the handshake's (a verification reason, error::handshake_timeout, an
/// engine_category() code, ...), error::timed_out, std::errc::not_enough_memory if
/// allocation fails.
///
/// Session cache: with context::enable_session_cache() on and no options.resume, the
/// session cached under "name:port" (name as verified, port as given, so "443" and
/// "https" are different keys) is offered, and the new one is cached after the
/// handshake.
///
/// Cancellation: terminal cancellation through the handler's slot aborts whichever step
/// is under way and completes with asio::error::operation_aborted. Thread safety: the
/// call may be made from any thread; the context may be shared.
template <class Executor, class Token = asio::default_completion_token_t<Executor>>
auto async_connect(const Executor &executor, const context &ctx, std::string_view host,
                   std::string_view port, connect_options options, Token &&token = {}) {
  return asio::async_initiate<Token, void(std::error_code, stream<>)>(
      [](auto handler, const Executor &ex, const context &c, std::string h, std::string p,
         connect_options o) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        auto handler_ex = asio::get_associated_executor(handler, ex);
        auto complete = [handler = std::move(handler), ex,
                         c](std::exception_ptr e, detail::connect_result result) mutable {
          auto &[ec, s] = result;
          if (e) // only allocation failures can land here; report them as an error code
            ec = make_error_code(std::errc::not_enough_memory);
          if (!s)
            s.emplace(c, ex);
          std::move(handler)(ec, std::move(*s));
        };
        asio::co_spawn(ex, detail::connect_coroutine(c, std::move(h), std::move(p), std::move(o)),
                       asio::bind_cancellation_slot(
                           slot, asio::bind_executor(handler_ex, std::move(complete))));
      },
      token, executor, ctx, std::string(host), std::string(port), std::move(options));
}

/// As async_connect() above, with default options.
template <class Executor, class Token = asio::default_completion_token_t<Executor>>
requires(!std::is_same_v<std::decay_t<Token>, connect_options>) auto async_connect(
    const Executor &executor, const context &ctx, std::string_view host, std::string_view port,
    Token &&token = {}) {
  return async_connect(executor, ctx, host, port, connect_options{}, std::forward<Token>(token));
}

namespace detail {
inline tls_error connect_error(const std::error_code &ec, const stream<> &s, std::string_view host,
                               std::string_view port) {
  auto detail = s.failure_detail();
  return tls_error(ec, "connecting to " + std::string(host) + " port " + std::string(port) + ": " +
                           (detail.empty() ? ec.message() : detail));
}
} // namespace detail

/// In a coroutine: connects on the coroutine's own executor and returns the connected
/// stream; throws tlsio::tls_error on failure, with the error as code() and a what() that
/// names the host, the port and the reason ("connecting to example.com port 443: host
/// name mismatch: expected example.com, certificate is for DNS:localhost"). Otherwise as
/// the async_connect() above.
///
/// GCC 12 destroys a braced temporary twice when it stands in an expression with co_await
/// (co_await async_connect(ctx, h, p, {.resume = s}) frees the session early). With GCC 12,
/// pass options as a named variable.
inline asio::awaitable<stream<>> async_connect(const context &ctx, std::string_view host,
                                               std::string_view port, connect_options options) {
  auto executor = co_await asio::this_coro::executor;
  auto [ec, s] = co_await async_connect(executor, ctx, host, port, std::move(options),
                                        compat::as_tuple(asio::use_awaitable));
  if (ec)
    throw detail::connect_error(ec, s, host, port);
  co_return std::move(s);
}

/// The same without options (an overload, not a default argument, for the reason above).
inline asio::awaitable<stream<>> async_connect(const context &ctx, std::string_view host,
                                               std::string_view port) {
  connect_options options;
  co_return co_await async_connect(ctx, host, port, options);
}

/// Blocking: resolve, connect and handshake on the calling thread (the context's
/// handshake timeout bounds the handshake; the connect itself is the system's). For simple
/// programs without an event loop: `io` need not run; it becomes the stream's executor.
/// `host` is verified and sent as SNI as for async_connect(); there are no options and no
/// session cache. The context must be a client's.
///
/// Returns the stream: connected, or on failure not connected, with the error in `ec`
/// (cleared on success): the resolver's, the socket's or the handshake's, as for
/// async_connect(). The stream's failure_detail() says more about a TLS failure; after a
/// failed handshake its socket is still open until the stream is destroyed.
inline stream<> connect(asio::io_context &io, const context &ctx, std::string_view host,
                        std::string_view port, std::error_code &ec) {
  stream<> s(ctx, io);
  asio::ip::tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(detail::unbracket(host), port, ec);
  if (!ec)
    asio::connect(s.next_layer(), endpoints, ec);
  if (!ec) {
    s.set_server_name(host);
    s.handshake(ec);
  }
  return s;
}

/// As connect() above, throwing tlsio::tls_error on failure (its what() as for the
/// coroutine form of async_connect()).
inline stream<> connect(asio::io_context &io, const context &ctx, std::string_view host,
                        std::string_view port) {
  std::error_code ec;
  auto s = connect(io, ctx, host, port, ec);
  if (ec)
    throw detail::connect_error(ec, s, host, port);
  return s;
}

} // namespace tlsio
