// tlsio::engine: the rules no backend owns, then the backend the context chose.
#include "engine_impl.hpp"

#include "session_cache.hpp"

#include <tlsio/error.hpp>

#include <cstring>

namespace tlsio {

bool engine::impl::may_resume(const session::impl &s) const {
  return !s.datagram && *s.resumable && s.origin.lock() == context_ &&
         s.server_name == detail::canonical_host_name(server_name_);
}

engine::engine(const context &ctx) : impl_(make_engine(ctx.impl_)) {}
engine::~engine() = default;
engine::engine(engine &&) noexcept = default;
engine &engine::operator=(engine &&) noexcept = default;

void engine::set_server_name(std::string_view name) {
  auto &e = *impl_;
  // The name a session was offered and verified for is the one it is remembered for.
  if (e.handshake_started()) {
    if (!e.failure())
      e.fail(error::invalid_server_name,
             "the server name cannot change once the handshake has started");
    return;
  }
  auto checked = detail::check_server_name(name);
  e.server_name_ = std::move(checked.name);
  e.server_ip_ = checked.ip;
  if (e.failure())
    return;
  if (!checked.problem.empty()) {
    e.fail(error::invalid_server_name, std::move(checked.problem));
    return;
  }
  e.apply_server_name();
}

const std::string &engine::server_name() const noexcept { return impl_->server_name_; }

void engine::set_session(const session &s) { impl_->offered_session_ = s.shared(); }
std::optional<session> engine::get_session() const { return impl_->get_session(); }
bool engine::resumed() const noexcept { return impl_->resumed(); }
void engine::set_session_cache_key(std::string_view server) {
  impl_->cache_key_ = detail::canonical_server_key(server);
}

step_result engine::handshake() { return impl_->handshake(); }
step_result engine::read(std::span<std::byte> out) { return impl_->read(out); }
step_result engine::write(std::span<const std::byte> data) { return impl_->write(data); }
step_result engine::shutdown() { return impl_->shutdown(); }

std::span<std::byte> engine::prepare_input(std::size_t min_size) {
  return impl_->prepare_input(min_size);
}
void engine::commit_input(std::size_t n) { impl_->commit_input(n); }
void engine::release_input() noexcept { impl_->release_input(); }

void engine::put_input(std::span<const std::byte> data) {
  if (data.empty()) // memcpy from an empty span's null pointer is undefined
    return;
  auto space = prepare_input(data.size());
  std::memcpy(space.data(), data.data(), data.size());
  commit_input(data.size());
}

void engine::put_eof() { impl_->put_eof(); }
std::span<const std::byte> engine::pending_output() const noexcept {
  return impl_->pending_output();
}
void engine::consume_output(std::size_t n) noexcept { impl_->consume_output(n); }
void engine::swap_output(std::vector<std::byte> &buffer) { impl_->swap_output(buffer); }

bool engine::handshake_done() const noexcept { return impl_->handshake_done(); }
bool engine::read_ready() { return impl_->read_ready(); }
std::size_t engine::pending_input() const noexcept { return impl_->pending_input(); }
std::error_code engine::failure() const noexcept { return impl_->failure(); }
std::string engine::failure_detail() const { return impl_->failure_detail(); }

std::string engine::protocol_version() const { return impl_->protocol_version(); }
std::string engine::cipher_suite() const { return impl_->cipher_suite(); }
std::string engine::alpn_protocol() const { return impl_->alpn_protocol(); }
std::optional<certificate_info> engine::peer_certificate() const {
  return impl_->peer_certificate();
}
std::error_code engine::verification_result() const noexcept {
  return impl_->verification_result();
}

} // namespace tlsio
