// The DTLS 1.2 engine on Mbed TLS 2.28: one association (internal). Each member keeps the
// contract of the public member of that name in tlsio/dtls/engine.hpp.
#pragma once

#include "../context_impl.hpp"
#include "../mbed_object.hpp"
#include "../peer_name.hpp"
#include "peer_verifier.hpp"

#include <tlsio/dtls/engine.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tlsio::dtls {

struct engine::impl {
  impl(std::shared_ptr<context::impl> ctx, std::function<clock::time_point()> now);
  impl(const impl &) = delete;
  impl &operator=(const impl &) = delete;

  step_result handshake();
  step_result send(std::span<const std::byte> message);
  step_result receive(std::span<std::byte> buffer);
  step_result shutdown();
  step_result on_timeout();
  std::optional<clock::time_point> next_timeout() const;

  void set_server_name(std::string_view name);
  void set_client_id(std::span<const std::byte> id);
  void set_mtu(std::size_t bytes);
  void put_datagram(std::span<const std::byte> datagram);
  std::size_t max_message_size() const noexcept;
  bool cookie_verified() const noexcept;
  std::string alpn_protocol() const;

  // Resumption (mbedtls_dtls_sessions.cpp).
  void set_session(const session &s);
  std::optional<session> get_session() const;
  /// Client, at the first step: hands the session set to Mbed TLS if it may resume here.
  void offer_session();
  /// Client, once the handshake is done: the session made or resumed, into the cache too.
  void keep_session();
  /// A fatal failure ends resumption of the session offered and the one made (RFC 5246
  /// §7.2.2); lost datagrams do not.
  void forbid_resumption(std::error_code why);
  std::error_code verification_result() const noexcept { return verifier_.result(*ssl_.get()); }

  step_result fail(std::error_code ec, std::string detail = {});
  /// Fails with an Mbed TLS error, sending the fatal alert that fits if Mbed TLS sent none.
  step_result fail(int mbedtls_code);
  void send_fatal_alert(unsigned char description);
  /// The description of the alert last queued, if it went out in plain text.
  std::optional<unsigned char> last_alert_sent() const;
  /// Server, before a valid cookie: answers each first ClientHello waiting with a
  /// HelloVerifyRequest of its own, statelessly (RFC 6347 §4.2.1), and drops anything
  /// else. True once a ClientHello whose cookie verifies is first in the input (for Mbed
  /// TLS to take); false when the input is used up.
  bool screen_client_hellos();
  /// The handshake steps, by hand: the peer's certificate is judged as soon as it is read,
  /// and a server notes when a cookie has been verified.
  step_result run_handshake();
  /// Runs an Mbed TLS call (a handshake step, a read) again while it says WANT_READ
  /// though datagrams wait: it took one that held nothing for it (a duplicate dropped, a
  /// retransmission answered). Returns its last result.
  template <class Call> int while_input_waits(Call call) {
    int ret = 0;
    for (std::size_t pass = 0; pass < max_queued_datagrams + 2; ++pass) {
      reported_want_input_ = false;
      ret = call();
      if (ret != MBEDTLS_ERR_SSL_WANT_READ || reported_want_input_ || input_.empty())
        return ret;
    }
    return ret;
  }
  /// The handshake has begun (a client's first step, a server's valid cookie): it must
  /// end within the context's handshake timeout.
  void start_deadline();
  /// Server, after a HelloVerifyRequest: forget the ClientHello (RFC 6347 §4.2.1), keeping
  /// only what the next one needs (the client's id, the MTU).
  step_result forget_client_hello();
  /// The rest of a message longer than the caller's buffer, dropped.
  void discard_rest_of_message();
  step_result read_failure(int ret);

  // Mbed TLS's transport: one datagram per call each way, and the timer on now_.
  static int send_datagram(void *self, const unsigned char *data, std::size_t size);
  static int receive_datagram(void *self, unsigned char *data, std::size_t size);
  static void set_timer(void *self, std::uint32_t intermediate_ms, std::uint32_t final_ms);
  static int get_timer(void *self);

  std::shared_ptr<context::impl> context_;
  std::function<clock::time_point()> now_;
  std::string server_name_;
  std::optional<detail::ip_address> server_ip_;
  detail::ssl_context ssl_;
  detail::peer_verifier verifier_{*context_, server_name_, server_ip_};
  std::vector<unsigned char> client_id_;
  std::uint16_t mtu_ = static_cast<std::uint16_t>(default_mtu);

  std::shared_ptr<const session::impl> offered_session_;
  // Made once when a client's handshake completes; read-only after (any thread may copy it).
  std::shared_ptr<session::impl> own_session_;
  std::string cache_key_;
  bool resumed_ = false;

  std::deque<std::vector<std::byte>> input_;
  std::deque<std::vector<std::byte>> output_;
  // Whether receive_datagram found the input empty during the current Mbed TLS call.
  bool reported_want_input_ = false;
  // Whether the last datagram queued starts with an alert: Mbed TLS sends some fatal
  // alerts itself, and a peer must get only one.
  bool alert_was_last_ = false;

  // Mbed TLS's retransmission timer (mbedtls_ssl_set_timer_t): its two delays, from when it
  // was set; nothing when cancelled.
  struct timer {
    clock::time_point intermediate, final;
  };
  std::optional<timer> timer_;
  // When an authenticated record last came (dtls::engine::last_authenticated()).
  std::optional<clock::time_point> last_authenticated_;
  // When the handshake fails for want of time: set when it begins.
  std::optional<clock::time_point> deadline_;

  bool started_ = false;
  bool cookie_verified_ = false;
  bool handshake_done_ = false;
  bool close_notify_sent_ = false;
  bool peer_closed_ = false;
  std::error_code failure_;
  std::string failure_detail_;
};

} // namespace tlsio::dtls
