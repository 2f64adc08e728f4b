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
/// number above 65535; error::wrong_role for a server's context. The stream handed over on
/// failure is unconnected (its socket closed); its failure_detail() says more about a TLS
/// failure.
///
/// Session cache: with context::enable_session_cache() on and no options.resume, the
/// session cached under "name:port" (name as verified, port as given, so "443" and "https"
/// are different keys) is offered, and the new one is cached after the handshake. This holds
/// for every form below, the blocking one included.
#pragma once

#include <tlsio/compat.hpp>
#include <tlsio/stream.hpp>

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace tlsio {

/// What async_connect and connect may do beyond the defaults. Every member is optional, and
/// a value or a view: the call copies what they refer to before it returns, so a braced
/// temporary (`{.server_name = name, .resume = session}`) is fine even in a co_await
/// expression; a named options variable must not outlive what its views refer to. The trap:
/// `connect_options o{.server_name = make_name()};` views a std::string that dies at the end
/// of that declaration; keep the name in a named std::string first.
struct connect_options {
  /// The name to verify and send as SNI, if not the host connected to.
  std::optional<std::string_view> server_name{};
  /// A bound on resolve + connect + handshake together, counted from the call;
  /// error::timed_out when it passes. With `deadline` too, the earlier applies. The
  /// context's handshake timeout still bounds the handshake.
  std::optional<std::chrono::steady_clock::duration> timeout{};
  /// The same bound as an absolute time of the steady clock.
  std::optional<std::chrono::steady_clock::time_point> deadline{};
  /// A session to offer for resumption (from an earlier stream's engine().get_session()).
  /// Without one, a context with enable_session_cache() offers its last session for the
  /// same server name and port (server_name if given, else the host).
  std::optional<std::reference_wrapper<const session>> resume{};
};
// GCC 12 destroys a braced temporary in an expression with co_await twice (once member by
// member); with nothing to destroy, `co_await async_connect(ctx, h, p, {.resume = s})` is safe.
static_assert(std::is_trivially_destructible_v<connect_options>);

} // namespace tlsio

// The implementation, after the options it uses.
#include <tlsio/detail/connect_operation.hpp>

namespace tlsio {

/// Resolves host, connects to port and performs the TLS handshake as a client.
///
/// \param executor the executor the connect runs on, which becomes the stream's
///   executor (pass a strand to have the stream on one).
/// \param ctx a client's context (copied; finalized by the handshake).
/// \param host a DNS name or an IP literal (IPv6 with or without brackets): connected to,
///   verified and sent as SNI as described at the top of connect.hpp.
/// \param port a number or a service name.
/// \param options a deadline, another name to verify, a session to resume.
/// \param token any completion token; by default tlsio::default_token_t.
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
/// Cancellation: terminal cancellation through the handler's slot aborts whichever step
/// is under way and completes with asio::error::operation_aborted. Thread safety: the
/// call may be made from any thread; the context may be shared.
template <class Executor, class Token = tlsio::default_token_t<Executor>>
auto async_connect(const Executor &executor, const context &ctx, std::string_view host,
                   std::string_view port, connect_options options, Token &&token = {}) {
  return asio::async_initiate<Token, void(std::error_code, stream<>)>(
      detail::initiate_connect<Executor>{}, token, executor, ctx,
      detail::connect_request(host, port, options));
}

/// As async_connect() above, with default options.
template <class Executor, class Token = tlsio::default_token_t<Executor>>
requires(!std::is_convertible_v<Token, connect_options>) auto async_connect(
    const Executor &executor, const context &ctx, std::string_view host, std::string_view port,
    Token &&token = {}) {
  return async_connect(executor, ctx, host, port, connect_options{}, std::forward<Token>(token));
}

/// In a coroutine: connects on the coroutine's own executor and returns the connected
/// stream; throws tlsio::tls_error on failure, with the error as code() and a what() that
/// names the host, the port and the reason ("connecting to example.com port 443: host
/// name mismatch: expected example.com, certificate is for DNS:localhost"). Otherwise as
/// the async_connect() above. Not itself a coroutine: the options' views are copied when it
/// is called, not when the awaitable it returns first runs.
asio::awaitable<stream<>> async_connect(const context &ctx, std::string_view host,
                                        std::string_view port, connect_options options = {});

/// Blocking: resolve, connect and handshake, by running `io` on the calling thread until
/// they are done (other handlers queued on `io` may run meanwhile; a stopped `io` is
/// restarted). For simple programs without an event loop; `io` becomes the stream's
/// executor. Takes the options async_connect() takes, deadline included (without one, the
/// context's handshake timeout bounds the handshake alone), and uses the session cache as
/// it does.
///
/// Returns the stream: connected, or on failure unconnected (its socket closed), with the
/// error in `ec` (cleared on success): those of async_connect(), or
/// asio::error::operation_aborted if `io` is stopped by another thread first. Must not be
/// called from a handler running on `io`.
stream<> connect(asio::io_context &io, const context &ctx, std::string_view host,
                 std::string_view port, const connect_options &options, std::error_code &ec);
/// As connect() above, with default options.
stream<> connect(asio::io_context &io, const context &ctx, std::string_view host,
                 std::string_view port, std::error_code &ec);
/// As connect() above, throwing tlsio::tls_error on failure (its what() as for the
/// coroutine form of async_connect()).
stream<> connect(asio::io_context &io, const context &ctx, std::string_view host,
                 std::string_view port, const connect_options &options = {});

} // namespace tlsio
