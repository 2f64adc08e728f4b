// Throwaway certificate authorities and certificates, made in memory.
//
// For tests, demos and benchmarks: nothing here is meant to protect anything. Every key is
// fresh and random, nothing is written to disk unless the caller does so, and no key or
// certificate file ever needs to be committed.
//
// Example:
//   auto ca = tlsio::test_identity::authority::create("tlsio test CA");
//   auto leaf = ca.issue({.common_name = "localhost",
//                         .dns_names = {"localhost"},
//                         .ip_addresses = {"127.0.0.1", "::1"}});
//   server_ctx.load_certificate_chain_pem(leaf.certificate_pem);
//   server_ctx.load_private_key_pem(leaf.private_key_pem);
//   client_ctx.add_certificate_authority(ca.certificate_pem());
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tlsio::test_identity {

enum class key_type { ecdsa_p256, rsa_2048 };

/// What a certificate may be used for (the extendedKeyUsage extension).
enum class usage { server_and_client, server_only, client_only, none };

/// What to put in a certificate. Every member has an initializer so that designated
/// initializers may skip any of them under -Wmissing-field-initializers.
struct certificate_options {
  std::string common_name = "localhost";
  /// dNSName subject-alternative names ("localhost", "*.example.test").
  std::vector<std::string> dns_names{};
  /// iPAddress subject-alternative names in text form ("127.0.0.1", "::1").
  std::vector<std::string> ip_addresses{};
  key_type key = key_type::ecdsa_p256;
  /// Validity. Defaults: from one hour ago to thirty days ahead.
  std::optional<std::chrono::system_clock::time_point> not_before{};
  std::optional<std::chrono::system_clock::time_point> not_after{};
  usage extended_usage = usage::server_and_client;
  /// When set, the private key PEM is encrypted with this password (legacy PEM encryption,
  /// AES-128-CBC, which Mbed TLS and OpenSSL both read).
  std::optional<std::string> key_password{};
};

/// A certificate and its private key, both PEM text.
struct identity {
  std::string certificate_pem;
  std::string private_key_pem;
  /// certificate_pem followed by the issuing intermediates' certificates (leaf first), the
  /// order a server sends its chain in.
  std::string chain_pem;
};

/// A certificate authority that can sign leaves and intermediate authorities.
class authority {
public:
  /// A self-signed root. options.common_name names it; dns_names/ip_addresses are ignored.
  static authority create(const std::string &name, key_type key = key_type::ecdsa_p256);
  static authority create(const certificate_options &options);

  /// Signs a leaf certificate (basicConstraints CA:FALSE, keyUsage digitalSignature and
  /// keyEncipherment) for a fresh key. Throws std::runtime_error on failure.
  identity issue(const certificate_options &options) const;

  /// Signs an intermediate authority (CA:TRUE) under this one.
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

  authority(authority &&) noexcept;
  authority &operator=(authority &&) noexcept;
  authority(const authority &);
  authority &operator=(const authority &);
  ~authority();

private:
  struct state;
  explicit authority(std::unique_ptr<state> s);
  std::unique_ptr<state> state_;
};

} // namespace tlsio::test_identity
