// tlsio::context: the configuration that TLS connections share.
//
// A context holds what is the same for many connections: the role (client or server), the
// trusted CA certificates, this side's certificate chain and private key, verification
// policy, ALPN protocols and the handshake timeout. Configure it first, then hand it to
// engines or streams; once the first connection has used it, it is read-only and may be
// shared by any number of connections on any number of threads. A context is a handle:
// copies refer to the same configuration.
//
// Secure by default: a client verifies the server's certificate chain against the system's
// CA store and checks the host name. Only set_verify(verify::insecure_skip) turns that off.
//
// Debugging aid, off unless the application asks: set_key_log_file() appends the secrets of
// every connection to a file in the NSS key log format, so that Wireshark or tshark can
// decrypt a capture. Anyone who can read that file can read the traffic; never use it in
// production. The library never reads SSLKEYLOGFILE by itself: a program that wants to
// honour it passes key_log_file_from_environment() to set_key_log_file().
//
// Every configuring call comes in two forms: one throws std::system_error, the other reports
// through a std::error_code& and leaves the context unchanged on failure. Calling one after
// the context has been used throws std::logic_error.
//
// Example (a client trusting one private CA):
//   tlsio::context ctx{tlsio::role::client};
//   ctx.set_ca_bundle("/etc/myapp/ca.pem");
//
// Example (a server):
//   tlsio::context ctx{tlsio::role::server};
//   ctx.load_certificate_chain("server.pem");        // leaf first, then intermediates
//   ctx.load_private_key("server.key", "password");  // or no password
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace tlsio {

class engine;
class session;

/// What a server does when a client offers ALPN protocols and none is in its list.
enum class alpn_mismatch {
  fail,    ///< refuse with the no_application_protocol alert (RFC 7301's advice; default)
  proceed, ///< go on without ALPN; the stream's alpn_protocol() is empty
};

/// Which end of the connection a context configures.
enum class role { client, server };

/// Whether a client verifies the server it connects to.
enum class verify {
  /// Verify the certificate chain and the host name (the default).
  peer,
  /// DANGER: accept any certificate from anyone. For experiments only; an attacker on the
  /// path can read and change everything.
  insecure_skip,
};

/// Whether a server asks its clients for a certificate.
enum class client_certificate {
  none,     ///< Do not ask (the default).
  optional, ///< Ask; a client may send none, but one it sends must verify.
  required, ///< Ask, and refuse clients without a valid certificate.
};

/// Where the trusted CA certificates come from.
enum class ca_source {
  system, ///< The system store found at start-up (the default).
  bundle, ///< A file given to set_ca_bundle().
  none,   ///< Only what add_certificate_authority() adds.
};

/// Elliptic-curve groups for the ECDHE key exchange.
enum class key_exchange_group { x25519, secp256r1, secp384r1 };

class context {
public:
  explicit context(role r);

  role get_role() const noexcept;

  // --- Trust ------------------------------------------------------------------------------

  /// Trust the system's CA store (the default). If this machine has none, connections fail
  /// at the handshake with tlsio::error::no_system_ca_store.
  void use_system_ca();
  /// Trust the CA certificates in a PEM (or DER) bundle file, loaded now.
  void set_ca_bundle(const std::filesystem::path &path);
  void set_ca_bundle(const std::filesystem::path &path, std::error_code &ec);
  /// Trust nothing but what add_certificate_authority() adds.
  void no_ca();
  /// Trust one more CA certificate (PEM text, one or more certificates). Adds to whatever
  /// source is chosen.
  void add_certificate_authority(std::string_view pem);
  void add_certificate_authority(std::string_view pem, std::error_code &ec);
  ca_source get_ca_source() const noexcept;

  /// The system CA store found at start-up ($SSL_CERT_FILE, $SSL_CERT_DIR, then the usual
  /// locations of Debian/Ubuntu, Fedora/RHEL, openSUSE and Alpine), or nothing.
  static std::optional<std::filesystem::path> system_ca_location();

  // --- This side's identity -----------------------------------------------------------------

  /// Load certificates from a PEM file: the leaf first, then intermediates. May be called
  /// again to append more intermediates.
  void load_certificate_chain(const std::filesystem::path &path);
  void load_certificate_chain(const std::filesystem::path &path, std::error_code &ec);
  /// The same from PEM text.
  void load_certificate_chain_pem(std::string_view pem);
  void load_certificate_chain_pem(std::string_view pem, std::error_code &ec);

  /// Load the private key for the chain's leaf (PEM or DER; PKCS#1, SEC1 or PKCS#8), with
  /// its password if it is encrypted. A wrong password, a missing one, or a key that does
  /// not match the leaf certificate is reported here.
  void load_private_key(const std::filesystem::path &path,
                        std::optional<std::string_view> password = std::nullopt);
  void load_private_key(const std::filesystem::path &path, std::optional<std::string_view> password,
                        std::error_code &ec);
  void load_private_key_pem(std::string_view pem,
                            std::optional<std::string_view> password = std::nullopt);
  void load_private_key_pem(std::string_view pem, std::optional<std::string_view> password,
                            std::error_code &ec);

  // --- Policy -------------------------------------------------------------------------------

  /// Client: verify the server (verify::peer, the default) or not (verify::insecure_skip).
  void set_verify(verify mode);
  verify get_verify() const noexcept;

  /// Server: ask clients for a certificate, verified against this context's trusted CAs.
  void set_client_certificate(client_certificate mode);

  /// The key exchange groups to offer or accept, most preferred first
  /// (default: x25519, secp256r1, secp384r1).
  void set_key_exchange_groups(const std::vector<key_exchange_group> &groups);

  /// Server: issue session tickets (RFC 5077) so clients can resume without a full
  /// handshake. The ticket keys are random, kept in memory, and rotate every `lifetime`.
  void enable_session_tickets(std::chrono::seconds lifetime = std::chrono::hours(1));

  /// Application protocols to offer (client) or accept (server), most preferred first.
  /// A server chooses by its own order among what the client offers.
  void set_alpn(std::vector<std::string> protocols,
                alpn_mismatch on_mismatch = alpn_mismatch::fail);

  /// Server: another certificate chain and key, chosen when a client's SNI server name
  /// matches one of `names` (exact, or "*.example.com" for one label, case-insensitive).
  /// Clients sending another name or none get the chain from load_certificate_chain(), or
  /// else the first virtual host's.
  void add_virtual_host(const std::vector<std::string> &names, std::string_view chain_pem,
                        std::string_view key_pem,
                        std::optional<std::string_view> password = std::nullopt);

  /// Client: remember the last session per server ("host:port") so that the next
  /// tlsio::async_connect to it resumes instead of doing a full handshake.
  void enable_session_cache();
  /// The remembered session for `server`, if the cache is on and has one.
  std::optional<session> cached_session(std::string_view server) const;
  /// Remembers `s` for `server` (async_connect does this after each handshake).
  void cache_session(std::string_view server, const session &s) const;

  /// How long a handshake may take before it fails with error::handshake_timeout.
  /// Applied by streams and acceptors; default 10 s.
  void set_handshake_timeout(std::chrono::milliseconds timeout);
  std::chrono::milliseconds handshake_timeout() const noexcept;

  // --- Debugging ----------------------------------------------------------------------------

  /// DANGER: write the secrets of every connection made with this context to the file at
  /// `path`, one line per connection in the NSS key log format ("CLIENT_RANDOM <client
  /// random> <master secret>", hex), so that Wireshark or tshark can decrypt a capture.
  /// Anyone who can read the file can read all that traffic. For debugging; never in
  /// production.
  ///
  /// The file is opened now, for appending: an existing file is added to, never truncated,
  /// and keeps its permissions; a new one is created with mode 0600 (owner only). If the last
  /// component of `path` is a symbolic link, it is refused with error::key_log_symlink, so
  /// that nobody can send the secrets elsewhere. Other failures to open give the system's
  /// error (std::generic_category()). On failure the context is unchanged. A second call
  /// replaces the first file.
  ///
  /// Each line is written with a single write(2), so the lines of connections on different
  /// threads never mix and a tool reading the growing file sees whole lines. A write that
  /// fails is ignored: the log never fails a connection.
  ///
  /// Like the other setters: before the context's first use only (std::logic_error after),
  /// and not at the same time as other calls on the context.
  ///
  /// Example (a program that honours SSLKEYLOGFILE, as browsers and curl do):
  ///   if (auto path = tlsio::context::key_log_file_from_environment())
  ///     ctx.set_key_log_file(*path);
  void set_key_log_file(const std::filesystem::path &path);
  void set_key_log_file(const std::filesystem::path &path, std::error_code &ec);

  /// The file named by the environment variable SSLKEYLOGFILE, or nothing if it is unset or
  /// empty: for programs that choose to honour it. Reads the environment, so it must not
  /// run while another thread changes it (setenv, putenv).
  static std::optional<std::filesystem::path> key_log_file_from_environment();

  struct impl;

private:
  friend class engine;
  void check_mutable() const;
  std::shared_ptr<impl> impl_;
};

} // namespace tlsio
