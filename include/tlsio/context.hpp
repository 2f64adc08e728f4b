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
#include <cstddef>
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

  // The trusted CAs are one source (the system store, a bundle file, or none), chosen by the
  // last of use_system_ca(), set_ca_bundle() and no_ca() (each replaces what an earlier one
  // chose), plus every certificate add_certificate_authority() added (kept across them).

  /// Trust the system's CA store (the default for clients). If this machine has none,
  /// connections fail at the handshake with tlsio::error::no_system_ca_store. A server
  /// verifies client certificates against the system store only after an explicit call.
  void use_system_ca();
  /// Trust the CA certificates in a PEM (or DER) bundle file, read now, instead of the
  /// system store or an earlier bundle. Errors: the file's errno (std::generic_category),
  /// error::no_certificate if it holds none, or the engine's parse error; on error the
  /// trust settings are unchanged. The first form throws std::system_error.
  void set_ca_bundle(const std::filesystem::path &path);
  void set_ca_bundle(const std::filesystem::path &path, std::error_code &ec);
  /// Trust no source: only what add_certificate_authority() adds.
  void no_ca();
  /// Trust one more CA certificate (PEM text, one or more certificates), on top of the
  /// source. Errors as set_ca_bundle(); the first form throws std::system_error.
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

  /// Server: ask clients for a certificate, verified against this context's trusted CAs:
  /// set_ca_bundle() or add_certificate_authority(), never the system store unless
  /// use_system_ca() was called explicitly (any public CA's client certificate would pass).
  /// Asking with no CA is a configuration error, error::no_client_ca, reported by
  /// finalize(), by tlsio::acceptor's constructor and by every handshake.
  void set_client_certificate(client_certificate mode);

  /// The key exchange groups to offer or accept, most preferred first
  /// (default: x25519, secp256r1, secp384r1).
  void set_key_exchange_groups(const std::vector<key_exchange_group> &groups);

  /// Server: issue session tickets (RFC 5077) so clients can resume without a full
  /// handshake. The ticket keys are random, kept in memory, and rotate every `lifetime`.
  /// Calling it again replaces the keys and the lifetime. Throws std::system_error if the
  /// engine cannot set up the keys.
  void enable_session_tickets(std::chrono::seconds lifetime = std::chrono::hours(1));

  /// Application protocols to offer (client) or accept (server), most preferred first
  /// (RFC 7301). A server chooses by its own order among what the client offers. Each name
  /// is 1 to 255 bytes without NUL, the whole list at most 65535 bytes encoded; otherwise
  /// error::invalid_alpn (thrown as std::system_error by the first form), and the context is
  /// unchanged. An empty vector turns ALPN off.
  void set_alpn(std::vector<std::string> protocols,
                alpn_mismatch on_mismatch = alpn_mismatch::fail);
  void set_alpn(std::vector<std::string> protocols, alpn_mismatch on_mismatch, std::error_code &ec);

  /// Server: another certificate chain and key, chosen when a client's SNI server name
  /// matches one of `names` (exact, or "*.example.com" for one label, case-insensitive).
  /// Clients sending another name or none get the chain from load_certificate_chain(), or
  /// else the first virtual host's.
  void add_virtual_host(const std::vector<std::string> &names, std::string_view chain_pem,
                        std::string_view key_pem,
                        std::optional<std::string_view> password = std::nullopt);

  /// Client: remember the last session per server so that the next tlsio::async_connect to
  /// it resumes instead of doing a full handshake. The key is the server identity that was
  /// verified, "name:port", where name is connect_options::server_name if given, else the
  /// host (compared without case and without a trailing dot). At most `capacity` servers
  /// are remembered; the least recently used goes first. A session whose connection later
  /// failed fatally is dropped (see tlsio::session). Default capacity: 256.
  void enable_session_cache(std::size_t capacity = 256);
  /// The remembered session for `server` ("name:port"), if the cache is on and has one fit
  /// for resumption. Thread-safe: may be called from any thread at any time.
  std::optional<session> cached_session(std::string_view server) const;
  /// Remembers `s` for `server` ("name:port"; async_connect does this after each handshake),
  /// replacing what was there. Does nothing unless enable_session_cache() was called.
  /// Thread-safe: may be called from any thread at any time.
  void cache_session(std::string_view server, const session &s) const;

  /// How long a handshake may take before it fails with error::handshake_timeout.
  /// Applied by streams and acceptors; default 10 s.
  void set_handshake_timeout(std::chrono::milliseconds timeout);
  std::chrono::milliseconds handshake_timeout() const noexcept;

  /// Makes the configuration final and read-only, as the first connection does, and
  /// returns what each connection would fail with (error::no_certificate for a server
  /// without one, error::no_client_ca, error::no_system_ca_store, a key that does not fit),
  /// or no error. Idempotent. Thread-safe once configuration is over.
  std::error_code finalize() const;

  // --- Debugging ----------------------------------------------------------------------------

  /// DANGER: write the secrets of every connection made with this context to the file at
  /// `path`, one line per connection in the NSS key log format ("CLIENT_RANDOM <client
  /// random> <master secret>", hex), so that Wireshark or tshark can decrypt a capture.
  /// Anyone who can read the file can read all that traffic. For debugging; never in
  /// production.
  ///
  /// The file is opened now, for appending: an existing file is added to, never truncated;
  /// a new one is created with mode 0600 (owner only). If the last component of `path` is a
  /// symbolic link, it is refused with error::key_log_symlink; an existing file that is not
  /// a regular file owned by this user with no group or other access (a FIFO, a file
  /// another user planted, mode 0644) with error::key_log_not_private: nobody else may
  /// read or redirect the secrets. Other failures to open give the system's
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
