/// \file
/// tlsio::dtls::acceptor: one UDP socket serving DTLS 1.2 to many peers, handing out
/// streams whose handshake has completed (the seed's `(tls-bind tls host port 'udp)` and
/// tls-accept; RFC 6347).
///
/// Example:
///
///     tlsio::dtls::acceptor udp_acceptor(executor, server_ctx, "", 4433);
///     for (;;) {
///       tlsio::dtls::stream ds = co_await udp_acceptor.async_accept(asio::use_awaitable);
///       auto ex = ds.get_executor();         // the acceptor's strand
///       asio::co_spawn(ex, echo(std::move(ds)), asio::detached);
///     }
///
/// How it works. The acceptor reads its socket from construction on and hands each datagram
/// to the association of its source address. A datagram from an unknown address is dropped
/// unless it is a ClientHello; a ClientHello without a valid cookie is answered with a
/// HelloVerifyRequest (RFC 6347 §4.2.1) no larger than it, and nothing about the peer is
/// kept, so a flood of ClientHellos with forged sources creates no state. A ClientHello
/// that returns a valid cookie starts an association; its handshake runs at once, its
/// retransmissions on the reactor's timers, bounded by the context's handshake timeout.
/// Streams whose handshake completed wait for async_accept().
///
/// Once handed out, an association keeps being served by the acceptor's socket: it answers
/// its peer's retransmitted last flight (the peer missed ours) and queues the peer's
/// messages. It ends on close_notify, on its idle timeout, on a fatal alert, when its
/// stream is closed or destroyed, or when its peer's address starts a new handshake whose
/// cookie verifies (error::peer_reconnected, RFC 6347 §4.2.8). A ClientHello without a
/// valid cookie cannot end it; one replayed from the real client within the cookie's
/// lifetime (60 s in Mbed TLS) can, as §4.2.8 allows. A client that restarts from the same
/// address while its old handshake is still under way replaces that handshake the same way.
///
/// Threads: the acceptor and all its associations run on one strand (get_executor());
/// streams' get_executor() is that strand. Every member but construction, destruction and
/// move may be called from any thread.
#pragma once

#include <tlsio/compat.hpp>
#include <tlsio/context.hpp>
#include <tlsio/dtls/engine.hpp>
#include <tlsio/dtls/stream.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/ip/udp.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace tlsio::dtls {

/// A handshake the acceptor gave up on, as acceptor_options::on_failure receives it.
struct handshake_failure {
  /// Why: error::handshake_timeout, a verification reason, a tlsio::engine_category() alert.
  std::error_code error;
  /// The engine's failure detail, or the error's message.
  std::string detail;
  /// The client's address.
  asio::ip::udp::endpoint peer;
};

/// How an acceptor serves its peers; fixed at construction.
struct acceptor_options {
  /// Handshakes in progress plus streams waiting for async_accept(); past this, ClientHellos
  /// from new addresses are ignored (their clients retransmit).
  std::size_t max_pending = 256;
  /// Associations in all (pending and handed out); past this, ClientHellos from new
  /// addresses are ignored.
  std::size_t max_associations = 4096;
  /// The path MTU of each association, in bytes of UDP payload (engine::set_mtu()).
  std::size_t mtu = engine::default_mtu;
  /// How long an association may stay without an authenticated record from its peer before
  /// it ends with error::idle_timeout (zero: never).
  std::chrono::steady_clock::duration idle_timeout = std::chrono::minutes(2);
  /// Called on the acceptor's strand for each handshake that failed after its cookie
  /// verified (failures() counts them); must not throw. Empty: failures are only counted.
  std::function<void(const handshake_failure &)> on_failure{};
};

namespace detail {
void start_accept(std::shared_ptr<acceptor_state> a, asio::cancellation_slot slot,
                  std::unique_ptr<completion<std::error_code, stream>> done);
asio::any_io_executor executor_of(const std::shared_ptr<acceptor_state> &a);
} // namespace detail

/// A UDP port serving DTLS (see dtls/acceptor.hpp for the whole story).
///
/// Errors: the constructor and local_endpoint() throw std::system_error; async_accept()
/// reports through its completion.
class acceptor {
public:
  /// Binds host:port and starts serving at once.
  ///
  /// \param executor runs the acceptor and its associations (on a strand made from it).
  /// \param ctx a server's context; it is finalized here.
  /// \param host a name or address to bind to (resolved now, blocking), or "" / "*" for
  ///   any IPv6 and IPv4 address (IPv4 only where the system has no IPv6).
  /// \param port a number or a service name; 0 picks a free port (local_endpoint()).
  /// \param options see acceptor_options.
  ///
  /// Throws std::system_error: error::wrong_role for a client's context;
  /// error::dtls_unavailable if the context's backend has no DTLS (OpenSSL);
  /// ctx.finalize()'s errors (error::no_certificate, ...); the resolver's or the socket's
  /// (address_in_use, ...).
  acceptor(const asio::any_io_executor &executor, const context &ctx, std::string_view host,
           std::string_view port, acceptor_options options = {});
  /// As above, with the port as a number.
  acceptor(const asio::any_io_executor &executor, const context &ctx, std::string_view host,
           unsigned short port, acceptor_options options = {})
      : acceptor(executor, ctx, host, std::to_string(port), std::move(options)) {}
  /// Stops accepting: handshakes in progress and streams not yet accepted end, and the
  /// socket closes once the last stream already handed out has ended (those streams go on
  /// working until then).
  ~acceptor();
  /// Takes over `other`'s socket and associations; `other` may then only be destroyed or
  /// assigned to.
  acceptor(acceptor &&other) noexcept;
  /// As the destructor for this acceptor's, then takes over `other`'s.
  acceptor &operator=(acceptor &&other) noexcept;

  /// The strand of the acceptor and of all its streams.
  asio::any_io_executor get_executor() const;
  /// The bound address and port (as bound at construction). Throws std::system_error with
  /// bad_descriptor for a moved-from acceptor.
  asio::ip::udp::endpoint local_endpoint() const;

  /// The next stream whose handshake has completed.
  ///
  /// Completion signature: void(std::error_code, tlsio::dtls::stream). Errors:
  /// asio::error::operation_aborted if cancelled (terminal, partial or total), once close()
  /// has run or the acceptor is destroyed, or after stop_accepting() once nothing more can
  /// come; asio::error::bad_descriptor for a moved-from acceptor. A stream whose peer sent
  /// messages and close_notify before it was accepted is still handed out: its receives
  /// get the messages, then asio::error::eof.
  template <class Token = tlsio::default_token_t<asio::any_io_executor>>
  auto async_accept(Token &&token = {}) {
    return asio::async_initiate<Token, void(std::error_code, stream)>(
        [](auto handler, std::shared_ptr<detail::acceptor_state> a) {
          auto slot = asio::get_associated_cancellation_slot(handler);
          auto ex = detail::executor_of(a);
          detail::start_accept(
              std::move(a), slot,
              detail::make_completion<std::error_code, stream>(std::move(handler), ex));
        },
        token, state_);
  }

  /// Live associations now: handshakes in progress, streams waiting for async_accept() and
  /// streams handed out. A waiting stream whose association already ended (its peer sent
  /// messages and close_notify) is not counted here, though it holds a max_pending place
  /// until accepted.
  std::size_t associations() const noexcept;
  /// Handshakes that failed after their cookie verified, since construction.
  std::size_t failures() const noexcept;
  /// Replaces the configuration for handshakes that start from now on (certificate
  /// reload); running associations keep theirs. Throws as the constructor does for `ctx`.
  void set_context(const context &ctx);
  /// Starts no more handshakes (ClientHellos from new addresses are ignored); handshakes in
  /// progress finish and are handed out, and streams already handed out go on. Pending and
  /// later accepts complete with asio::error::operation_aborted once no handshake is left
  /// under way and no stream waits. The socket stays open, since the streams' datagrams
  /// come through it: its receive keeps the io_context's run() from returning until
  /// close(), or, after the acceptor's destruction, until the last stream it handed out
  /// has ended.
  void stop_accepting();
  /// Ends everything at once: the socket closes and every association ends, handed-out
  /// streams included (their operations fail with asio::error::operation_aborted).
  void close();

private:
  std::shared_ptr<detail::acceptor_state> state_;
};

} // namespace tlsio::dtls
