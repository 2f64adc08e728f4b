#include "engine_pair.hpp"

#include <cstdlib>
#include <string_view>

#include <random>

namespace tlsio_test {

chunker random_chunks(unsigned seed, std::size_t max) {
  auto rng = std::make_shared<std::mt19937>(seed);
  return [rng, max] { return std::uniform_int_distribution<std::size_t>(1, max)(*rng); };
}

engine_pair::handshake_outcome engine_pair::handshake() {
  handshake_outcome r;
  for (;;) {
    r.client = client.handshake();
    to_server.take_from(client);
    r.server = server.handshake();
    to_client.take_from(server);
    bool failed =
        r.client.status == tlsio::status::failed || r.server.status == tlsio::status::failed;
    if (failed) {
      // Let the side that did not fail read the alert that explains why.
      to_server.deliver_to(server, to_server.bytes.size());
      to_client.deliver_to(client, to_client.bytes.size());
      if (r.client.status != tlsio::status::failed)
        r.client = client.handshake();
      if (r.server.status != tlsio::status::failed)
        r.server = server.handshake();
      return r;
    }
    if (r.client.status == tlsio::status::done && r.server.status == tlsio::status::done)
      return r;
    bool moved = to_server.deliver_to(server, chunk());
    moved = to_client.deliver_to(client, chunk()) || moved;
    if (!moved)
      return r; // both wait for input that nobody sends
  }
}

tlsio::step_result engine_pair::read_until(tlsio::engine &e, wire &w, std::size_t n,
                                           std::string &got) {
  std::vector<std::byte> buffer(20000);
  tlsio::step_result r;
  while (got.size() < n) {
    r = e.read(buffer);
    if (r.status == tlsio::status::done) {
      got.append(reinterpret_cast<const char *>(buffer.data()), r.bytes);
    } else if (r.status != tlsio::status::want_input || !w.deliver_to(e, chunk())) {
      return r;
    }
  }
  return r;
}

std::string engine_pair::send(tlsio::engine &from, wire &w, tlsio::engine &to,
                              const std::string &data) {
  auto r = from.write({reinterpret_cast<const std::byte *>(data.data()), data.size()});
  if (r.status != tlsio::status::done || r.bytes != data.size())
    return "write failed";
  w.take_from(from);
  std::string got;
  read_until(to, w, data.size(), got);
  return got;
}

tlsio::backend backend_under_test() {
  static const tlsio::backend chosen = [] {
    const char *name = std::getenv("TLSIO_TEST_BACKEND");
    if (name != nullptr && std::string_view(name) == "openssl")
      return tlsio::backend::openssl;
    if (name != nullptr && std::string_view(name) == "mbedtls")
      return tlsio::backend::mbedtls;
    return tlsio::default_backend();
  }();
  return chosen;
}

std::optional<tlsio::session> engine_pair::client_session() {
  if (auto s = client.get_session())
    return s;
  send(server, to_client, client, "ticket?");
  return client.get_session();
}

tlsio::context test_pki::client_context() const {
  auto ctx = tested_context(tlsio::role::client);
  ctx.no_ca();
  ctx.add_certificate_authority(ca.certificate_pem());
  return ctx;
}

tlsio::context test_pki::server_context(const tlsio::test_identity::identity &id) const {
  auto ctx = tested_context(tlsio::role::server);
  ctx.load_certificate_chain_pem(id.chain_pem);
  ctx.load_private_key_pem(id.private_key_pem);
  return ctx;
}

const test_pki &test_pki::shared() {
  static const test_pki pki;
  return pki;
}

} // namespace tlsio_test
