// The Mbed TLS 2.28 backend of the engine seam: one connection (internal).
#pragma once

#include "../alert_for_error.hpp"
#include "../certificate_info.hpp"
#include "../core/record_buffers.hpp"
#include "../engine_impl.hpp"
#include "../handshake_reframer.hpp"
#include "../mbed_object.hpp"
#include "peer_verifier.hpp"

#include <tlsio/engine.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tlsio::detail {

struct mbedtls_engine final : engine::impl {
  /// A connection with ctx's ssl_config; one that cannot be set up starts failed.
  explicit mbedtls_engine(std::shared_ptr<context::impl> ctx);

  step_result handshake() override;
  step_result read(std::span<std::byte> out) override;
  step_result write(std::span<const std::byte> data) override;
  step_result shutdown() override;
  bool read_ready() override;
  std::span<std::byte> prepare_input(std::size_t min_size) override;
  void commit_input(std::size_t n) override { input_end_ += n; }
  void release_input() noexcept override;
  void put_eof() override { input_ended_ = true; }
  std::size_t pending_input() const noexcept override;
  std::span<const std::byte> pending_output() const noexcept override;
  void consume_output(std::size_t n) noexcept override;
  void swap_output(std::vector<std::byte> &buffer) override;
  bool handshake_started() const noexcept override { return session_offered_; }
  void apply_server_name() override;
  std::optional<session> get_session() const override;
  bool resumed() const noexcept override { return handshake_done_ && resumed_; }
  bool handshake_done() const noexcept override { return handshake_done_; }
  std::error_code failure() const noexcept override { return failure_; }
  std::string failure_detail() const override { return failure_detail_; }
  step_result fail(std::error_code ec, std::string detail) override;
  std::string protocol_version() const override;
  std::string cipher_suite() const override;
  std::string alpn_protocol() const override;
  std::optional<certificate_info> peer_certificate() const override;
  std::error_code verification_result() const noexcept override;

  step_result fail(std::error_code ec) { return fail(ec, {}); }
  step_result fail(int mbedtls_code);
  /// mbedtls_ssl_read, going on past the answers that only look final: a 0 for two empty
  /// records, a WANT_READ after a skipped alert. Returns the bytes read; with size 0, 0
  /// once application data waits; MBEDTLS_ERR_SSL_CONN_EOF at the end of the input;
  /// MBEDTLS_ERR_SSL_WANT_READ only when the input has no whole record left; or an error.
  int read_application_data(unsigned char *data, std::size_t size);
  /// The step's answer to what read_application_data returned.
  step_result read_result(int ret);
  /// Goes on reading into data + r.bytes while whole application-data records wait, so
  /// that one read step returns what one socket read brought, not one record of it. An
  /// error met on the way is kept for the next step; the bytes already read are returned.
  void read_more_records(unsigned char *data, std::size_t size, step_result &r);
  /// The input starts with a whole application-data record.
  bool application_data_waits() noexcept;
  /// Server: refuses a ClientHello that Mbed TLS would take though it must not, and with
  /// alpn_mismatch::proceed, drops ALPN if nothing offered is ours. want_input while the
  /// ClientHello is incomplete.
  step_result check_client_hello();
  void check_offered_alpn(std::span<const std::byte> hello);
  /// Before the peer's ChangeCipherSpec: moves the handshake records at the start of the
  /// input into reframed_, one whole message a record.
  step_result reframe_input();
  /// After the peer's ChangeCipherSpec: a handshake message it split across encrypted
  /// records becomes one plaintext record in reframed_, and the next Mbed TLS step reads it
  /// with the incoming protection set aside (encrypted_fragments.hpp).
  step_result join_encrypted_input();
  /// One handshake step of Mbed TLS's, with a joined record's bookkeeping around it.
  int handshake_step();
  /// What Mbed TLS was reading when it failed, for the alert that fits.
  detail::failed_input failed_input() const;
  /// Sends a fatal alert unless Mbed TLS has just sent one, or the handshake has not begun.
  void send_fatal_alert(unsigned char description);
  std::string describe_fatal_alert(unsigned char description) const;
  /// Hands Mbed TLS the session set_session() stored, if it may resume here.
  void offer_session();

  /// How much input Mbed TLS may read: whole records only, so that a record is either
  /// all there or untouched (read_ready() and pending_input() depend on it). Everything
  /// once the input has ended, so that a cut record shows as truncation; the header of a
  /// record that cannot be taken, so that Mbed TLS rejects it with its own error.
  std::size_t readable_input() noexcept;

  // The memory BIO that Mbed TLS reads and writes through.
  static int send_to_output(void *self, const unsigned char *data, std::size_t size);
  static int receive_from_input(void *self, unsigned char *data, std::size_t size);

  detail::ssl_context ssl_;

  // Not zero-filled on growth: every byte is written by a socket read before it is read.
  std::vector<std::byte, detail::uninitialized_allocator<std::byte>> input_;
  std::size_t input_begin_ = 0;
  std::size_t input_end_ = 0;
  bool input_ended_ = false;
  // Bytes from input_begin_ on known to be whole records: each record is scanned once.
  std::size_t whole_records_ = 0;
  // What receive_from_input answered during the current Mbed TLS call, to tell its own
  // end-of-input and want-input from the same codes that Mbed TLS returns for other reasons.
  bool reported_end_ = false;
  bool reported_want_input_ = false;
  std::vector<std::byte> output_;
  std::size_t output_begin_ = 0;
  // Whether the last record written was an alert: Mbed TLS sends some fatal alerts itself,
  // and a peer must get only one.
  bool alert_was_last_ = false;

  // Handshake records re-framed before the peer's ChangeCipherSpec (handshake_reframer.hpp):
  // whole records that Mbed TLS reads before input_, and the message not yet whole.
  std::vector<std::byte> reframed_;
  std::size_t reframed_begin_ = 0;
  detail::handshake_carry carry_;
  bool reframing_over_ = false;
  // While Mbed TLS reads a joined plaintext record: the incoming protection set aside, and
  // how many of the peer's records the joined one stands for.
  mbedtls_ssl_transform *set_aside_transform_ = nullptr;
  std::uint64_t joined_records_ = 0;
  // Input bytes of fragments already decrypted while the rest of the message is awaited.
  std::size_t joined_so_far_ = 0;

  detail::peer_verifier verifier_{*context_, server_name_, server_ip_};

  // What get_session() hands out, made once after the handshake.
  mutable std::shared_ptr<session::impl> own_session_;
  bool session_offered_ = false;

  bool handshake_done_ = false;
  bool resumed_ = false;
  bool client_hello_checked_ = false;
  bool close_notify_sent_ = false;
  bool peer_closed_ = false;
  std::error_code failure_;
  std::string failure_detail_;
};

/// The Mbed TLS library linked at run time, "2.28.3".
std::string mbedtls_version();

} // namespace tlsio::detail
