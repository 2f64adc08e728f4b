// One TLS connection on OpenSSL 3, sans I/O (internal): the OpenSSL side of the engine seam.
//
// OpenSSL reads records from a record_input and writes them to a record_output through a BIO
// of our own, so it sees whole records only, as the Mbed TLS engine does. Each step returns
// as tlsio::engine's do: done, want_input (give more input, call again), closed (the peer's
// close_notify), failed (and stays failed).
#pragma once

#include "../core/record_buffers.hpp"
#include "../peer_name.hpp"
#include "openssl_context.hpp"

#include <tlsio/engine.hpp>

#include <openssl/ssl.h>

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tlsio::detail::openssl {

class connection {
public:
  connection(ssl_ctx_ptr ctx, role side, record_input &input, record_output &output);
  ~connection();
  connection(const connection &) = delete;
  connection &operator=(const connection &) = delete;

  /// Client: the name sent as SNI and checked against the certificate; an IP literal (`ip`,
  /// parse_ip_literal's reading of the name) is checked against the certificate's IP
  /// addresses and never sent.
  void set_server_name(std::string_view name, const std::optional<ip_address> &ip);

  step_result handshake();
  step_result read(std::span<std::byte> out);
  step_result write(std::span<const std::byte> data);
  /// Sends close_notify, then waits for the peer's, dropping data that arrives meanwhile.
  step_result shutdown();
  /// A read would return data, the end or an error without more input.
  bool read_ready();

  bool handshake_done() const noexcept { return handshake_done_; }
  std::error_code failure() const noexcept { return failure_; }
  const std::string &failure_detail() const noexcept { return failure_detail_; }
  /// Client: the session to offer for resumption (session() of an earlier connection to the
  /// same server), before the first handshake step.
  void set_session(const std::shared_ptr<SSL_SESSION> &s);
  /// The session to resume later, or null; under TLS 1.3 there is one only once the server's
  /// ticket has been read, after the handshake.
  std::shared_ptr<SSL_SESSION> session() const;
  /// Whether the handshake resumed a session.
  bool resumed() const noexcept;
  std::string protocol_version() const;
  std::string cipher_suite() const;
  std::string alpn_protocol() const;
  SSL *native() const noexcept { return ssl_.get(); }

  /// Client: called with each session the server hands out, when it comes (under TLS 1.3
  /// after the handshake, from a read).
  std::function<void(std::shared_ptr<SSL_SESSION>)> on_new_session;
  /// The first certificate that failed verification: its X509_V_ERR_* code and DER.
  struct verify_failure {
    long result = 0;
    std::vector<unsigned char> der;
  };
  const verify_failure &first_verify_failure() const noexcept { return verify_failure_; }

  // The SSL_CTX's callbacks (openssl_context.cpp installs them).
  static int new_session_callback(SSL *ssl, SSL_SESSION *s);
  static int verify_callback(int ok, X509_STORE_CTX *store);

private:
  static BIO_METHOD *records_method();
  static int bio_write(BIO *b, const char *data, std::size_t n, std::size_t *written);
  static int bio_read(BIO *b, char *data, std::size_t n, std::size_t *read);
  static long bio_ctrl(BIO *b, int command, long, void *);

  /// The step's answer to an OpenSSL call that returned `ret`.
  step_result result_of(int ret);
  /// Counts the peer's KeyUpdates since its last application data (OpenSSL 3.0 sets no bound).
  static void watch_records(int write_p, int version, int content_type, const void *buf,
                            std::size_t len, SSL *ssl, void *arg);
  /// Fails the connection if the peer sent more KeyUpdates in a row than any sender needs.
  bool key_update_flood();
  step_result fail(std::error_code ec, std::string detail);

  struct ssl_deleter {
    void operator()(SSL *s) const noexcept { SSL_free(s); }
  };
  ssl_ctx_ptr ctx_;
  std::unique_ptr<SSL, ssl_deleter> ssl_;
  record_input &input_;
  record_output &output_;
  bool handshake_done_ = false;
  bool close_notify_sent_ = false;
  bool peer_closed_ = false;
  int key_updates_in_a_row_ = 0;
  verify_failure verify_failure_;
  std::error_code failure_;
  std::string failure_detail_;
};

} // namespace tlsio::detail::openssl
