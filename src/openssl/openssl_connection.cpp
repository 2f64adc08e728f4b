#include "openssl_connection.hpp"

#include "openssl_error.hpp"

#include <tlsio/error.hpp>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <array>

namespace tlsio::detail::openssl {

// --- The BIO between OpenSSL and the record buffers --------------------------------------

BIO_METHOD *connection::records_method() {
  static BIO_METHOD *method = [] {
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tlsio records");
    BIO_meth_set_write_ex(m, bio_write);
    BIO_meth_set_read_ex(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, [](BIO *b) {
      BIO_set_init(b, 1);
      return 1;
    });
    return m;
  }();
  return method;
}

int connection::bio_write(BIO *b, const char *data, std::size_t n, std::size_t *written) {
  static_cast<connection *>(BIO_get_data(b))
      ->output_.append(reinterpret_cast<const std::byte *>(data), n);
  *written = n;
  return 1;
}

int connection::bio_read(BIO *b, char *data, std::size_t n, std::size_t *read) {
  auto &input = static_cast<connection *>(BIO_get_data(b))->input_;
  BIO_clear_retry_flags(b);
  *read = input.take(reinterpret_cast<std::byte *>(data), n);
  if (*read > 0)
    return 1;
  if (!input.ended())
    BIO_set_retry_read(b); // else the end of input: OpenSSL sees EOF
  return 0;
}

long connection::bio_ctrl(BIO *, int command, long, void *) {
  return command == BIO_CTRL_FLUSH ? 1 : 0;
}

// --- The connection ------------------------------------------------------------------------

connection::connection(ssl_ctx_ptr ctx, role side, record_input &input, record_output &output)
    : ctx_(std::move(ctx)), ssl_(SSL_new(ctx_.get())), input_(input), output_(output) {
  SSL_set_app_data(ssl_.get(), this);
  SSL_set_msg_callback(ssl_.get(), watch_records);
  BIO *bio = BIO_new(records_method());
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_.get(), bio, bio); // one BIO both ways; the SSL owns it
  if (side == role::client)
    SSL_set_connect_state(ssl_.get());
  else
    SSL_set_accept_state(ssl_.get());
}

connection::~connection() {
  // OpenSSL takes a connection freed before close_notify for a bad end and makes its session
  // unresumable. Only a fatal error must do that (RFC 5246 §7.2.2); a missing close_notify
  // is not one (§7.2.1), as on the Mbed TLS engine.
  if (!failure_ || failure_ == error::stream_truncated)
    SSL_set_shutdown(ssl_.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
}

int connection::new_session_callback(SSL *ssl, SSL_SESSION *s) {
  auto *self = static_cast<connection *>(SSL_get_app_data(ssl));
  if (!self->on_new_session)
    return 0; // OpenSSL keeps its reference
  self->on_new_session(std::shared_ptr<SSL_SESSION>(s, SSL_SESSION_free));
  return 1; // the reference is the shared_ptr's now
}

int connection::verify_callback(int ok, X509_STORE_CTX *store) {
  if (ok == 1)
    return 1;
  auto *ssl =
      static_cast<SSL *>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto &first = static_cast<connection *>(SSL_get_app_data(ssl))->verify_failure_;
  if (first.result == 0) {
    first.result = X509_STORE_CTX_get_error(store);
    if (X509 *cert = X509_STORE_CTX_get_current_cert(store)) {
      unsigned char *der = nullptr;
      int n = i2d_X509(cert, &der);
      if (n > 0)
        first.der.assign(der, der + n);
      OPENSSL_free(der);
    }
  }
  return 0;
}

// A peer may update its keys whenever it likes, but a sender needs one update per record at
// most; a run of them with no data between is only work it makes us do.
constexpr int max_key_updates_in_a_row = 32;

void connection::watch_records(int write_p, int, int content_type, const void *buf, std::size_t len,
                               SSL *ssl, void *) {
  if (write_p || len == 0)
    return;
  auto &self = *static_cast<connection *>(SSL_get_app_data(ssl));
  auto first = static_cast<const unsigned char *>(buf)[0];
  // Only data that a read returns ends a run (connection::read): empty records do not.
  if (content_type == SSL3_RT_HANDSHAKE && first == SSL3_MT_KEY_UPDATE)
    ++self.key_updates_in_a_row_;
}

bool connection::key_update_flood() {
  if (key_updates_in_a_row_ <= max_key_updates_in_a_row || failure_)
    return false;
  fail(std::error_code(SSL_R_TOO_MANY_KEY_UPDATES, openssl_category()),
       "the peer sent more than 32 KeyUpdate messages without application data between them");
  return true;
}

void connection::set_server_name(std::string_view name, const std::optional<ip_address> &ip) {
  ERR_clear_error();
  std::string n(name);
  X509_VERIFY_PARAM *param = SSL_get0_param(ssl_.get());
  // Names only from subjectAltName, as on the Mbed TLS engine; no partial wildcards.
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
                                             X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  // A name that cannot be set would leave nothing to check the certificate against.
  bool set = ip ? X509_VERIFY_PARAM_set1_ip(param, ip->bytes.data(), ip->size) == 1
                : SSL_set_tlsext_host_name(ssl_.get(), n.c_str()) == 1 &&
                      SSL_set1_host(ssl_.get(), n.c_str()) == 1;
  if (!set) {
    ERR_clear_error();
    fail(error::invalid_server_name, "invalid server name '" + std::string(name) +
                                         "': OpenSSL cannot check a certificate against it");
  }
}

step_result connection::fail(std::error_code ec, std::string detail) {
  failure_ = ec;
  failure_detail_ = std::move(detail);
  return {status::failed, 0, ec};
}

step_result connection::result_of(int ret) {
  if (key_update_flood())
    return {status::failed, 0, failure_};
  int e = SSL_get_error(ssl_.get(), ret);
  switch (e) {
  case SSL_ERROR_WANT_READ:
    return {status::want_input, 0, {}};
  case SSL_ERROR_ZERO_RETURN:
    peer_closed_ = true;
    return {status::closed, 0, {}};
  default:
    break;
  }
  long verdict = SSL_get_verify_result(ssl_.get());
  if (ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    ERR_clear_error();
    return fail(verification_error(verdict), X509_verify_cert_error_string(verdict));
  }
  std::string detail;
  auto ec = take_error(detail);
  return fail(ec, std::move(detail));
}

step_result connection::handshake() {
  if (failure_)
    return {status::failed, 0, failure_};
  if (handshake_done_)
    return {status::done, 0, {}};
  ERR_clear_error(); // another connection's error on this thread is not ours
  int ret = SSL_do_handshake(ssl_.get());
  if (ret != 1) {
    auto r = result_of(ret);
    // A close_notify before the handshake is done authenticates nothing: the handshake
    // did not complete, however politely it ended.
    if (r.status == status::closed)
      return fail(error::stream_truncated,
                  "the peer closed the connection during the TLS handshake");
    return r;
  }
  handshake_done_ = true;
  return {status::done, 0, {}};
}

step_result connection::read(std::span<std::byte> out) {
  if (failure_)
    return {status::failed, 0, failure_};
  if (!handshake_done_)
    return {status::failed, 0, error::not_connected};
  if (peer_closed_)
    return close_notify_sent_ ? step_result{status::failed, 0, error::not_connected}
                              : step_result{status::closed, 0, {}};
  if (out.empty())
    return {status::done, 0, {}};
  std::size_t got = 0;
  ERR_clear_error();
  int ret = SSL_read_ex(ssl_.get(), out.data(), out.size(), &got);
  if (ret != 1)
    return result_of(ret);
  key_updates_in_a_row_ = 0; // data came between them
  // Whole records already here fill the rest: one step for what one socket read brought.
  while (got < out.size() && (SSL_pending(ssl_.get()) > 0 || input_.readable() > 0)) {
    std::size_t more = 0;
    ret = SSL_read_ex(ssl_.get(), out.data() + got, out.size() - got, &more);
    if (ret != 1) {
      if (SSL_get_error(ssl_.get(), ret) != SSL_ERROR_WANT_READ)
        result_of(ret); // the end or a failure, for the next step
      break;
    }
    got += more;
  }
  return {status::done, got, {}};
}

step_result connection::write(std::span<const std::byte> data) {
  if (failure_)
    return {status::failed, 0, failure_};
  if (!handshake_done_ || close_notify_sent_)
    return {status::failed, 0, error::not_connected};
  if (data.empty())
    return {status::done, 0, {}};
  std::size_t written = 0;
  ERR_clear_error();
  int ret = SSL_write_ex(ssl_.get(), data.data(), data.size(), &written);
  if (ret != 1)
    return result_of(ret);
  return {status::done, written, {}};
}

step_result connection::shutdown() {
  if (failure_)
    return {status::failed, 0, failure_};
  if (!handshake_done_)
    return {status::failed, 0, error::not_connected};
  ERR_clear_error();
  if (!close_notify_sent_) {
    int ret = SSL_shutdown(ssl_.get());
    if (ret < 0)
      return result_of(ret);
    close_notify_sent_ = true;
  }
  // Application data still in flight from the peer is dropped while waiting.
  std::array<std::byte, 4096> discard;
  while (!peer_closed_) {
    std::size_t got = 0;
    int ret = SSL_read_ex(ssl_.get(), discard.data(), discard.size(), &got);
    if (ret == 1)
      continue;
    auto r = result_of(ret);
    if (r.status != status::closed)
      return r;
  }
  return {status::done, 0, {}};
}

bool connection::read_ready() {
  if (failure_ || peer_closed_ || input_.ended())
    return true;
  // Before the handshake is done: whether the next handshake step has a record to take
  // (peeking would run the handshake itself).
  if (!handshake_done_)
    return input_.readable() > 0;
  if (SSL_pending(ssl_.get()) > 0)
    return true;
  if (input_.readable() == 0)
    return false;
  // Peeking processes records without application data (tickets, KeyUpdate, empty records)
  // and leaves application data where it is.
  std::byte one;
  std::size_t got = 0;
  ERR_clear_error();
  int ret = SSL_peek_ex(ssl_.get(), &one, 1, &got);
  if (ret == 1)
    return true;
  return result_of(ret).status != status::want_input;
}

void connection::set_session(const std::shared_ptr<SSL_SESSION> &s) {
  // A copy: a client that gets a new TLS 1.2 ticket while resuming marks the session it
  // offered not resumable (OpenSSL's client cache "removes" it), though the caller may offer
  // that session again (RFC 5077 §3.3 lets a client reuse a ticket).
  SSL_SESSION *copy = SSL_SESSION_dup(s.get());
  SSL_set_session(ssl_.get(), copy != nullptr ? copy : s.get());
  SSL_SESSION_free(copy); // SSL_set_session took its own reference
}

std::shared_ptr<SSL_SESSION> connection::session() const {
  SSL_SESSION *s = SSL_get1_session(ssl_.get());
  if (!s || SSL_SESSION_is_resumable(s) != 1) {
    SSL_SESSION_free(s);
    return nullptr;
  }
  return std::shared_ptr<SSL_SESSION>(s, SSL_SESSION_free);
}

bool connection::resumed() const noexcept {
  return handshake_done_ && SSL_session_reused(ssl_.get()) == 1;
}

std::string connection::protocol_version() const {
  return handshake_done_ ? SSL_get_version(ssl_.get()) : "";
}

std::string connection::cipher_suite() const {
  return handshake_done_ ? SSL_CIPHER_get_name(SSL_get_current_cipher(ssl_.get())) : "";
}

std::string connection::alpn_protocol() const {
  const unsigned char *name = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_.get(), &name, &length);
  return name ? std::string(reinterpret_cast<const char *>(name), length) : std::string();
}

} // namespace tlsio::detail::openssl
