#include "figure.hpp"

namespace bench {

const char *name(impl i) {
  switch (i) {
  case impl::raw: return "raw";
  case impl::tlsio: return "tlsio";
  case impl::asio_ssl: return "asio-ssl";
  case impl::asio_ssl_tls13: return "asio-ssl-tls13";
  }
  return "?";
}

const char *name(mode m) {
  switch (m) {
  case mode::handshake_full: return "handshake-full";
  case mode::handshake_resumed: return "handshake-resumed";
  case mode::bulk: return "bulk";
  case mode::idle: return "idle";
  }
  return "?";
}

const char *name(cert c) { return c == cert::ecdsa_p256 ? "ecdsa-p256" : "rsa-2048"; }

const char *name(group g) { return g == group::x25519 ? "x25519" : "secp256r1"; }

std::string figure_spec::key() const {
  return std::string(name(mode)) + "/" + std::to_string(threads) + "/" +
         std::to_string(concurrency) + "/" + name(cert) + "/" + name(group) + "/" +
         std::to_string(write_bytes);
}

} // namespace bench
