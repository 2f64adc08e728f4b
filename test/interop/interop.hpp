// Shared pieces of the interop tests: certificates on disk for the peer programs, the
// payload, a tlsio server on its own thread, and bounded runs of client coroutines
// (test helper).
#pragma once

#include "process.hpp"

#include <tlsio/acceptor.hpp>
#include <tlsio/compat.hpp>
#include <tlsio/connect.hpp>
#include <tlsio/testing/test_identity.hpp>

#include <asio.hpp>

#include <atomic>
#include <deque>
#include <filesystem>
#include <future>
#include <optional>
#include <string>

namespace interop {

/// n bytes of lowercase letters with a newline every 1040 bytes and at the end: text that
/// line-based peers (gnutls-serv --echo, gnutls-cli) pass on unchanged. tls_peer.py makes
/// the same.
std::string payload(std::size_t n);
inline const std::size_t payload_sizes[] = {0, 1, 16384, 1 << 20};

/// Empty if got == want, else how they differ (sizes, first differing offset): a message
/// that does not print a MiB of payload.
std::string difference(const std::string &got, const std::string &want);
/// CHECK that two payloads are the same, naming only where they differ.
#define INTEROP_CHECK_SAME(got, want)                                                              \
  do {                                                                                             \
    auto interop_difference_ = ::interop::difference(got, want);                                   \
    CHECK_MESSAGE(interop_difference_.empty(), interop_difference_);                               \
  } while (false)

/// The directory of these sources (tls_peer.py, nginx.conf.in).
std::filesystem::path source_dir();
/// `python3 tls_peer.py` with args.
std::vector<std::string> python_peer(std::vector<std::string> args);
/// The port a tls_peer.py server prints once it listens; throws if it prints none.
unsigned short python_port(process &peer);

/// The contents of a file ("" if it cannot be read).
std::string read_text(const std::filesystem::path &path);

/// A fresh directory under $TMPDIR, removed with its contents.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir &) = delete;
  temp_dir &operator=(const temp_dir &) = delete;
  const std::filesystem::path &path() const noexcept { return path_; }
  std::filesystem::path operator/(const std::string &name) const { return path_ / name; }
  /// Writes contents to name in this directory and returns its path.
  std::filesystem::path write(const std::string &name, std::string_view contents) const;

private:
  std::filesystem::path path_;
};

/// A root, an intermediate under it, and a server and a client leaf from the intermediate,
/// all of one key type, with PEM files for the peer programs. Clients trust the root only;
/// servers send leaf + intermediate.
struct pki {
  explicit pki(tlsio::test_identity::key_type key);

  tlsio::test_identity::key_type key;
  std::string name; ///< "ECDSA P-256" or "RSA-2048", for test logs
  tlsio::test_identity::authority root, intermediate;
  tlsio::test_identity::identity server, client;
  temp_dir dir;
  std::filesystem::path root_pem, intermediate_pem;
  std::filesystem::path server_leaf, server_chain, server_key; // chain: leaf + intermediate
  std::filesystem::path client_leaf, client_chain, client_key;

  tlsio::context client_context() const;
  tlsio::context client_context_with_certificate() const;
  tlsio::context server_context() const;

  static const pki &ecdsa();
  static const pki &rsa();
  static const pki &get(tlsio::test_identity::key_type key);
};

// --- tlsio as the client ----------------------------------------------------------------------

/// Runs a coroutine on io until it finishes; throws if it takes longer than bound.
template <class T>
T run_bounded(asio::io_context &io, asio::awaitable<T> a, std::chrono::milliseconds bound = 30s) {
  auto f = asio::co_spawn(io, std::move(a), asio::use_future);
  auto deadline = std::chrono::steady_clock::now() + bound;
  while (f.wait_for(0s) != std::future_status::ready) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("the tlsio side did not finish within its bound");
    io.restart();
    io.run_for(10ms);
  }
  return f.get();
}

struct connect_result {
  std::error_code ec;
  std::string detail; ///< failure_detail(), or the error's message
  std::optional<tlsio::stream<>> stream;
  std::chrono::milliseconds elapsed{};
};

/// tlsio::async_connect, keeping the error and the failure detail instead of throwing.
asio::awaitable<connect_result> try_connect(tlsio::context ctx, std::string host,
                                            unsigned short port, tlsio::connect_options o = {});
/// Writes data while reading as many bytes back (full duplex); throws on error.
asio::awaitable<std::string> exchange(tlsio::stream<> &s, std::string data);
/// Reads until the stream ends; returns how it ended (asio::error::eof after close_notify).
asio::awaitable<std::error_code> read_to_end(tlsio::stream<> &s, std::string &got);

// --- tlsio as the server ----------------------------------------------------------------------

/// What one accepted connection did.
struct session_record {
  std::size_t bytes = 0;    ///< application bytes read
  std::error_code read_end; ///< how reading ended: asio::error::eof after close_notify
  std::error_code write_error;
  std::error_code shutdown; ///< our close_notify exchange
  std::string protocol, cipher;
  std::optional<tlsio::certificate_info> peer_certificate;
};

using session_handler = std::function<asio::awaitable<session_record>(tlsio::stream<> &)>;
/// Echo until the peer's close_notify, then answer it.
session_handler echo_until_close();
/// Echo n bytes, then send close_notify first.
session_handler echo_then_close(std::size_t n);
/// One HTTP request; its body comes back as a close-delimited response (no Content-Length,
/// so the client needs close_notify to know it has all), then close_notify.
session_handler http_echo();

/// A tlsio::acceptor serving on 127.0.0.1, port 0, on its own io_context thread.
class tls_server {
public:
  tls_server(tlsio::context ctx, session_handler handler, tlsio::acceptor_options options = {});
  ~tls_server();
  unsigned short port() const noexcept { return port_; }
  std::string port_text() const { return std::to_string(port_); }

  /// The next finished session, in order of finishing.
  std::optional<session_record> next_session(std::chrono::milliseconds bound = 20s);
  /// The next handshake failure the acceptor reported.
  std::optional<tlsio::handshake_failure> next_failure(std::chrono::milliseconds bound = 20s);
  /// Sessions finished and failures reported so far (each connection is one or the other).
  std::size_t sessions() const;
  std::size_t failures() const;
  /// acceptor::failures(), read on the server's thread.
  std::size_t acceptor_failures();

  struct shared; // what the server's thread and the test share (internal)

private:
  asio::io_context io_;
  std::shared_ptr<shared> shared_;
  std::optional<tlsio::acceptor> acceptor_;
  unsigned short port_ = 0;
  std::thread thread_;
};

} // namespace interop
