/// \file
/// tlsio::context: the configuration that TLS connections share.
///
/// A context holds what is the same for many connections: the role (client or server), the
/// trusted CA certificates, this side's certificate chain and private key, verification
/// policy, ALPN protocols and the handshake timeout. Configure it first, then hand it to
/// engines or streams; once the first connection has used it, it is read-only and may be
/// shared by any number of connections on any number of threads. A context is a handle:
/// copies refer to the same configuration.
///
/// Secure by default: a client verifies the server's certificate chain against the system's
/// CA store and checks the host name. Only set_verify(verify::insecure_skip) turns that off.
///
/// Debugging aid, off unless the application asks: set_key_log_file() appends the secrets of
/// every connection to a file in the NSS key log format, so that Wireshark or tshark can
/// decrypt a capture. Anyone who can read that file can read the traffic; never use it in
/// production. The library never reads SSLKEYLOGFILE by itself: a program that wants to
/// honour it passes key_log_file_from_environment() to set_key_log_file().
///
/// Every configuring call comes in two forms: one throws std::system_error, the other reports
/// through a std::error_code& and leaves the context unchanged on failure. Calling one after
/// the context has been used throws std::logic_error.
///
/// Example (a client trusting one private CA):
///
///     tlsio::context ctx{tlsio::role::client};
///     ctx.set_ca_bundle("/etc/myapp/ca.pem");
///
/// Example (a server):
///
///     tlsio::context ctx{tlsio::role::server};
///     ctx.load_certificate_chain("server.pem");        // leaf first, then intermediates
///     ctx.load_private_key("server.key", "password");  // or no password
#pragma once

#include <tlsio/backend.hpp>

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
namespace dtls {
class engine;
}
namespace detail {
struct context_access; // the library's own parts that need the implementation
}

/// What a server does when a client offers ALPN protocols and none is in its list.
enum class alpn_mismatch {
  fail,    ///< refuse with the no_application_protocol alert (RFC 7301's advice; default)
  proceed, ///< go on without ALPN; the stream's alpn_protocol() is empty (TLS only: a
           ///< DTLS server refuses)
};

/// Which end of the connection a context configures.
enum class role {
  client, ///< Connects, sends SNI, verifies the server (by default).
  server, ///< Accepts, presents a certificate, may ask the client for one.
};

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
  system, ///< The system store (see context::system_ca_location()); the default.
  bundle, ///< A file given to set_ca_bundle().
  none,   ///< Only what add_certificate_authority() adds.
};

/// Elliptic-curve groups for the ECDHE key exchange.
enum class key_exchange_group {
  x25519,    ///< Curve25519 (RFC 7748).
  secp256r1, ///< NIST P-256.
  secp384r1, ///< NIST P-384.
};

/// The configuration that TLS connections share: role, trust, this side's identity,
/// policy, ALPN, session resumption and the handshake timeout.
///
/// A context is a handle: copies refer to the same configuration, and it lives as long as
/// any copy, engine or stream uses it. Configure it first; the first engine made with it (a
/// stream, a connect, an acceptor) or finalize() makes it final and read-only.
///
/// Errors. Each configuring call that can fail comes in two forms: one throws
/// std::system_error (whose code() is the error and whose what() names the call and the
/// file), the other reports through a std::error_code& (cleared on success) and throws
/// nothing for those errors. On failure the context is unchanged. Once the context has
/// been used, every setter, in either form, throws std::logic_error instead.
///
/// Thread safety. Setters: from one thread, and not while any other call on the context
/// (or a copy of it) runs. Once configuration is over, every const member may be called
/// from any number of threads at once, and the context may be shared by connections on
/// any threads; cached_session() and cache_session() lock and may run at any time.
class context {
public:
  /// A fresh configuration for one end of a connection on backend `b`, with the secure
  /// defaults: TLS 1.2 up to the newest version the backend speaks (1.2 on Mbed TLS, 1.3 on
  /// OpenSSL), ECDHE with AEAD cipher suites, renegotiation off, the system CA store for a
  /// client, peer verification on (verify::peer), no client certificates asked for, no
  /// ALPN, no session tickets or cache, a 10-second handshake timeout. Throws
  /// std::system_error: error::backend_unavailable if this build has no such backend (see
  /// available_backends()), or the engine's error if it refuses its default configuration.
  explicit context(role r, tlsio::backend b = default_backend());

  /// The role given to the constructor.
  role get_role() const noexcept;
  /// The backend given to the constructor. Its engines and sessions belong to it.
  tlsio::backend get_backend() const noexcept;

  // --- Protocol versions ----------------------------------------------------------------------

  /// The oldest TLS version to speak (default and floor: TLS 1.2; nothing older is
  /// offered). Errors (error::unsupported_version, the context unchanged): a version the
  /// backend does not speak (TLS 1.3 on Mbed TLS 2.28), or one above the maximum. This form
  /// throws std::system_error; std::logic_error once the context is in use.
  void set_min_version(tls_version v);
  /// As set_min_version(v), reporting errors through `ec` (cleared on success). Still
  /// throws std::logic_error once the context is in use.
  void set_min_version(tls_version v, std::error_code &ec);
  /// The newest TLS version to speak (default: the backend's newest). Errors as
  /// set_min_version(), for a version below the minimum. This form throws
  /// std::system_error; std::logic_error once the context is in use.
  void set_max_version(tls_version v);
  /// As set_max_version(v), reporting errors through `ec` (cleared on success). Still
  /// throws std::logic_error once the context is in use.
  void set_max_version(tls_version v, std::error_code &ec);
  /// The versions set (or the defaults).
  tls_version min_version() const noexcept;
  /// See min_version().
  tls_version max_version() const noexcept;

  // --- Trust ------------------------------------------------------------------------------

  // The trusted CAs are one source (the system store, a bundle file, or none), chosen by the
  // last of use_system_ca(), set_ca_bundle() and no_ca() (each replaces what an earlier one
  // chose), plus every certificate add_certificate_authority() added (kept across them).

  /// Trust the system's CA store (see system_ca_location()), replacing a bundle chosen
  /// earlier with set_ca_bundle() or a no_ca(); certificates added with
  /// add_certificate_authority() stay. This is a client's default. The store is read when
  /// the context is first used; if the machine has none, every handshake that must verify
  /// fails with error::no_system_ca_store (finalize() reports it too). A server verifies
  /// client certificates against the system store only after an explicit call (any public
  /// CA's certificate would otherwise pass). Throws std::logic_error once the context is
  /// in use.
  void use_system_ca();
  /// Trust the CA certificates in the PEM (or DER) bundle file at `path` instead of the
  /// system store, no_ca() or an earlier bundle: the last of use_system_ca(),
  /// set_ca_bundle() and no_ca() wins. Certificates added with add_certificate_authority()
  /// stay and are trusted as well. The file is read and checked now; later changes to it
  /// are not seen. Errors: the file's errno (std::generic_category(), e.g.
  /// no_such_file_or_directory); otherwise the engine's parse error (engine_category(),
  /// "CRT/CRL/CSR format is invalid") when the file holds no certificate at all (empty, a
  /// key only, a directory) or a certificate it cannot parse. Blocks other than
  /// certificates beside at least one certificate (a private key, say) are ignored. On error
  /// the trust settings are unchanged. This form throws std::system_error; std::logic_error once
  /// the context is in use.
  void set_ca_bundle(const std::filesystem::path &path);
  /// As set_ca_bundle(path), reporting the file and parse errors through `ec` (cleared on
  /// success) instead of throwing them. Still throws std::logic_error once the context is
  /// in use.
  void set_ca_bundle(const std::filesystem::path &path, std::error_code &ec);
  /// Trust no source: neither the system store nor a bundle, only the certificates that
  /// add_certificate_authority() adds (before or after this call). Replaces an earlier
  /// use_system_ca() or set_ca_bundle(). Throws std::logic_error once the context is in
  /// use.
  void no_ca();
  /// Trust one or more CA certificates more (PEM text, or one DER certificate), on top of
  /// whichever source is chosen. Calls accumulate, and use_system_ca(), set_ca_bundle() and
  /// no_ca() do not remove them. Errors as set_ca_bundle() (without the file's): this form
  /// throws std::system_error; std::logic_error once the context is in use.
  void add_certificate_authority(std::string_view pem);
  /// As add_certificate_authority(pem), reporting errors through `ec` (cleared on success)
  /// instead of throwing them. Still throws std::logic_error once the context is in use.
  void add_certificate_authority(std::string_view pem, std::error_code &ec);
  /// The source chosen last (ca_source::system if none was chosen). Says nothing about
  /// certificates added with add_certificate_authority().
  ca_source get_ca_source() const noexcept;

  /// The system CA store: $SSL_CERT_FILE, $SSL_CERT_DIR, then the usual bundle files and
  /// directories of Debian/Ubuntu, Fedora/RHEL, openSUSE and Alpine; the first that exists
  /// and is not empty, or nothing. Looked up once per process, the first time it is needed
  /// (later changes to the environment are not seen). Thread-safe.
  static std::optional<std::filesystem::path> system_ca_location();

  // --- This side's identity -----------------------------------------------------------------

  /// Load this side's certificates from the PEM file at `path`: the leaf first, then its
  /// intermediates. May be called again to append more intermediates. If a private key was
  /// loaded first, the leaf must match it. Errors: the file's errno
  /// (std::generic_category()), error::no_certificate, the engine's parse error, or
  /// error::private_key_mismatch; on error nothing is loaded. This form throws
  /// std::system_error; std::logic_error once the context is in use.
  void load_certificate_chain(const std::filesystem::path &path);
  /// As load_certificate_chain(path), reporting errors through `ec` (cleared on success)
  /// instead of throwing them. Still throws std::logic_error once the context is in use.
  void load_certificate_chain(const std::filesystem::path &path, std::error_code &ec);
  /// As load_certificate_chain(path), from PEM text instead of a file.
  void load_certificate_chain_pem(std::string_view pem);
  /// As load_certificate_chain_pem(pem), reporting errors through `ec` (cleared on
  /// success). Still throws std::logic_error once the context is in use.
  void load_certificate_chain_pem(std::string_view pem, std::error_code &ec);

  /// Load the private key for the chain's leaf from the file at `path` (PEM or DER; PKCS#1,
  /// SEC1 or PKCS#8), with `password` if it is encrypted. A second call replaces the key.
  /// Errors, reported here rather than at the first handshake: the file's errno,
  /// error::private_key_password_required, error::private_key_wrong_password,
  /// error::private_key_mismatch (a chain is loaded and its leaf does not fit), or the
  /// engine's parse error; on error the key is unchanged. This form throws
  /// std::system_error; std::logic_error once the context is in use.
  void load_private_key(const std::filesystem::path &path,
                        std::optional<std::string_view> password = std::nullopt);
  /// As load_private_key(path, password), reporting errors through `ec` (cleared on
  /// success). Still throws std::logic_error once the context is in use.
  void load_private_key(const std::filesystem::path &path, std::optional<std::string_view> password,
                        std::error_code &ec);
  /// As load_private_key(path, password), from PEM text instead of a file.
  void load_private_key_pem(std::string_view pem,
                            std::optional<std::string_view> password = std::nullopt);
  /// As load_private_key_pem(pem, password), reporting errors through `ec` (cleared on
  /// success). Still throws std::logic_error once the context is in use.
  void load_private_key_pem(std::string_view pem, std::optional<std::string_view> password,
                            std::error_code &ec);

  // --- Policy -------------------------------------------------------------------------------

  /// Client: verify the server (verify::peer, the default) or not (verify::insecure_skip).
  /// No effect on a server's context (see set_client_certificate()). Throws
  /// std::logic_error once the context is in use.
  void set_verify(verify mode);
  /// The mode set by set_verify() (verify::peer by default).
  verify get_verify() const noexcept;

  /// Server: ask clients for a certificate, verified against this context's trusted CAs:
  /// set_ca_bundle() or add_certificate_authority(), never the system store unless
  /// use_system_ca() was called explicitly (any public CA's client certificate would pass).
  /// Asking with no CA is a configuration error, error::no_client_ca, reported by
  /// finalize(), by tlsio::acceptor's constructor and by every handshake. No effect on a
  /// client's context. Throws std::logic_error once the context is in use.
  void set_client_certificate(client_certificate mode);

  /// The key exchange groups to offer (client) or accept (server), most preferred first
  /// (default: x25519, secp256r1, secp384r1). Every cipher suite is ECDHE, so the list
  /// must name at least one group the peer also supports. Throws std::logic_error once the
  /// context is in use.
  void set_key_exchange_groups(const std::vector<key_exchange_group> &groups);

  /// Server: issue session tickets (RFC 5077; under TLS 1.3 one NewSessionTicket after the
  /// handshake) so clients can resume without a full handshake. The ticket keys are random
  /// and kept in memory, and rotate every `lifetime` (seconds; also the lifetime the
  /// tickets announce): a ticket under the key before is still taken (and renewed), older
  /// ones lead to a full handshake. Calling it again replaces the keys
  /// and the lifetime. No effect on a client's context. Throws std::system_error if the
  /// engine cannot set up the keys, std::logic_error once the context is in use.
  void enable_session_tickets(std::chrono::seconds lifetime = std::chrono::hours(1));

  /// Application protocols to offer (client) or accept (server), most preferred first
  /// (RFC 7301). A server chooses by its own order among what the client offers; with
  /// none in common it does what `on_mismatch` says (a client ignores `on_mismatch`; a DTLS
  /// server always refuses, see dtls::engine::alpn_protocol()). Each
  /// name is 1 to 255 bytes without NUL, the whole list at most 65535 bytes encoded;
  /// otherwise error::invalid_alpn, and the context is unchanged. An empty vector turns
  /// ALPN off. A later call replaces the list. This form throws std::system_error;
  /// std::logic_error once the context is in use.
  void set_alpn(std::vector<std::string> protocols,
                alpn_mismatch on_mismatch = alpn_mismatch::fail);
  /// As set_alpn(protocols, on_mismatch), reporting error::invalid_alpn through `ec`
  /// (cleared on success). Still throws std::logic_error once the context is in use.
  void set_alpn(std::vector<std::string> protocols, alpn_mismatch on_mismatch, std::error_code &ec);

  /// Server: another certificate chain and key (PEM text, with `password` if the key is
  /// encrypted), chosen when a client's SNI server name matches one of `names` (exact, or
  /// "*.example.com" for one label, case-insensitive; the first matching host wins).
  /// Clients sending another name or none get the chain from load_certificate_chain(), or
  /// else the first virtual host's. Throws std::system_error with the same errors as
  /// load_certificate_chain_pem() and load_private_key_pem() (the context is then
  /// unchanged); std::logic_error once the context is in use. There is no error_code form.
  void add_virtual_host(const std::vector<std::string> &names, std::string_view chain_pem,
                        std::string_view key_pem,
                        std::optional<std::string_view> password = std::nullopt);

  /// Client: remember the last session per server so that the next tlsio::async_connect
  /// or tlsio::connect to it resumes instead of doing a full handshake. The key is the
  /// server identity that was verified, "name:port", where name is
  /// connect_options::server_name if given, else the host (compared without case and
  /// without a trailing dot).
  ///
  /// Size: at most `capacity` servers (not bytes) are remembered, one session each; when a
  /// new server would exceed it, the least recently used goes. 0 remembers nothing. A
  /// session whose connection later failed fatally is dropped when next looked up (see
  /// tlsio::session). Calling it again starts a new, empty cache of the new capacity.
  /// Throws std::logic_error once the context is in use. Default capacity: 256.
  void enable_session_cache(std::size_t capacity = 256);
  /// The remembered session for `server` ("name:port"), if the cache is on and has one fit
  /// for resumption; nothing otherwise. Looking up counts as a use for the least recently
  /// used order. A TLS 1.3 session (OpenSSL backend) is handed out once and leaves the cache,
  /// as RFC 8446 §C.4 asks clients not to offer a ticket twice; the server's next tickets
  /// (read with the connection's data) take its place. Thread-safe: may be called from any thread
  /// at any time, concurrently with connections and with cache_session() (the cache has its own
  /// lock), though not while a setter runs.
  std::optional<session> cached_session(std::string_view server) const;
  /// Remembers `s` for `server` ("name:port"), replacing what was there. Connections made by
  /// tlsio::async_connect need no call: their engines remember each session as it arrives
  /// (engine::set_session_cache_key()). Does nothing unless enable_session_cache() was
  /// called with a capacity above 0. Thread-safe as cached_session().
  void cache_session(std::string_view server, const session &s) const;

  /// How long a handshake may take, counted from the start of each handshake call
  /// (asynchronous or blocking), before it fails with error::handshake_timeout
  /// (milliseconds; default 10 s). Streams
  /// copy it when they are made (stream::set_handshake_timeout() changes one stream's), and
  /// the acceptor bounds each handshake with it. Zero or a negative value means no bound:
  /// a peer that never answers holds the handshake (and, on an acceptor, one of its
  /// acceptor_options::max_pending places) until the connection closes. Throws
  /// std::logic_error once the context is in use.
  void set_handshake_timeout(std::chrono::milliseconds timeout);
  /// The value set by set_handshake_timeout() (10 s by default; zero or less: no bound).
  std::chrono::milliseconds handshake_timeout() const noexcept;

  /// Makes the configuration final and read-only, as the first connection does, and
  /// returns what each connection would fail with (error::no_certificate for a server
  /// without one, error::no_client_ca, error::no_system_ca_store, a key that does not fit),
  /// or no error. The trusted CAs (the system store or the bundle) are parsed at this
  /// point, if this side verifies its peer.
  /// Idempotent: later calls return the same result. Thread-safe once configuration is
  /// over (concurrent first calls run the work once).
  std::error_code finalize() const;

  // --- Debugging ----------------------------------------------------------------------------

  /// DANGER: write the secrets of every connection made with this context to the file at
  /// `path` in the NSS key log format, so that Wireshark or tshark can decrypt a capture:
  /// under TLS 1.2 one line per connection ("CLIENT_RANDOM <client random> <master
  /// secret>", hex), under TLS 1.3 five (CLIENT_HANDSHAKE_TRAFFIC_SECRET,
  /// SERVER_HANDSHAKE_TRAFFIC_SECRET, CLIENT_TRAFFIC_SECRET_0, SERVER_TRAFFIC_SECRET_0,
  /// EXPORTER_SECRET).
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
  /// replaces the first file. This form throws std::system_error.
  ///
  /// Each line is written with a single write(2), so the lines of connections on different
  /// threads never mix and a tool reading the growing file sees whole lines. A write that
  /// fails is ignored: the log never fails a connection.
  ///
  /// Like the other setters: before the context's first use only (std::logic_error after),
  /// and not at the same time as other calls on the context.
  ///
  /// Example (a program that honours SSLKEYLOGFILE, as browsers and curl do):
  ///
  ///     if (auto path = tlsio::context::key_log_file_from_environment())
  ///       ctx.set_key_log_file(*path);
  void set_key_log_file(const std::filesystem::path &path);
  /// As set_key_log_file(path), reporting errors through `ec` (cleared on success) instead
  /// of throwing them. Still throws std::logic_error once the context is in use.
  void set_key_log_file(const std::filesystem::path &path, std::error_code &ec);

  /// The file named by the environment variable SSLKEYLOGFILE, or nothing if it is unset or
  /// empty: for programs that choose to honour it. Reads the environment, so it must not
  /// run while another thread changes it (setenv, putenv).
  static std::optional<std::filesystem::path> key_log_file_from_environment();

  /// The implementation (internal; defined in the library's sources).
  struct impl;

private:
  friend class engine;
  friend class dtls::engine;
  friend struct detail::context_access;
  void check_mutable() const;
  std::shared_ptr<impl> impl_;
};

} // namespace tlsio
