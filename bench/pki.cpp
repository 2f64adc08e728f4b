#include "pki.hpp"

namespace bench {
namespace {

std::vector<tlsio::key_exchange_group> tlsio_groups(std::optional<group> g) {
  using tlsio::key_exchange_group;
  if (g == group::secp256r1)
    return {key_exchange_group::secp256r1};
  return {key_exchange_group::x25519, key_exchange_group::secp256r1}; // see pki.hpp
}

} // namespace

const identity_set &pki::get(cert c) {
  auto it = made_.find(c);
  if (it != made_.end())
    return it->second;
  using namespace tlsio::test_identity;
  auto key = c == cert::ecdsa_p256 ? key_type::ecdsa_p256 : key_type::rsa_2048;
  auto ca = authority::create("tlsio bench CA", key);
  identity_set set{ca.certificate_pem(), ca.issue({.common_name = server_name,
                                                   .dns_names = {server_name},
                                                   .ip_addresses = {"127.0.0.1"},
                                                   .key = key})};
  return made_.emplace(c, std::move(set)).first->second;
}

tlsio_contexts make_tlsio_contexts(const identity_set &id, std::optional<group> g, bool tickets,
                                   impl i) {
  bool openssl =
      i == impl::raw_openssl || i == impl::tlsio_openssl || i == impl::tlsio_openssl_tls13;
  tlsio_contexts c(openssl ? tlsio::backend::openssl : tlsio::backend::mbedtls);
  if (openssl) {
    auto v =
        i == impl::tlsio_openssl_tls13 ? tlsio::tls_version::tls1_3 : tlsio::tls_version::tls1_2;
    for (auto *ctx : {&c.client, &c.server}) {
      ctx->set_max_version(v);
      ctx->set_min_version(v);
    }
  }
  c.client.no_ca();
  c.client.add_certificate_authority(id.ca_pem);
  c.client.set_key_exchange_groups(tlsio_groups(g));
  if (id.server.chain_pem.empty())
    return c; // --role client: the server is elsewhere
  c.server.load_certificate_chain_pem(id.server.chain_pem);
  c.server.load_private_key_pem(id.server.private_key_pem);
  c.server.set_key_exchange_groups(tlsio_groups(g));
  if (tickets)
    c.server.enable_session_tickets();
  return c;
}

} // namespace bench
