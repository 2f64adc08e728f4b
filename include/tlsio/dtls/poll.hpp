/// \file
/// tlsio::async_poll for a DTLS stream: wait until a message is queued or a send would not
/// wait (the seed's tls-poll on a `proto 'udp` connection).
///
///     auto ready = co_await tlsio::async_poll(ds, tlsio::wait::read, 500ms);
///     if (tlsio::contains(ready, tlsio::wait::read))
///       n = co_await ds.async_receive(asio::buffer(buf));    // completes at once
#pragma once

#include <tlsio/dtls/stream.hpp>
#include <tlsio/poll.hpp>

namespace tlsio {

namespace dtls::detail {
void start_poll(const std::shared_ptr<association> &a, wait what,
                tlsio::detail::poll_deadline deadline, asio::cancellation_slot slot,
                std::unique_ptr<completion<std::error_code, wait>> done);
} // namespace dtls::detail

/// Waits until `s` is ready for `what` or the timeout passes.
///
/// wait::read is ready when the stream has a message queued, or has ended (the peer's
/// close_notify, the idle timeout, an alert): async_receive() then completes at once, with
/// the message or the error. wait::write is ready unless the socket's send buffer is full.
/// The truth of "ready" holds until another operation on the stream takes the message.
///
/// \param s a stream; any thread (the poll runs on the stream's strand).
/// \param what wait::read, wait::write or both.
/// \param timeout a std::chrono duration, a time point of the steady or system clock, or
///   tlsio::forever, as for a TLS stream's poll.
/// \param token any completion token.
///
/// Completion signature: void(std::error_code, tlsio::wait): what is ready, or wait::none
/// once the timeout passed. Errors: asio::error::bad_descriptor for an empty stream;
/// asio::error::operation_aborted after cancellation (terminal, partial or total) or if the
/// stream is closed meanwhile.
template <class Timeout, class Token = tlsio::default_token_t<asio::any_io_executor>>
auto async_poll(dtls::stream &s, wait what, Timeout timeout, Token &&token = {}) {
  return asio::async_initiate<Token, void(std::error_code, wait)>(
      [](auto handler, std::shared_ptr<dtls::detail::association> a, wait w,
         tlsio::detail::poll_deadline deadline) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        auto ex = dtls::detail::executor_of(a);
        dtls::detail::start_poll(
            a, w, deadline, slot,
            dtls::detail::make_completion<std::error_code, wait>(std::move(handler), ex));
      },
      token, dtls::detail::state_of(s), what, tlsio::detail::to_deadline(timeout));
}

} // namespace tlsio
