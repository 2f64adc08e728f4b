/// \file
/// tlsio::dtls::async_connect: resolve a host, connect a UDP socket and run the DTLS 1.2
/// handshake (the seed's `(tls-connect tls host port 'udp)`; RFC 6347).
///
/// Example, in a coroutine (client_ctx: a tlsio::context{tlsio::role::client} that trusts the
/// server's CA):
///
///     namespace dtls = tlsio::dtls;
///     dtls::stream ds = co_await dtls::async_connect(client_ctx, "localhost", "4433");
///
/// The address family is tried in the resolver's order: an address that answers with ICMP
/// port unreachable is left for the next; one that stays silent holds the connect until
/// the handshake timeout or the connect's own timeout.
///
/// Session cache: with context::enable_session_cache() on and no options.resume, the
/// session cached under "name:port/udp" (name as verified, port as given) is offered and
/// the new one cached after the handshake; the "/udp" keeps DTLS sessions apart from the
/// TLS ones tlsio::async_connect caches under "name:port". The server resumes it if its
/// context has enable_session_tickets() (RFC 5077); stream::resumed() tells.
#pragma once

#include <tlsio/context.hpp>
#include <tlsio/dtls/engine.hpp>
#include <tlsio/dtls/stream.hpp>

#include <asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace tlsio::dtls {

/// The choices of one async_connect() beyond the host and port.
struct connect_options {
  /// The name to verify and send as SNI, if not the host connected to.
  std::optional<std::string_view> server_name{};
  /// A bound on resolve + handshake together, counted from the call; error::timed_out when
  /// it passes. With `deadline` too, the earlier applies. The context's handshake timeout
  /// still bounds the handshake (error::handshake_timeout).
  std::optional<std::chrono::steady_clock::duration> timeout{};
  /// The same bound as an absolute time of the steady clock.
  std::optional<std::chrono::steady_clock::time_point> deadline{};
  /// The path MTU, in bytes of UDP payload (see engine::set_mtu()).
  std::size_t mtu = engine::default_mtu;
  /// How long the association may stay without an authenticated record from the server
  /// before it ends with error::idle_timeout (zero: never).
  std::chrono::steady_clock::duration idle_timeout = std::chrono::minutes(2);
  /// A session to offer for resumption (from an earlier DTLS stream's get_session()). It is
  /// offered only on this context and for the server name it was verified for (the host,
  /// or server_name); otherwise the handshake is a full one, which verifies the server
  /// afresh (stream::resumed() tells). Without one, a context with enable_session_cache()
  /// offers its last DTLS session for the same server name and port.
  std::optional<std::reference_wrapper<const session>> resume{};
};
// As tlsio::connect_options: safe as a braced temporary in a co_await expression (GCC 12).
static_assert(std::is_trivially_destructible_v<connect_options>);

namespace detail {

/// connect_options with the host, port and name copied, for the operation to keep.
struct connect_request {
  connect_request(std::string_view h, std::string_view p, const connect_options &o)
      : host(h), port(p), mtu(o.mtu), idle_timeout(o.idle_timeout) {
    if (o.resume)
      resume.emplace(o.resume->get());
    if (o.server_name)
      server_name = std::string(*o.server_name);
    if (o.timeout)
      deadline = limit_after(*o.timeout); // nothing for a timeout past the clock's end
    if (o.deadline && (!deadline || *o.deadline < *deadline))
      deadline = o.deadline;
  }
  std::string host, port;
  std::optional<std::string> server_name;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::size_t mtu;
  std::chrono::steady_clock::duration idle_timeout;
  std::optional<session> resume;
};

void start_connect(const asio::any_io_executor &ex, asio::cancellation_slot slot,
                   const context &ctx, connect_request request,
                   std::unique_ptr<completion<std::error_code, stream>> done);

} // namespace detail

/// Resolves host:port, connects a UDP socket of the stream's own to the first address that
/// does not refuse, and completes the handshake: the stream is verified (chain and host
/// name, unless the context turned verification off) and ready.
///
/// \param executor runs the stream (on a strand made from it).
/// \param ctx a client's context.
/// \param host a name or address; verified against the certificate unless
///   options.server_name says otherwise.
/// \param port a number or a service name.
/// \param options see connect_options.
/// \param token any completion token.
///
/// Completion signature: void(std::error_code, tlsio::dtls::stream), an empty stream on
/// error. Errors: the resolver's (asio::error::host_not_found, ...);
/// asio::error::connection_refused (every address answered ICMP port unreachable);
/// error::handshake_timeout (the context's bound; a server that never answers);
/// error::timed_out (the options' bound); the handshake's (verification reasons such as
/// error::host_name_mismatch, tlsio::engine_category() alerts); error::dtls_unavailable on
/// a context whose backend has no DTLS (OpenSSL); error::wrong_role for a server's context;
/// asio::error::operation_aborted after terminal cancellation.
///
/// Threads: may be called from any thread.
template <class Executor, class Token = tlsio::default_token_t<Executor>>
auto async_connect(const Executor &executor, const context &ctx, std::string_view host,
                   std::string_view port, connect_options options, Token &&token = {}) {
  return asio::async_initiate<Token, void(std::error_code, stream)>(
      [](auto handler, const Executor &ex, const context &c, detail::connect_request r) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        detail::start_connect(
            ex, slot, c, std::move(r),
            detail::make_completion<std::error_code, stream>(std::move(handler), ex));
      },
      token, executor, ctx, detail::connect_request(host, port, options));
}

/// async_connect() with the default options.
template <class Executor, class Token = tlsio::default_token_t<Executor>>
requires(!std::is_convertible_v<Token, connect_options>) auto async_connect(
    const Executor &executor, const context &ctx, std::string_view host, std::string_view port,
    Token &&token = {}) {
  return async_connect(executor, ctx, host, port, connect_options{}, std::forward<Token>(token));
}

/// In a coroutine, on the coroutine's executor: returns the stream, or throws
/// tlsio::tls_error whose what() names host, port and the failure's detail (its code()
/// is the error above).
asio::awaitable<stream> async_connect(const context &ctx, std::string_view host,
                                      std::string_view port, connect_options options = {});

} // namespace tlsio::dtls
