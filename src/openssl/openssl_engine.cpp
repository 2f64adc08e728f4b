#include "openssl_engine.hpp"

#include "../alert_for_error.hpp"
#include "../certificate_info.hpp"
#include "../mbed_object.hpp"
#include "../session_cache.hpp"
#include "openssl_error.hpp"

#include <tlsio/error.hpp>

#include <openssl/crypto.h>
#include <openssl/x509.h>

namespace tlsio::detail {
namespace {

// A certificate in DER, parsed by the code that describes certificates on every backend.
std::unique_ptr<x509_crt> parse_der(const unsigned char *der, std::size_t size) {
  auto crt = std::make_unique<x509_crt>();
  if (mbedtls_x509_crt_parse_der(crt->get(), der, size) != 0)
    return nullptr;
  return crt;
}

std::unique_ptr<x509_crt> parse(X509 *cert) {
  unsigned char *der = nullptr;
  int n = i2d_X509(cert, &der);
  std::unique_ptr<x509_crt> crt;
  if (n > 0)
    crt = parse_der(der, static_cast<std::size_t>(n));
  OPENSSL_free(der);
  return crt;
}

} // namespace

std::string openssl_version() { return OpenSSL_version(OPENSSL_FULL_VERSION_STRING); }

openssl_engine::openssl_engine(std::shared_ptr<context::impl> ctx) : engine::impl(std::move(ctx)) {
  if (const auto &ec = context_->prepare()) {
    fail(ec, context_->prepare_detail_);
    return;
  }
  connection_.emplace(openssl::ssl_ctx_ptr(context_->openssl_context_), context_->role_, input_,
                      output_);
  connection_->on_new_session = [this](std::shared_ptr<SSL_SESSION> s) {
    on_new_session(std::move(s));
  };
}

void openssl_engine::apply_server_name() {
  if (!connection_)
    return;
  connection_->set_server_name(server_name_, server_ip_);
  checked({});
}

void openssl_engine::start_handshake() {
  handshake_started_ = true;
  auto offered = std::move(offered_session_);
  if (!offered)
    return;
  if (offered->backend != tlsio::backend::openssl) {
    fail(error::wrong_backend, {});
    return;
  }
  // Else a full handshake verifies this server afresh; a ticket already offered elsewhere
  // is not offered again (RFC 8446 §C.4).
  if (may_resume(*offered) && !(offered->single_use && offered->offered.exchange(true))) {
    connection_->set_session(offered->openssl_value);
    offered_session_ = std::move(offered);
  }
}

step_result openssl_engine::handshake() {
  if (failure_)
    return {status::failed, 0, failure_};
  if (context_->role_ == role::client && context_->verify_ == verify::peer && server_name_.empty())
    return fail(error::no_host_name, {});
  if (!handshake_started_)
    start_handshake();
  if (failure_)
    return {status::failed, 0, failure_};
  bool was_done = handshake_done();
  auto r = checked(connection_->handshake());
  // OpenSSL calls no new-session callback for a resumed TLS 1.2 handshake, though the server
  // may have renewed the ticket in it (ours always does): the connection's session has it.
  if (!was_done && handshake_done() && resumed() && context_->role_ == role::client &&
      SSL_version(connection_->native()) == TLS1_2_VERSION)
    if (auto renewed = connection_->session())
      on_new_session(std::move(renewed));
  return r;
}

step_result openssl_engine::read(std::span<std::byte> out) {
  if (failure_)
    return {status::failed, 0, failure_};
  return checked(connection_->read(out));
}

step_result openssl_engine::write(std::span<const std::byte> data) {
  if (failure_)
    return {status::failed, 0, failure_};
  return checked(connection_->write(data));
}

step_result openssl_engine::shutdown() {
  if (failure_)
    return {status::failed, 0, failure_};
  return checked(connection_->shutdown());
}

bool openssl_engine::read_ready() {
  if (failure_)
    return true;
  bool ready = connection_->read_ready();
  checked({});
  return ready;
}

step_result openssl_engine::checked(step_result r) {
  if (auto ec = connection_->failure(); ec && !failure_)
    fail(ec, describe(ec, connection_->failure_detail()));
  // A read that filled the buffer before meeting the failure returns its bytes; the next
  // step reports the failure.
  if (!failure_ || (r.status == status::done && r.bytes > 0))
    return r;
  return {status::failed, 0, failure_};
}

std::string openssl_engine::describe(std::error_code ec, const std::string &openssl_detail) const {
  if (ec == error::stream_truncated)
    return connection_->handshake_done()
               ? ec.message()
               : "the peer closed the connection during the TLS handshake";
  if (ec.category() == error_category()) {
    const auto &first = connection_->first_verify_failure();
    auto crt = first.der.empty() ? nullptr : parse_der(first.der.data(), first.der.size());
    if (!crt || openssl::verification_error(first.result) != ec)
      return openssl_detail.empty() ? ec.message() : openssl_detail;
    auto problem = problem_with(*crt->get());
    if (ec == error::host_name_mismatch)
      problem.name_mismatch = name_mismatch_reason(*crt->get(), server_name_, server_ip_);
    return verification_sentence(ec, problem);
  }
  if (int alert = openssl::received_alert(ec); alert >= 0) {
    std::string name = alert_name(static_cast<unsigned char>(alert));
    return connection_->handshake_done()
               ? "the peer ended the connection with a fatal alert: " + name
               : "the peer aborted the handshake with a fatal alert: " + name;
  }
  return openssl_detail.empty() ? ec.message() : openssl_detail;
}

step_result openssl_engine::fail(std::error_code ec, std::string detail) {
  if (!failure_) {
    failure_ = ec;
    failure_detail_ = detail.empty() ? ec.message() : std::move(detail);
  }
  // A connection that ends in a fatal error must not be resumed (RFC 5246 §7.2.2); a
  // missing close_notify is not such an error (§7.2.1).
  // A session only stored by set_session(), never offered, is not this connection's.
  if (ec != error::stream_truncated) {
    if (offered_session_ && handshake_started_)
      *offered_session_->resumable = false;
    if (own_session_)
      *own_session_->resumable = false;
  }
  return {status::failed, 0, failure_};
}

void openssl_engine::on_new_session(std::shared_ptr<SSL_SESSION> s) {
  if (SSL_SESSION_is_resumable(s.get()) != 1)
    return;
  auto made = std::make_shared<session::impl>();
  made->backend = tlsio::backend::openssl;
  made->openssl_value = std::move(s);
  made->server_name = canonical_host_name(server_name_);
  made->origin = context_;
  made->single_use = SSL_SESSION_get_protocol_version(made->openssl_value.get()) == TLS1_3_VERSION;
  // A ticket for a resumed session continues it: it lives and dies as one.
  if (SSL_session_reused(connection_->native()) == 1 && offered_session_)
    made->resumable = offered_session_->resumable;
  own_session_ = made;
  if (!cache_key_.empty() && context_->session_cache_)
    context_->session_cache_->insert(cache_key_, std::move(made));
}

std::optional<session> openssl_engine::get_session() const {
  if (context_->role_ != role::client || !handshake_done())
    return std::nullopt;
  if (failure_ && failure_ != error::stream_truncated)
    return std::nullopt;
  // A resumed TLS 1.2 session without a new ticket goes on as the one offered.
  std::shared_ptr<const session::impl> latest = own_session_;
  if (!latest && resumed() && offered_session_ && !offered_session_->single_use)
    latest = offered_session_;
  if (!latest || !*latest->resumable)
    return std::nullopt;
  return session(latest);
}

bool openssl_engine::resumed() const noexcept { return connection_ && connection_->resumed(); }

bool openssl_engine::handshake_done() const noexcept {
  return connection_ && connection_->handshake_done();
}

std::error_code openssl_engine::failure() const noexcept { return failure_; }

std::string openssl_engine::failure_detail() const { return failure_detail_; }

std::string openssl_engine::protocol_version() const {
  return connection_ ? connection_->protocol_version() : "";
}

std::string openssl_engine::cipher_suite() const {
  return connection_ ? connection_->cipher_suite() : "";
}

std::string openssl_engine::alpn_protocol() const {
  return connection_ ? connection_->alpn_protocol() : "";
}

std::optional<certificate_info> openssl_engine::peer_certificate() const {
  if (!handshake_done())
    return std::nullopt;
  X509 *cert = SSL_get0_peer_certificate(connection_->native());
  if (cert == nullptr)
    return std::nullopt;
  auto crt = parse(cert);
  if (!crt)
    return std::nullopt;
  return describe_certificate(*crt->get());
}

std::error_code openssl_engine::verification_result() const noexcept {
  if (!connection_ || !context_->verifies_peer())
    return {};
  SSL *ssl = connection_->native();
  if (!handshake_done() && connection_->first_verify_failure().result == 0)
    return {};
  if (context_->role_ == role::server && SSL_get0_peer_certificate(ssl) == nullptr)
    return handshake_done() ? std::error_code(error::no_peer_certificate) : std::error_code();
  return openssl::verification_error(SSL_get_verify_result(ssl));
}

} // namespace tlsio::detail
