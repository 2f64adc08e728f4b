/// \file
/// Throwaway certificate authorities and certificates, made in memory.
///
/// For tests, demos and benchmarks: nothing here is meant to protect anything. Every key is
/// fresh and random, nothing is written to disk unless the caller does so, and no key or
/// certificate file ever needs to be committed.
///
/// Example:
///
///     auto ca = tlsio::test_identity::authority::create("tlsio test CA");
///     auto leaf = ca.issue({.common_name = "localhost",
///                           .dns_names = {"localhost"},
///                           .ip_addresses = {"127.0.0.1", "::1"}});
///     server_ctx.load_certificate_chain_pem(leaf.certificate_pem);
///     server_ctx.load_private_key_pem(leaf.private_key_pem);
///     client_ctx.add_certificate_authority(ca.certificate_pem());
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

/// Throwaway certificate authorities and certificates for tests, demos and benchmarks.
/// Every function here throws std::runtime_error (its what() names the failing step) if a
/// certificate cannot be made, for example for an ip_addresses entry that is not an IP
/// address or a DNS name that is not ASCII.
namespace tlsio::test_identity {

/// The kind of key to generate.
enum class key_type {
  ecdsa_p256, ///< ECDSA on NIST P-256 (the default).
  rsa_2048,   ///< RSA with 2048 bits (much slower to generate).
};

/// What a certificate may be used for (the extendedKeyUsage extension).
enum class usage {
  server_and_client, ///< serverAuth and clientAuth (the default).
  server_only,       ///< serverAuth: refused as a client certificate.
  client_only,       ///< clientAuth: refused as a server certificate.
  none,              ///< codeSigning only: no TLS use at all (for wrong-usage tests).
};

/// What to put in a certificate. Every member has an initializer so that designated
/// initializers may skip any of them under -Wmissing-field-initializers.
struct certificate_options {
  /// The subject's Common Name (the subject is "CN=common_name,O=tlsio test"). It names no
  /// host for verification: only dns_names and ip_addresses do.
  std::string common_name = "localhost";
  /// dNSName subject-alternative names ("localhost", "*.example.test").
  std::vector<std::string> dns_names{};
  /// iPAddress subject-alternative names in text form ("127.0.0.1", "::1").
  std::vector<std::string> ip_addresses{};
  /// The kind of the fresh key the certificate is made for.
  key_type key = key_type::ecdsa_p256;
  /// Start of validity (whole seconds, UTC). Default: one hour before the call.
  std::optional<std::chrono::system_clock::time_point> not_before{};
  /// End of validity (whole seconds, UTC). Default: thirty days after the call.
  std::optional<std::chrono::system_clock::time_point> not_after{};
  /// The extendedKeyUsage extension (authorities get it too).
  usage extended_usage = usage::server_and_client;
  /// When set, the private key PEM is encrypted with this password (legacy PEM encryption,
  /// AES-128-CBC, which Mbed TLS and OpenSSL both read). Leaves only: issue() honours it,
  /// an authority's key is never encrypted.
  std::optional<std::string> key_password{};
};

/// A certificate and its private key, both PEM text.
struct identity {
  /// The leaf certificate, PEM.
  std::string certificate_pem;
  /// Its private key, PEM (encrypted if certificate_options::key_password was set).
  std::string private_key_pem;
  /// certificate_pem followed by the issuing intermediates' certificates (leaf first), the
  /// order a server sends its chain in.
  std::string chain_pem;
};

/// A certificate authority that can sign leaves and intermediate authorities: its
/// certificate and its private key, held in memory. Copies are independent values (the
/// same certificate and key). Const members may be called from several threads at once;
/// each draws its own randomness.
class authority {
public:
  /// A self-signed root named `name` (its Common Name), with a fresh key of type `key`.
  /// Throws std::runtime_error on failure.
  static authority create(const std::string &name, key_type key = key_type::ecdsa_p256);
  /// A self-signed root (basicConstraints CA:TRUE, keyUsage keyCertSign and cRLSign) with a
  /// fresh key. options.common_name names it; dns_names, ip_addresses and key_password are
  /// ignored. Throws std::runtime_error on failure.
  static authority create(const certificate_options &options);

  /// Signs a leaf certificate (basicConstraints CA:FALSE, keyUsage digitalSignature and
  /// keyEncipherment, SHA-256, a random 16-byte serial) for a fresh key. Throws
  /// std::runtime_error on failure.
  identity issue(const certificate_options &options) const;

  /// Signs an intermediate authority (CA:TRUE) under this one, with a fresh key; its
  /// chain_pem() includes this authority's. key_password is ignored. Throws
  /// std::runtime_error on failure.
  authority issue_intermediate(const certificate_options &options) const;

  /// Signs a certificate that claims to be CA:FALSE but is then used to sign others: for
  /// tests that an intermediate which is not a CA is refused. The result can still issue().
  authority issue_non_ca_intermediate(const certificate_options &options) const;

  /// This authority's own certificate.
  const std::string &certificate_pem() const;
  /// This authority's private key (unencrypted PEM).
  const std::string &private_key_pem() const;
  /// This authority's certificate followed by its issuers' certificates, up to but not
  /// including the root (so empty for a root).
  const std::string &chain_pem() const;

  /// Takes over `other`'s certificate and key; `other` may then only be destroyed or
  /// assigned to.
  authority(authority &&other) noexcept;
  /// Takes over `other`'s certificate and key; `other` may then only be destroyed or
  /// assigned to.
  authority &operator=(authority &&other) noexcept;
  /// A copy of `other`'s certificate, key and chain.
  authority(const authority &other);
  /// Replaces this authority's certificate, key and chain with copies of `other`'s.
  authority &operator=(const authority &other);
  /// Forgets the key (it was only ever in memory).
  ~authority();

private:
  struct state;
  explicit authority(std::unique_ptr<state> s);
  std::unique_ptr<state> state_;
};

} // namespace tlsio::test_identity
