// The verdict on the peer's certificate chain for one Mbed TLS connection, stream or
// datagram alike (internal).
#pragma once

#include "../certificate_info.hpp"
#include "../context_impl.hpp"
#include "../peer_name.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace tlsio::detail {

/// Applies the context's verification rules to the chain the peer sends: the chain must
/// lead to one of our CAs only, in any order; a client's server name must be among the
/// leaf's subjectAltName DNS names or IP addresses. Mbed TLS checks first (authmode
/// optional); judge() then decides and explains.
class peer_verifier {
public:
  /// `name` and `ip`: the owner's expected server name and its address if it is an IP
  /// literal (empty on a server); read at each verification, so they may be set later.
  peer_verifier(const context::impl &ctx, const std::string &name,
                const std::optional<ip_address> &ip)
      : context_(ctx), name_(name), ip_(ip) {}
  peer_verifier(const peer_verifier &) = delete;
  peer_verifier &operator=(const peer_verifier &) = delete;

  /// Hands Mbed TLS the per-certificate checks it lacks (IP addresses, no Common Name).
  void attach(mbedtls_ssl_context &ssl);

  /// What judge() decided: accepted, refused with a tlsio error and its sentence, or an
  /// Mbed TLS error for the owner to report as its own failures (alert included).
  struct verdict {
    std::error_code error;
    std::string detail;
    int mbedtls_code = 0;
    bool refused() const noexcept { return error || mbedtls_code != 0; }
  };
  /// Right after Mbed TLS has read the peer's Certificate message: verified again in issuer
  /// order if Mbed TLS found a problem, then accepted or refused. A refusal by verification
  /// has sent its fatal alert (the one that fits the reason) on ssl already.
  verdict judge(mbedtls_ssl_context &ssl);
  /// judge() as an engine's step: a refusal becomes owner.fail(), with the Mbed TLS code
  /// or with the tlsio error and its sentence.
  template <class Owner> step_result judge_step(Owner &owner, mbedtls_ssl_context &ssl) {
    auto v = judge(ssl);
    if (v.mbedtls_code != 0)
      return owner.fail(v.mbedtls_code);
    if (v.error)
      return owner.fail(v.error, std::move(v.detail));
    return {status::done, 0, {}};
  }

  /// The verification flags of the connection: our verdict, or for a resumed session the
  /// one it was verified with; -1 if the peer's chain was never judged.
  std::uint32_t flags(const mbedtls_ssl_context &ssl) const;
  /// The verification result as engine::verification_result() tells it.
  std::error_code result(const mbedtls_ssl_context &ssl) const noexcept;

private:
  static int verify_certificate(void *self, mbedtls_x509_crt *crt, int depth, std::uint32_t *flags);
  /// Verifies a copy of the peer's chain in issuer order, against our CAs only; flags
  /// becomes the result, keeping the checks Mbed TLS makes outside the chain. Returns 0 or
  /// an Mbed TLS error that is not a verdict.
  int verify_in_issuer_order(mbedtls_ssl_context &ssl, const mbedtls_x509_crt &sent,
                             std::uint32_t &flags);
  std::string describe_failure(std::uint32_t flags) const;

  const context::impl &context_;
  const std::string &name_;
  const std::optional<ip_address> &ip_;

  // One entry per certificate in the peer's chain that failed a check, for the message.
  struct flagged_certificate {
    std::uint32_t flags;
    certificate_problem problem;
  };
  std::vector<flagged_certificate> problems_;
  // Set by judge(); unset before it and on resumption.
  std::optional<std::uint32_t> result_;
};

} // namespace tlsio::detail
