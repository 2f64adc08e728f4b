// tlsio::dtls::engine: the public members, on the Mbed TLS engine (the one backend with
// DTLS).
#include "certificate_info.hpp"
#include "mbedtls/mbedtls_dtls_engine.hpp"
#include "session_cache.hpp"

#include <tlsio/error.hpp>

namespace tlsio::dtls {
namespace {

std::shared_ptr<context::impl> dtls_context(std::shared_ptr<context::impl> ctx) {
  // No silent fallback: a context's backend is what the application asked for.
  if (ctx->backend_ != backend::mbedtls)
    throw std::system_error(error::dtls_unavailable,
                            "making a DTLS engine on a context of the OpenSSL backend");
  return ctx;
}

} // namespace

engine::engine(const context &ctx, std::function<clock::time_point()> now)
    : impl_(std::make_unique<impl>(dtls_context(ctx.impl_), std::move(now))) {}
engine::~engine() = default;
engine::engine(engine &&) noexcept = default;
engine &engine::operator=(engine &&) noexcept = default;

void engine::set_server_name(std::string_view name) { impl_->set_server_name(name); }
const std::string &engine::server_name() const noexcept { return impl_->server_name_; }
void engine::set_client_id(std::span<const std::byte> id) { impl_->set_client_id(id); }
void engine::set_mtu(std::size_t bytes) { impl_->set_mtu(bytes); }
void engine::set_session(const session &s) { impl_->set_session(s); }
std::optional<session> engine::get_session() const { return impl_->get_session(); }
bool engine::resumed() const noexcept { return impl_->handshake_done_ && impl_->resumed_; }
void engine::set_session_cache_key(std::string_view server) {
  impl_->cache_key_ = tlsio::detail::canonical_server_key(server);
}
std::size_t engine::mtu() const noexcept { return impl_->mtu_; }

step_result engine::handshake() { return impl_->handshake(); }
step_result engine::send(std::span<const std::byte> message) { return impl_->send(message); }
step_result engine::receive(std::span<std::byte> buffer) { return impl_->receive(buffer); }
step_result engine::shutdown() { return impl_->shutdown(); }
step_result engine::on_timeout() { return impl_->on_timeout(); }
std::optional<clock::time_point> engine::next_timeout() const { return impl_->next_timeout(); }

void engine::put_datagram(std::span<const std::byte> datagram) { impl_->put_datagram(datagram); }
std::size_t engine::queued_input() const noexcept { return impl_->input_.size(); }
std::span<const std::byte> engine::pending_datagram() const noexcept {
  if (impl_->output_.empty())
    return {};
  return impl_->output_.front();
}
void engine::pop_datagram() noexcept {
  if (!impl_->output_.empty())
    impl_->output_.pop_front();
}
std::size_t engine::queued_output() const noexcept { return impl_->output_.size(); }

bool engine::handshake_done() const noexcept { return impl_->handshake_done_; }
bool engine::cookie_verified() const noexcept { return impl_->cookie_verified(); }
std::optional<clock::time_point> engine::last_authenticated() const noexcept {
  return impl_->last_authenticated_;
}
std::size_t engine::max_message_size() const noexcept { return impl_->max_message_size(); }
std::error_code engine::failure() const noexcept { return impl_->failure_; }
std::string engine::failure_detail() const { return impl_->failure_detail_; }

std::string engine::protocol_version() const {
  return impl_->handshake_done_ ? mbedtls_ssl_get_version(impl_->ssl_.get()) : "";
}
std::string engine::cipher_suite() const {
  return impl_->handshake_done_ ? mbedtls_ssl_get_ciphersuite(impl_->ssl_.get()) : "";
}
std::optional<certificate_info> engine::peer_certificate() const {
  const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(impl_->ssl_.get());
  if (crt == nullptr)
    return std::nullopt;
  return detail::describe_certificate(*crt);
}
std::string engine::alpn_protocol() const { return impl_->alpn_protocol(); }
std::error_code engine::verification_result() const noexcept {
  return impl_->verification_result();
}

} // namespace tlsio::dtls
