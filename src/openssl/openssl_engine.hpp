// The OpenSSL 3 backend of the engine seam: one connection (internal). The TLS work is
// openssl::connection's; this adds what tlsio::engine promises on every backend: sessions
// tied to their context and server name, failures in the same words, the context's cache
// fed as sessions arrive.
#pragma once

#include "../core/record_buffers.hpp"
#include "../engine_impl.hpp"
#include "openssl_connection.hpp"

#include <memory>
#include <optional>
#include <string>

namespace tlsio::detail {

struct openssl_engine final : engine::impl {
  /// A connection with ctx's SSL_CTX; one whose context failed to prepare starts failed.
  explicit openssl_engine(std::shared_ptr<context::impl> ctx);

  step_result handshake() override;
  step_result read(std::span<std::byte> out) override;
  step_result write(std::span<const std::byte> data) override;
  step_result shutdown() override;
  bool read_ready() override;
  std::span<std::byte> prepare_input(std::size_t min_size) override {
    return input_.prepare(min_size);
  }
  void commit_input(std::size_t n) override { input_.commit(n); }
  void release_input() noexcept override { input_.release(); }
  void put_eof() override { input_.put_eof(); }
  std::size_t pending_input() const noexcept override { return input_.size(); }
  std::span<const std::byte> pending_output() const noexcept override { return output_.pending(); }
  void consume_output(std::size_t n) noexcept override { output_.consume(n); }
  void swap_output(std::vector<std::byte> &buffer) override { output_.swap(buffer); }
  bool handshake_started() const noexcept override { return handshake_started_; }
  void apply_server_name() override;
  std::optional<session> get_session() const override;
  bool resumed() const noexcept override;
  bool handshake_done() const noexcept override;
  std::error_code failure() const noexcept override;
  std::string failure_detail() const override;
  step_result fail(std::error_code ec, std::string detail) override;
  std::string protocol_version() const override;
  std::string cipher_suite() const override;
  std::string alpn_protocol() const override;
  std::optional<certificate_info> peer_certificate() const override;
  std::error_code verification_result() const noexcept override;

private:
  /// The first step: the session to offer, checked.
  void start_handshake();
  /// What a step of the connection returned, with a failure put in tlsio's words and the
  /// sessions it touched made unresumable.
  step_result checked(step_result r);
  std::string describe(std::error_code ec, const std::string &openssl_detail) const;
  void on_new_session(std::shared_ptr<SSL_SESSION> s);

  record_input input_;
  record_output output_;
  std::optional<openssl::connection> connection_;
  bool handshake_started_ = false;
  std::error_code failure_;
  std::string failure_detail_;
  // The newest session from the server, as get_session() hands it out.
  std::shared_ptr<session::impl> own_session_;
};

/// The OpenSSL library linked at run time, "3.0.17".
std::string openssl_version();

} // namespace tlsio::detail
