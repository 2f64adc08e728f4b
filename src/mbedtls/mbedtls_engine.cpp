#include "mbedtls_engine.hpp"

#include "encrypted_fragments.hpp"

#include "../alert_for_error.hpp"
#include "../certificate_info.hpp"
#include "../client_hello.hpp"
#include "../engine_error.hpp"
#include "../record.hpp"
#include "../session_cache.hpp"

#include <tlsio/error.hpp>

#include <mbedtls/ssl_internal.h>
#include <mbedtls/version.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace tlsio::detail {
namespace {} // namespace

// --- impl: the memory BIO and failures ---------------------------------------------------------

int mbedtls_engine::send_to_output(void *self, const unsigned char *data, std::size_t size) {
  auto &e = *static_cast<mbedtls_engine *>(self);
  auto bytes = reinterpret_cast<const std::byte *>(data);
  e.output_.insert(e.output_.end(), bytes, bytes + size);
  // Mbed TLS sends one whole record a call; its type is in the clear even when encrypted.
  e.alert_was_last_ = size > 0 && data[0] == MBEDTLS_SSL_MSG_ALERT;
  return static_cast<int>(size);
}

std::size_t mbedtls_engine::readable_input() noexcept {
  std::size_t available = input_end_ - input_begin_;
  if (input_ended_)
    return available;
  for (;;) {
    auto next = detail::first_record(
        {input_.data() + input_begin_ + whole_records_, available - whole_records_});
    switch (next.state) {
    case detail::record_state::complete:
      whole_records_ += next.size;
      continue;
    case detail::record_state::invalid:
      return whole_records_ + next.size;
    default:
      return whole_records_;
    }
  }
}

int mbedtls_engine::receive_from_input(void *self, unsigned char *data, std::size_t size) {
  auto &e = *static_cast<mbedtls_engine *>(self);
  if (std::size_t left = e.reframed_.size() - e.reframed_begin_; left > 0) {
    std::size_t n = std::min(size, left);
    std::memcpy(data, e.reframed_.data() + e.reframed_begin_, n);
    e.reframed_begin_ += n;
    return static_cast<int>(n);
  }
  std::size_t n = std::min(size, e.readable_input());
  if (n == 0) {
    if (e.input_ended_) {
      e.reported_end_ = true;
      return 0;
    }
    e.reported_want_input_ = true;
    return MBEDTLS_ERR_SSL_WANT_READ;
  }
  std::memcpy(data, e.input_.data() + e.input_begin_, n);
  // No rewind here: a socket read may be filling the space after input_end_ right now.
  e.input_begin_ += n;
  e.whole_records_ -= std::min(n, e.whole_records_);
  return static_cast<int>(n);
}

step_result mbedtls_engine::fail(std::error_code ec, std::string detail) {
  failure_ = ec;
  // A connection that ends in a fatal error must not be resumed (RFC 5246 §7.2.2); a
  // missing close_notify is not such an error (§7.2.1).
  if (ec != error::stream_truncated) {
    if (session_offered_ && offered_session_)
      *offered_session_->resumable = false;
    if (own_session_)
      *own_session_->resumable = false;
  }
  failure_detail_ = detail.empty() ? ec.message() : std::move(detail);
  return {status::failed, 0, ec};
}

step_result mbedtls_engine::fail(int code) {
  if (auto alert = detail::fatal_alert_for(code, failed_input()))
    send_fatal_alert(*alert);
  switch (code) {
  case MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE:
  case MBEDTLS_ERR_SSL_INVALID_RECORD:
    // What the joiner left alone (encrypted_fragments.hpp): a cut message or a long one.
    if (!handshake_done_ && reframing_over_ && ssl_->in_msgtype == MBEDTLS_SSL_MSG_HANDSHAKE &&
        (ssl_->in_msglen < 4 || ssl_->in_msglen < ssl_->in_hslen))
      return fail(detail::engine_error(code),
                  "the peer's first encrypted handshake message is cut short or split in a way "
                  "the engine does not join (it joins a Finished of up to 64 bytes sent in "
                  "consecutive encrypted records)");
    break;
  case MBEDTLS_ERR_SSL_INVALID_MAC:
    if (ssl_->nb_zero > 3) // Mbed TLS's guard against a flood of empty records
      return fail(detail::engine_error(code),
                  "the peer sent four empty records in a row, which Mbed TLS 2.28 refuses as "
                  "a possible denial of service");
    break;
  case MBEDTLS_ERR_SSL_BAD_INPUT_DATA: // Mbed TLS's answer to a record longer than TLS allows
    return fail(detail::engine_error(MBEDTLS_ERR_SSL_INVALID_RECORD),
                "the peer sent a record longer than TLS allows");
  default:
    break;
  }
  auto ec = detail::engine_error(code);
  if (code == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && ssl_->in_msg != nullptr)
    return fail(ec, describe_fatal_alert(ssl_->in_msg[1]));
  if (ec == error::stream_truncated && !handshake_done_)
    return fail(ec, "the peer closed the connection during the TLS handshake");
  return fail(ec);
}

detail::failed_input mbedtls_engine::failed_input() const {
  detail::failed_input in;
  if (ssl_->in_len != nullptr) {
    in.record_length = std::size_t{ssl_->in_len[0]} << 8 | ssl_->in_len[1];
    in.encrypted = ssl_->transform_in != nullptr;
  }
  if (ssl_->in_msg != nullptr && ssl_->in_msgtype == MBEDTLS_SSL_MSG_HANDSHAKE &&
      ssl_->in_hslen <= ssl_->in_msglen)
    in.handshake_message = {ssl_->in_msg, ssl_->in_hslen};
  return in;
}

void mbedtls_engine::send_fatal_alert(unsigned char description) {
  // Before the first handshake step nothing has reached the peer, and Mbed TLS may not be
  // set up.
  if (alert_was_last_ || !session_offered_ || ssl_->out_msg == nullptr)
    return;
  // A server refusing a ClientHello before Mbed TLS read its version: write TLS 1.2's.
  if (ssl_->major_ver == 0) {
    ssl_->major_ver = MBEDTLS_SSL_MAJOR_VERSION_3;
    ssl_->minor_ver = MBEDTLS_SSL_MINOR_VERSION_3;
  }
  mbedtls_ssl_send_alert_message(ssl_.get(), MBEDTLS_SSL_ALERT_LEVEL_FATAL, description);
}

std::string mbedtls_engine::describe_fatal_alert(unsigned char description) const {
  std::string name = alert_name(description);
  if (handshake_done_)
    return "the peer ended the connection with a fatal alert: " + name;
  // A TLS 1.3-only server answers a 1.2 ClientHello so.
  if (description == MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION && context_->role_ == role::client)
    return "the server refused TLS 1.2 (fatal alert: protocol_version); it may speak only "
           "TLS 1.3, which this engine (Mbed TLS 2.28) does not";
  return "the peer aborted the handshake with a fatal alert: " + name;
}

void mbedtls_engine::offer_session() {
  session_offered_ = true;
  if (!offered_session_)
    return;
  if (offered_session_->backend != tlsio::backend::mbedtls) {
    offered_session_.reset();
    fail(error::wrong_backend);
    return;
  }
  if (!may_resume(*offered_session_)) {
    offered_session_.reset(); // a full handshake verifies this server afresh
    return;
  }
  if (int ret = mbedtls_ssl_set_session(ssl_.get(), offered_session_->value.get()); ret != 0)
    fail(ret);
}

step_result mbedtls_engine::reframe_input() {
  if (reframing_over_)
    return {status::done, 0, {}};
  std::span<const std::byte> input(input_.data() + input_begin_, input_end_ - input_begin_);
  auto r = detail::reframe_handshake(std::move(carry_), input);
  carry_ = std::move(r.carry);
  // No rewind of input_ here: a socket read may be filling the space after input_end_.
  input_begin_ += r.consumed;
  whole_records_ -= std::min(r.consumed, whole_records_);
  if (reframed_begin_ == reframed_.size()) {
    reframed_.clear();
    reframed_begin_ = 0;
  }
  reframed_.insert(reframed_.end(), r.records.begin(), r.records.end());
  switch (r.error) {
  case detail::reframe_error::message_too_long:
    send_fatal_alert(MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR);
    return fail(detail::engine_error(MBEDTLS_ERR_SSL_FEATURE_UNAVAILABLE),
                "the peer sent a handshake message longer than the 16384 bytes that Mbed TLS "
                "2.28 can take");
  case detail::reframe_error::empty_record:
    send_fatal_alert(MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR);
    return fail(detail::engine_error(MBEDTLS_ERR_SSL_INVALID_RECORD),
                "the peer sent an empty handshake record");
  default:
    break;
  }
  // From the peer's ChangeCipherSpec on, records are encrypted; a message cut by it is
  // Mbed TLS's to refuse (it will find a ChangeCipherSpec where it waits for the rest).
  auto next = detail::first_record(input.subspan(r.consumed));
  if (next.state == detail::record_state::complete &&
      input[r.consumed] == std::byte{MBEDTLS_SSL_MSG_CHANGE_CIPHER_SPEC})
    reframing_over_ = true;
  return {status::done, 0, {}};
}

step_result mbedtls_engine::join_encrypted_input() {
  // Only between the peer's ChangeCipherSpec and its Finished, in the one step that reads
  // that Finished (a step that reads nothing would leave the joined record unread), with
  // Mbed TLS at a record boundary and nothing re-framed left for it.
  const int reads_finished =
      context_->role_ == role::client ? MBEDTLS_SSL_SERVER_FINISHED : MBEDTLS_SSL_CLIENT_FINISHED;
  if (!reframing_over_ || handshake_done_ || ssl_->state != reads_finished ||
      ssl_->transform_in == nullptr || ssl_->in_left != 0 || reframed_begin_ != reframed_.size())
    return {status::done, 0, {}};
  std::span<const std::byte> input(input_.data() + input_begin_, input_end_ - input_begin_);
  // Fragments already looked at are decrypted again only once another record is whole, so
  // a last record that trickles in costs nothing per byte.
  if (joined_so_far_ > 0 && !input_ended_ &&
      detail::first_record(input.subspan(joined_so_far_)).state == detail::record_state::partial)
    return {status::want_input, 0, {}};
  auto j = detail::join_encrypted_handshake(*ssl_.get(), input);
  joined_so_far_ = 0;
  using outcome = detail::encrypted_join::outcome;
  switch (j.result) {
  case outcome::not_split:
    return {status::done, 0, {}};
  case outcome::incomplete:
    if (input_ended_)
      return fail(error::stream_truncated,
                  "the peer closed the connection during the TLS handshake");
    joined_so_far_ = j.consumed;
    return {status::want_input, 0, {}};
  case outcome::failed:
    return fail(j.error);
  case outcome::joined:
    break;
  }
  input_begin_ += j.consumed;
  whole_records_ -= std::min(j.consumed, whole_records_);
  reframed_.assign(j.record.begin(), j.record.end());
  reframed_begin_ = 0;
  set_aside_transform_ = ssl_->transform_in;
  joined_records_ = j.records;
  ssl_->transform_in = nullptr;
  return {status::done, 0, {}};
}

int mbedtls_engine::handshake_step() {
  int ret = mbedtls_ssl_handshake_step(ssl_.get());
  if (set_aside_transform_ == nullptr)
    return ret;
  // The joined record is whole in reframed_, so this one step has read it: the protection
  // comes back before anything else is read, and the sequence numbers skip its fragments.
  bool read_it = reframed_begin_ == reframed_.size() && ssl_->in_left == 0;
  ssl_->transform_in = std::exchange(set_aside_transform_, nullptr);
  detail::advance_incoming_sequence(*ssl_.get(), joined_records_);
  if (!read_it && (ret == 0 || ret == MBEDTLS_ERR_SSL_WANT_READ))
    return MBEDTLS_ERR_SSL_INTERNAL_ERROR; // never left reading plaintext
  return ret;
}

step_result mbedtls_engine::check_client_hello() {
  if (context_->role_ != role::server) {
    client_hello_checked_ = true;
    return {status::done, 0, {}};
  }
  std::span<const std::byte> hello(reframed_.data() + reframed_begin_,
                                   reframed_.size() - reframed_begin_);
  if (hello.empty()) {
    std::span<const std::byte> input(input_.data() + input_begin_, input_end_ - input_begin_);
    auto first = detail::first_record(input);
    bool whole_other = first.state != detail::record_state::partial && carry_.bytes.empty();
    if (!input_ended_ && !whole_other)
      return {status::want_input, 0, {}}; // wait for the whole ClientHello
    client_hello_checked_ = true;         // not a ClientHello: Mbed TLS will say why
    return {status::done, 0, {}};
  }
  client_hello_checked_ = true;
  hello = hello.first(detail::first_record(hello).size);
  if (auto problem = detail::client_hello_problem(hello)) {
    send_fatal_alert(problem->alert);
    return fail(detail::engine_error(MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO),
                std::move(problem->reason));
  }
  check_offered_alpn(hello);
  return {status::done, 0, {}};
}

void mbedtls_engine::check_offered_alpn(std::span<const std::byte> hello) {
  auto &ctx = *context_;
  if (ctx.alpn_.empty() || ctx.alpn_mismatch_ != alpn_mismatch::proceed)
    return;
  auto offered = detail::offered_alpn(hello);
  if (!offered || offered->empty())
    return;
  for (const auto &protocol : *offered)
    if (std::find(ctx.alpn_.begin(), ctx.alpn_.end(), protocol) != ctx.alpn_.end())
      return;
  // Nothing in common: this connection goes on as if the server spoke no ALPN.
  ssl_->conf = &ctx.config_without_alpn_;
}

int mbedtls_engine::read_application_data(unsigned char *data, std::size_t size) {
  // Each pass that does not return consumed at least one record, so this ends.
  for (;;) {
    reported_end_ = reported_want_input_ = false;
    int ret = mbedtls_ssl_read(ssl_.get(), data, size);
    if (ret > 0 || (ret == 0 && mbedtls_ssl_get_bytes_avail(ssl_.get()) > 0))
      return ret;
    // 0 is also two empty application data records in a row, not only the end of input.
    if (ret == 0 && reported_end_)
      return MBEDTLS_ERR_SSL_CONN_EOF;
    // After a warning alert it skipped (no_renegotiation), Mbed TLS says WANT_READ itself.
    if (ret == MBEDTLS_ERR_SSL_WANT_READ && reported_want_input_)
      return ret;
    if (ret != 0 && ret != MBEDTLS_ERR_SSL_WANT_READ)
      return ret;
  }
}

step_result mbedtls_engine::read_result(int ret) {
  if (ret >= 0)
    return {status::done, static_cast<std::size_t>(ret), {}};
  switch (ret) {
  case MBEDTLS_ERR_SSL_WANT_READ:
    return {status::want_input, 0, {}};
  case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
    peer_closed_ = true;
    return {status::closed, 0, {}};
  case MBEDTLS_ERR_SSL_CONN_EOF:
    return fail(error::stream_truncated);
  default:
    return fail(ret);
  }
}

bool mbedtls_engine::application_data_waits() noexcept {
  constexpr auto application_data = std::byte{23};
  std::span<const std::byte> input(input_.data() + input_begin_, input_end_ - input_begin_);
  return detail::first_record(input).state == detail::record_state::complete &&
         input[0] == application_data;
}

void mbedtls_engine::read_more_records(unsigned char *data, std::size_t size, step_result &r) {
  while (r.status == status::done && r.bytes > 0 && r.bytes < size &&
         mbedtls_ssl_get_bytes_avail(ssl_.get()) == 0 && application_data_waits()) {
    int ret = mbedtls_ssl_read(ssl_.get(), data + r.bytes, size - r.bytes);
    if (ret < 0) {
      read_result(ret); // a failure stays for the next step
      return;
    }
    r.bytes += static_cast<std::size_t>(ret); // 0: an empty record, skipped
  }
}

// --- The steps -------------------------------------------------------------------------------

mbedtls_engine::mbedtls_engine(std::shared_ptr<context::impl> ctx) : engine::impl(std::move(ctx)) {
  const auto &prepare_error = context_->prepare();
  if (prepare_error) {
    fail(prepare_error);
    return;
  }
  if (int ret = mbedtls_ssl_setup(ssl_.get(), context_->config_.get()); ret != 0) {
    fail(ret);
    return;
  }
  mbedtls_ssl_set_bio(ssl_.get(), this, &send_to_output, &receive_from_input, nullptr);
  verifier_.attach(*ssl_.get());
}

void mbedtls_engine::apply_server_name() {
  // SNI carries DNS names only (RFC 6066); an IP literal is verified by verifier_.
  int ret = mbedtls_ssl_set_hostname(ssl_.get(), server_ip_ ? nullptr : server_name_.c_str());
  if (ret != 0)
    fail(ret);
}

std::optional<session> mbedtls_engine::get_session() const {
  auto &e = *this;
  if (!e.handshake_done_ || e.context_->role_ != role::client)
    return std::nullopt;
  if (e.failure_ && e.failure_ != error::stream_truncated)
    return std::nullopt;
  if (!e.own_session_) {
    auto made = std::make_shared<session::impl>();
    if (mbedtls_ssl_get_session(e.ssl_.get(), made->value.get()) != 0)
      return std::nullopt;
    made->server_name = detail::canonical_host_name(e.server_name_);
    if (e.resumed_ && e.offered_session_) // the same TLS session: it lives and dies as one
      made->resumable = e.offered_session_->resumable;
    made->origin = e.context_;
    e.own_session_ = std::move(made);
  }
  if (!*e.own_session_->resumable)
    return std::nullopt;
  return session(e.own_session_);
}

step_result mbedtls_engine::handshake() {
  auto &e = *this;
  e.alert_was_last_ = false; // only an alert of this call is Mbed TLS's fatal one
  if (e.failure_)
    return {status::failed, 0, e.failure_};
  if (e.handshake_done_)
    return {status::done, 0, {}};
  const auto &ctx = *e.context_;
  if (ctx.role_ == role::client && ctx.verify_ == verify::peer && e.server_name_.empty())
    return e.fail(error::no_host_name);
  if (!e.session_offered_)
    e.offer_session();
  if (e.failure_)
    return {status::failed, 0, e.failure_};
  // Stepping by hand, to see whether the server resumed before Mbed TLS frees that state,
  // and to judge the peer's certificate before the next step uses it.
  const int peer_certificate_state =
      ctx.role_ == role::client ? MBEDTLS_SSL_SERVER_CERTIFICATE : MBEDTLS_SSL_CLIENT_CERTIFICATE;
  int ret = 0;
  while (ret == 0 && e.ssl_->state != MBEDTLS_SSL_HANDSHAKE_OVER) {
    if (auto r = e.reframe_input(); r.status == status::failed)
      return r;
    if (!e.client_hello_checked_)
      if (auto r = e.check_client_hello(); r.status != status::done)
        return r;
    if (e.ssl_->handshake != nullptr) {
      e.resumed_ = e.ssl_->handshake->resume != 0;
      // RFC 8422 §5.1.2: our ECDHE point goes uncompressed, whatever the peer listed first
      // (Mbed TLS 2.28 takes the first format it knows).
      e.ssl_->handshake->ecdh_ctx.point_format = MBEDTLS_ECP_PF_UNCOMPRESSED;
    }
    if (auto r = e.join_encrypted_input(); r.status != status::done)
      return r;
    int state = e.ssl_->state;
    ret = e.handshake_step();
    if (ret == 0 && state == peer_certificate_state && e.ssl_->state != state)
      if (auto r = e.verifier_.judge_step(e, *e.ssl_.get()); r.status == status::failed)
        return r;
  }
  if (ret == 0) {
    e.handshake_done_ = true;
    // The re-framer's buffers served the handshake only: an idle connection keeps neither.
    if (e.reframed_begin_ == e.reframed_.size()) {
      decltype(e.reframed_)().swap(e.reframed_);
      e.reframed_begin_ = 0;
    }
    decltype(e.carry_.bytes)().swap(e.carry_.bytes);
    if (!e.cache_key_.empty() && e.context_->session_cache_)
      if (auto made = e.get_session())
        e.context_->session_cache_->insert(e.cache_key_, made->shared());
    return {status::done, 0, {}};
  }
  if (ret == MBEDTLS_ERR_SSL_WANT_READ)
    return {status::want_input, 0, {}};
  return e.fail(ret);
}

step_result mbedtls_engine::read(std::span<std::byte> out) {
  auto &e = *this;
  e.alert_was_last_ = false; // only an alert of this call is Mbed TLS's fatal one
  if (e.failure_)
    return {status::failed, 0, e.failure_};
  if (!e.handshake_done_)
    return {status::failed, 0, error::not_connected};
  if (e.peer_closed_)
    return e.close_notify_sent_ ? step_result{status::failed, 0, error::not_connected}
                                : step_result{status::closed, 0, {}};
  if (out.empty())
    return {status::done, 0, {}};
  auto data = reinterpret_cast<unsigned char *>(out.data());
  auto r = e.read_result(e.read_application_data(data, out.size()));
  e.read_more_records(data, out.size(), r);
  return r;
}

step_result mbedtls_engine::write(std::span<const std::byte> data) {
  auto &e = *this;
  e.alert_was_last_ = false; // only an alert of this call is Mbed TLS's fatal one
  if (e.failure_)
    return {status::failed, 0, e.failure_};
  if (!e.handshake_done_ || e.close_notify_sent_)
    return {status::failed, 0, error::not_connected};
  auto p = reinterpret_cast<const unsigned char *>(data.data());
  std::size_t written = 0;
  // The memory BIO takes everything, so each call only stops at a record boundary.
  while (written < data.size()) {
    int ret = mbedtls_ssl_write(e.ssl_.get(), p + written, data.size() - written);
    if (ret < 0)
      return e.fail(ret);
    written += static_cast<std::size_t>(ret);
  }
  return {status::done, written, {}};
}

step_result mbedtls_engine::shutdown() {
  auto &e = *this;
  e.alert_was_last_ = false; // only an alert of this call is Mbed TLS's fatal one
  if (e.failure_)
    return {status::failed, 0, e.failure_};
  if (!e.handshake_done_)
    return {status::failed, 0, error::not_connected};
  if (!e.close_notify_sent_) {
    if (int ret = mbedtls_ssl_close_notify(e.ssl_.get()); ret != 0)
      return e.fail(ret);
    e.close_notify_sent_ = true;
  }
  // Application data still in flight from the peer is discarded while waiting.
  unsigned char discard[4096];
  while (!e.peer_closed_) {
    auto r = e.read_result(e.read_application_data(discard, sizeof discard));
    if (r.status == status::want_input || r.status == status::failed)
      return r;
  }
  return {status::done, 0, {}};
}

std::span<std::byte> mbedtls_engine::prepare_input(std::size_t min_size) {
  auto &e = *this;
  if (e.input_begin_ == e.input_end_)
    e.input_begin_ = e.input_end_ = 0;
  if (e.input_.size() - e.input_end_ < min_size && e.input_begin_ > 0) {
    std::memmove(e.input_.data(), e.input_.data() + e.input_begin_, e.input_end_ - e.input_begin_);
    e.input_end_ -= e.input_begin_;
    e.input_begin_ = 0;
  }
  if (e.input_.size() - e.input_end_ < min_size)
    e.input_.resize(e.input_end_ + min_size);
  return {e.input_.data() + e.input_end_, e.input_.size() - e.input_end_};
}

void mbedtls_engine::release_input() noexcept {
  auto &e = *this;
  if (e.input_begin_ != e.input_end_)
    return;
  e.input_begin_ = e.input_end_ = 0;
  decltype(e.input_)().swap(e.input_);
}

std::span<const std::byte> mbedtls_engine::pending_output() const noexcept {
  const auto &e = *this;
  return {e.output_.data() + e.output_begin_, e.output_.size() - e.output_begin_};
}

void mbedtls_engine::consume_output(std::size_t n) noexcept {
  auto &e = *this;
  e.output_begin_ += n;
  if (e.output_begin_ >= e.output_.size()) {
    e.output_.clear();
    e.output_begin_ = 0;
  }
}

void mbedtls_engine::swap_output(std::vector<std::byte> &buffer) {
  auto &e = *this;
  if (e.output_begin_ > 0) {
    e.output_.erase(e.output_.begin(),
                    e.output_.begin() + static_cast<std::ptrdiff_t>(e.output_begin_));
    e.output_begin_ = 0;
  }
  buffer.clear();
  e.output_.swap(buffer);
}

bool mbedtls_engine::read_ready() {
  auto &e = *this;
  e.alert_was_last_ = false; // only an alert of this call is Mbed TLS's fatal one
  if (e.failure_ || e.peer_closed_ || e.input_ended_)
    return true;
  if (mbedtls_ssl_get_bytes_avail(e.ssl_.get()) > 0)
    return true;
  bool records_wait = e.readable_input() > 0 || e.reframed_begin_ < e.reframed_.size() ||
                      mbedtls_ssl_check_pending(e.ssl_.get());
  if (!e.handshake_done_ || !records_wait)
    return records_wait;
  // Reading 0 bytes processes records up to the first application data and leaves it there.
  unsigned char none[1];
  int ret = e.read_application_data(none, 0);
  return e.read_result(ret).status != status::want_input;
}

std::size_t mbedtls_engine::pending_input() const noexcept {
  const auto &e = *this;
  return e.input_end_ - e.input_begin_ + e.reframed_.size() - e.reframed_begin_ +
         e.carry_.bytes.size();
}

std::string mbedtls_engine::protocol_version() const {
  return handshake_done_ ? mbedtls_ssl_get_version(ssl_.get()) : "";
}

std::string mbedtls_engine::cipher_suite() const {
  return handshake_done_ ? mbedtls_ssl_get_ciphersuite(ssl_.get()) : "";
}

std::string mbedtls_engine::alpn_protocol() const {
  const char *protocol = mbedtls_ssl_get_alpn_protocol(ssl_.get());
  return protocol ? protocol : "";
}

std::optional<certificate_info> mbedtls_engine::peer_certificate() const {
  const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(ssl_.get());
  if (crt == nullptr)
    return std::nullopt;
  return describe_certificate(*crt);
}

std::error_code mbedtls_engine::verification_result() const noexcept {
  return verifier_.result(*ssl_.get());
}

std::string mbedtls_version() {
  char version[32];
  mbedtls_version_get_string(version);
  return version;
}

} // namespace tlsio::detail
