#include "dtls_pair.hpp"

#include <algorithm>

namespace tlsio_test {

tlsio::context dtls_client_context() {
  tlsio::context ctx{tlsio::role::client, tlsio::backend::mbedtls};
  ctx.no_ca();
  ctx.add_certificate_authority(test_pki::shared().ca.certificate_pem());
  return ctx;
}

tlsio::context dtls_server_context() {
  const auto &id = test_pki::shared().server_identity;
  tlsio::context ctx{tlsio::role::server, tlsio::backend::mbedtls};
  ctx.load_certificate_chain_pem(id.chain_pem);
  ctx.load_private_key_pem(id.private_key_pem);
  return ctx;
}

dtls_pair::dtls_pair(const tlsio::context &client_ctx, const tlsio::context &server_ctx,
                     const std::string &server_name)
    : client(client_ctx, clock.source()), server(server_ctx, clock.source()) {
  if (!server_name.empty())
    client.set_server_name(server_name);
  server.set_client_id(as_bytes(client_address));
}

void dtls_pair::collect(tlsio::dtls::engine &e, side from) {
  auto &path = from == side::client ? to_server : to_client;
  for (; e.queued_output() > 0; e.pop_datagram()) {
    auto d = e.pending_datagram();
    log.push_back({from, log.size(), clock.now, {d.begin(), d.end()}});
    for (int i = copies(log.back()); i > 0; --i)
      path.emplace_back(d.begin(), d.end());
  }
}

tlsio::step_result dtls_pair::step(tlsio::dtls::engine &e, side s) {
  if (!e.handshake_done()) {
    auto r = e.handshake();
    if (r.status != tlsio::status::done)
      return r;
  }
  auto &got = s == side::client ? client_got : server_got;
  std::vector<std::byte> buffer(20000);
  tlsio::step_result r;
  while ((r = e.receive(buffer)).status == tlsio::status::done && !r.error)
    got.emplace_back(reinterpret_cast<const char *>(buffer.data()), r.bytes);
  (s == side::client ? client_last : server_last) = r;
  return r;
}

bool dtls_pair::deliver(tlsio::dtls::engine &e, side to) {
  auto &path = to == side::client ? to_client : to_server;
  if (path.empty())
    return false;
  if (reorder)
    std::reverse(path.begin(), path.end());
  for (; !path.empty(); path.pop_front())
    e.put_datagram(path.front());
  step(e, to);
  collect(e, to);
  return true;
}

void dtls_pair::settle() {
  for (int round = 0; round < 1000; ++round) {
    bool moved = deliver(server, side::server);
    moved = deliver(client, side::client) || moved;
    if (!moved)
      return;
  }
}

bool dtls_pair::fire_next_timeout(std::chrono::milliseconds limit) {
  auto c = client.next_timeout(), s = server.next_timeout();
  auto next = c && (!s || *c <= *s) ? c : s;
  if (!next || *next - start > limit)
    return false;
  clock.now = std::max(clock.now, *next);
  if (c && *c <= clock.now) {
    client.on_timeout();
    collect(client, side::client);
  }
  if (s && *s <= clock.now) {
    server.on_timeout();
    collect(server, side::server);
  }
  return true;
}

namespace {

tlsio::step_result state_of(const tlsio::dtls::engine &e, const tlsio::step_result &last) {
  if (e.failure())
    return {tlsio::status::failed, 0, e.failure()};
  if (e.handshake_done())
    return {tlsio::status::done, 0, {}};
  return last;
}

} // namespace

dtls_pair::outcome dtls_pair::handshake(std::chrono::milliseconds limit) {
  outcome r{client.handshake(), {}, {}};
  collect(client, side::client);
  r.server = server.handshake();
  collect(server, side::server);
  for (int round = 0; round < 10000; ++round) {
    r.client = state_of(client, r.client);
    r.server = state_of(server, r.server);
    bool failed = client.failure() || server.failure();
    bool done = client.handshake_done() && server.handshake_done();
    if (failed || done)
      break;
    bool moved = deliver(server, side::server);
    moved = deliver(client, side::client) || moved;
    if (!moved && !fire_next_timeout(limit))
      break;
  }
  settle(); // the last datagrams: an alert that explains a failure, a final flight
  r.client = state_of(client, r.client);
  r.server = state_of(server, r.server);
  r.at = clock.now;
  return r;
}

bool dtls_pair::send(side from, const std::string &message) {
  auto &e = from == side::client ? client : server;
  auto r = e.send(as_bytes(message));
  collect(e, from);
  return r.status == tlsio::status::done && !r.error && r.bytes == message.size();
}

} // namespace tlsio_test
