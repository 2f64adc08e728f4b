// One DTLS association driven by the reactor: a dtls::engine, the UDP socket its datagrams
// go out of, its retransmission and idle timers, and the queue of messages it has
// decrypted. Events (a datagram, a timer) step the engine at once, so the association answers
// its peer whether or not an operation waits; operations wait on its state. Everything runs
// on one strand (the client's own, or its acceptor's).
#pragma once

#include <tlsio/dtls/engine.hpp>
#include <tlsio/poll.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <system_error>
#include <tuple>
#include <vector>

namespace tlsio::dtls::detail {

/// What a stream reports about its association, fixed when the handshake completes.
struct handshake_facts {
  std::string version, suite, server_name, alpn;
  bool resumed = false;
  std::optional<session> made; // a client's session to resume next time
  std::optional<certificate_info> peer_certificate;
  asio::ip::udp::endpoint local, remote;
};

class association : public std::enable_shared_from_this<association> {
public:
  using socket_ptr = std::shared_ptr<asio::ip::udp::socket>;

  /// `peer`: where datagrams go with send_to (a server's association on a shared socket);
  /// nothing: the socket is connected (a client's). The socket must be non-blocking.
  association(asio::any_io_executor strand, dtls::engine engine, socket_ptr socket,
              std::optional<asio::ip::udp::endpoint> peer,
              std::chrono::steady_clock::duration idle_timeout);

  const asio::any_io_executor &executor() const noexcept { return strand_; }
  const handshake_facts &facts() const noexcept { return facts_; }
  std::size_t max_message_size() const noexcept { return max_message_size_.load(); }
  bool open() const noexcept { return !closed_; }
  bool ended() const noexcept { return ended_; }
  bool established() const noexcept { return established_; }
  /// Why it ended; empty while it has not.
  std::error_code why() const noexcept { return why_; }
  /// Whether a stream made of it now would deliver something: it is live, or messages or
  /// the peer's close_notify wait to be read.
  bool worth_handing_out() const noexcept {
    return !ended_ || (!closed_ && (!messages_.empty() || why_ == asio::error::eof));
  }
  /// The random of the ClientHello that began this association (the acceptor tells a
  /// retransmission of it from a new handshake by the same address).
  std::array<std::byte, 32> hello_random{};

  // --- Events (on the strand) ---------------------------------------------------------------

  /// A client: read the connected socket from now on, and start the handshake.
  void start_client();
  /// A datagram from the peer (the client's own receive loop, or the acceptor's).
  void on_datagram(std::span<const std::byte> datagram);
  /// Step the engine: handshake or decrypt what has come, send what it queued, rearm timers.
  void advance();
  /// End the association with `why` (asio::error::eof after close_notify); later operations
  /// report it once the queued messages are taken.
  void end(std::error_code why);
  /// The application ended it: operations report operation_aborted, later bad_descriptor.
  void close();

  /// Called once the handshake completes (the acceptor queues the stream).
  std::function<void()> on_established;
  /// Called once when the association ends, with why (the acceptor forgets the peer).
  std::function<void(std::error_code, const std::string &detail)> on_end;

  // --- Operations (coroutines on the strand) ------------------------------------------------

  /// Waits until the handshake is done (no error), the association ended (why) or
  /// `deadline` passed (error::timed_out; the association is then ended).
  asio::awaitable<std::error_code>
  handshake(std::optional<std::chrono::steady_clock::time_point> deadline);
  using deadline = std::optional<std::chrono::steady_clock::time_point>;
  /// send and receive fail with error::timed_out once `limit` passes (nothing taken).
  asio::awaitable<std::tuple<std::error_code, std::size_t>> send(asio::const_buffer message,
                                                                 deadline limit);
  asio::awaitable<std::tuple<std::error_code, std::size_t>> receive(asio::mutable_buffer buffer,
                                                                    deadline limit);
  asio::awaitable<std::error_code> shutdown();
  asio::awaitable<std::tuple<std::error_code, tlsio::wait>>
  poll(tlsio::wait what, std::optional<std::chrono::steady_clock::time_point> deadline);

  /// The engine's failure detail (for a failure callback).
  std::string failure_detail() const { return engine_.failure_detail(); }
  /// Why the association ended, in a sentence; empty while it lives and after a clean end
  /// (close_notify, close()). Safe from any thread.
  std::string end_detail() const {
    std::lock_guard lock(end_detail_mutex_);
    return end_detail_;
  }

private:
  struct message {
    std::vector<std::byte> bytes;
    bool truncated = false;
  };

  asio::awaitable<void> receive_loop();
  void on_handshake_step(step_result r);
  void on_established_now();
  void decrypt_arrived();
  void flush();
  void on_send_error(std::error_code ec);
  void arm_retransmission();
  void arm_idle();
  void notify();
  asio::awaitable<bool> wait_change(); // false if the operation was cancelled
  // Arms `timer` for `limit`: the flag it returns turns true, and waiters wake, once it
  // passes. Shared with the timer's handler, which may run after the operation returned.
  std::shared_ptr<bool> watch(asio::steady_timer &timer, deadline limit);
  std::error_code ended_error() const;

  asio::any_io_executor strand_;
  dtls::engine engine_;
  socket_ptr socket_;
  std::optional<asio::ip::udp::endpoint> peer_;
  std::chrono::steady_clock::duration idle_timeout_;
  asio::steady_timer retransmit_, idle_, changed_;
  std::optional<std::chrono::steady_clock::time_point> retransmit_at_;

  std::deque<message> messages_;
  std::vector<std::byte> scratch_;
  handshake_facts facts_;
  std::atomic<std::size_t> max_message_size_{0}; // read by the stream from any thread
  std::error_code why_;
  mutable std::mutex end_detail_mutex_;
  std::string end_detail_;
  bool established_ = false, ended_ = false, closed_ = false, flushing_ = false;
  std::uint64_t sent_ = 0;          // datagrams handed to the socket (or given up)
  std::uint64_t last_oversize_ = 0; // 1 + the index of the last datagram refused as too large
};

} // namespace tlsio::dtls::detail
