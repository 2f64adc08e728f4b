// The engine seam (internal): what tlsio::engine asks of a TLS backend for one connection.
//
// tlsio::engine holds one of these; src/mbedtls/ and src/openssl/ implement it. The public
// engine does what no backend owns (the server name's rules, which session may be offered)
// and forwards the rest. Each member keeps the contract of the public member of that name
// in engine.hpp.
#pragma once

#include "context_impl.hpp"
#include "peer_name.hpp"

#include <tlsio/engine.hpp>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace tlsio {

struct engine::impl {
  explicit impl(std::shared_ptr<context::impl> ctx) : context_(std::move(ctx)) {}
  virtual ~impl() = default;
  impl(const impl &) = delete;
  impl &operator=(const impl &) = delete;

  virtual step_result handshake() = 0;
  virtual step_result read(std::span<std::byte> out) = 0;
  virtual step_result write(std::span<const std::byte> data) = 0;
  virtual step_result shutdown() = 0;
  virtual bool read_ready() = 0;

  virtual std::span<std::byte> prepare_input(std::size_t min_size) = 0;
  virtual void commit_input(std::size_t n) = 0;
  virtual void release_input() noexcept = 0;
  virtual void put_eof() = 0;
  virtual std::size_t pending_input() const noexcept = 0;
  virtual std::span<const std::byte> pending_output() const noexcept = 0;
  virtual void consume_output(std::size_t n) noexcept = 0;
  virtual void swap_output(std::vector<std::byte> &buffer) = 0;

  /// The first handshake step has run: the server name and the session are fixed.
  virtual bool handshake_started() const noexcept = 0;
  /// Client: hands server_name_ (checked and normalized) to the backend, as SNI unless
  /// server_ip_ is set, and for verification.
  virtual void apply_server_name() = 0;
  virtual std::optional<session> get_session() const = 0;
  virtual bool resumed() const noexcept = 0;
  virtual bool handshake_done() const noexcept = 0;
  virtual std::error_code failure() const noexcept = 0;
  virtual std::string failure_detail() const = 0;
  /// Fails the engine with ec (detail: the sentence; ec's message if empty).
  virtual step_result fail(std::error_code ec, std::string detail) = 0;

  virtual std::string protocol_version() const = 0;
  virtual std::string cipher_suite() const = 0;
  virtual std::string alpn_protocol() const = 0;
  virtual std::optional<certificate_info> peer_certificate() const = 0;
  virtual std::error_code verification_result() const noexcept = 0;

  /// Client: a session set_session() stored may be offered here: made by this context, for
  /// this server name, and not ended by a fatal failure.
  bool may_resume(const session::impl &s) const;

  std::shared_ptr<context::impl> context_;
  std::string server_name_;
  std::optional<detail::ip_address> server_ip_;
  // What set_session() stored, until the first handshake step offers it (or drops it).
  std::shared_ptr<const session::impl> offered_session_;
  // Client: where the context's session cache keeps this connection's sessions ("name:port");
  // empty: nowhere.
  std::string cache_key_;
};

/// A connection on the context's backend.
std::unique_ptr<engine::impl> make_engine(std::shared_ptr<context::impl> ctx);

} // namespace tlsio
