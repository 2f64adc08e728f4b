#include "fuzz_support.hpp"

#include <tlsio/error.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace tlsio_fuzz {
namespace {

using tlsio::status;

std::uint8_t u8(std::byte b) { return std::to_integer<std::uint8_t>(b); }

std::size_t u16(std::byte high, std::byte low) {
  return static_cast<std::size_t>(u8(high)) << 8 | u8(low);
}

// --- The PKI and the contexts -------------------------------------------------------------

tlsio::context server_context(bool ask_certificate) {
  const auto &p = shared_pki();
  tlsio::context ctx{tlsio::role::server};
  ctx.load_certificate_chain_pem(p.server_chain_pem);
  ctx.load_private_key_pem(p.server_key_pem);
  ctx.set_alpn({"h2", "http/1.1"});
  ctx.enable_session_tickets();
  if (ask_certificate) {
    ctx.no_ca();
    ctx.add_certificate_authority(p.ca_pem);
    ctx.set_client_certificate(tlsio::client_certificate::optional);
  }
  return ctx;
}

tlsio::context client_context(scenario s) {
  const auto &p = shared_pki();
  tlsio::context ctx{tlsio::role::client};
  ctx.set_alpn({"http/1.1"});
  if (s == scenario::skip_verify) {
    ctx.set_verify(tlsio::verify::insecure_skip);
    return ctx;
  }
  ctx.no_ca();
  ctx.add_certificate_authority(p.ca_pem);
  if (s == scenario::client_certificate) {
    ctx.load_certificate_chain_pem(p.client_chain_pem);
    ctx.load_private_key_pem(p.client_key_pem);
    ctx.set_key_exchange_groups({tlsio::key_exchange_group::secp256r1});
  }
  return ctx;
}

// --- Recording ----------------------------------------------------------------------------

void expect(bool ok, const char *what) {
  if (!ok)
    throw std::runtime_error(std::string("tlsio fuzz: recording a handshake failed: ") + what);
}

// Moves what `from` has sent to `to`, keeping a copy in log and noting where the flight ends.
void pass(tlsio::engine &from, bytes &log, std::vector<std::size_t> &flights, tlsio::engine &to) {
  auto out = from.pending_output();
  if (out.empty())
    return;
  log.insert(log.end(), out.begin(), out.end());
  flights.push_back(log.size());
  to.put_input(out);
  from.consume_output(out.size());
}

std::string read_text(tlsio::engine &e) {
  std::array<std::byte, 64> buffer{};
  auto r = e.read(buffer);
  return r.status == status::done
             ? std::string(reinterpret_cast<const char *>(buffer.data()), r.bytes)
             : std::string();
}

bool write_text(tlsio::engine &e, std::string_view text) {
  return e.write(std::as_bytes(std::span(text))).status == status::done;
}

// --- Feeding an engine --------------------------------------------------------------------

// Reads everything that is safe to ask for in any state; the values themselves do not
// matter, computing them must not crash. (read_ready() may process records, hence no const.)
void inspect(tlsio::engine &e) {
  (void)e.read_ready();
  (void)e.pending_input();
  (void)e.verification_result();
  (void)e.failure_detail();
  (void)e.alpn_protocol();
  (void)e.protocol_version();
  (void)e.cipher_suite();
  (void)e.peer_certificate();
}

// TLSIO_FUZZ_VERBOSE=1 tells how each input ended, to see what a corpus reaches.
bool verbose() {
  static const bool on = std::getenv("TLSIO_FUZZ_VERBOSE") != nullptr;
  return on;
}

// Takes an engine through the loop a socket would, checking the promises of engine.hpp.
class driver {
public:
  driver(tlsio::engine &e, const engine_input &how, std::size_t stream_size)
      : e_(e), zero_copy_(how.zero_copy), steps_left_(2 * stream_size + 16) {}

  // One turn of the loop: the handshake until it is done, then reads until input runs out.
  void turn() {
    std::array<std::byte, 700> buffer;
    for (;;) {
      bool connected = e_.handshake_done();
      auto r = connected ? e_.read(buffer) : e_.handshake();
      check_step(r, buffer.size());
      discard_output();
      if (r.status != status::done)
        return;
      if (!connected)
        on_connected();
    }
  }

  void put(std::span<const std::byte> chunk) {
    if (!zero_copy_) {
      e_.put_input(chunk);
      return;
    }
    auto space = e_.prepare_input(chunk.size());
    require(space.size() >= chunk.size(), "prepare_input gave less space than asked for");
    std::copy(chunk.begin(), chunk.end(), space.begin());
    e_.commit_input(chunk.size());
  }

  void finish() {
    e_.put_eof();
    turn();
    bool connected = e_.handshake_done() && !e_.failure();
    if (connected) {
      check_step(e_.shutdown(), 0);
      discard_output();
    }
    inspect(e_);
    if (verbose())
      std::fprintf(stderr, "tlsio fuzz: %s%s\n", connected ? "connected; " : "",
                   e_.failure() ? e_.failure_detail().c_str() : "no failure");
  }

private:
  // A step that succeeds consumes input or ends the handshake; more steps than the budget
  // allows means the engine no longer makes progress (a hang).
  void check_step(const tlsio::step_result &r, std::size_t buffer_size) {
    require(steps_left_-- > 0, "the engine keeps stepping without progress");
    if (r.status == status::failed)
      require(r.error && e_.failure() == r.error, "a failed step without its error");
    if (r.status == status::done)
      require(r.bytes <= buffer_size, "a read claims more bytes than its buffer holds");
    (void)e_.read_ready();
    (void)e_.pending_input();
  }

  void on_connected() {
    inspect(e_);
    static constexpr std::string_view reply = "pong";
    auto r = e_.write(std::as_bytes(std::span(reply)));
    require(r.status == status::failed || r.bytes == reply.size(), "a partial write");
    discard_output();
  }

  void discard_output() {
    if (zero_copy_) {
      sink_.clear();
      e_.swap_output(sink_);
      require(e_.pending_output().empty(), "swap_output left output behind");
      return;
    }
    // In two parts, so that a partly consumed buffer is exercised too.
    e_.consume_output(e_.pending_output().size() / 2);
    e_.consume_output(e_.pending_output().size());
  }

  tlsio::engine &e_;
  bool zero_copy_;
  std::size_t steps_left_;
  bytes sink_;
};

// --- Making the peer's bytes --------------------------------------------------------------

// Each edit is [op][offset high][offset low][value]; the offset wraps around the length.
bytes apply_edits(std::span<const std::byte> recorded, std::span<const std::byte> edits) {
  bytes out(recorded.begin(), recorded.end());
  for (; edits.size() >= 4; edits = edits.subspan(4)) {
    std::size_t at = u16(edits[1], edits[2]) % (out.size() + 1);
    auto value = edits[3];
    auto where = out.begin() + static_cast<std::ptrdiff_t>(at);
    switch (u8(edits[0]) % 4) {
    case 0: // flip bits
      if (at < out.size())
        *where ^= value;
      break;
    case 1: // insert a byte
      out.insert(where, value);
      break;
    case 2: // erase 1 to 16 bytes
      out.erase(where, where + static_cast<std::ptrdiff_t>(
                                   std::min<std::size_t>(out.size() - at, u8(value) % 16 + 1)));
      break;
    default: // cut the rest
      out.resize(at);
    }
  }
  return out;
}

// [length high][length low][bytes...]: a prefix of the recording, then the fuzz bytes.
bytes splice(std::span<const std::byte> recorded, std::span<const std::byte> payload) {
  if (payload.size() < 2)
    return {recorded.begin(), recorded.end()};
  std::size_t keep = u16(payload[0], payload[1]) % (recorded.size() + 1);
  bytes out(recorded.begin(), recorded.begin() + static_cast<std::ptrdiff_t>(keep));
  out.insert(out.end(), payload.begin() + 2, payload.end());
  return out;
}

// --- What draws random numbers only once --------------------------------------------------

// The session that scenario::resumption resumes: from a full handshake, made once.
const tlsio::session &saved_session() {
  static const tlsio::session saved = [] {
    reset_random();
    // A session resumes only on engines of the context that made it.
    tlsio::engine client(contexts_for(scenario::resumption).client);
    client.set_server_name("localhost");
    auto server = make_server(scenario::resumption);
    bytes log; // not needed here
    std::vector<std::size_t> flights;
    for (int turn = 0; turn < 8 && !client.handshake_done(); ++turn) {
      client.handshake();
      pass(client, log, flights, server);
      server.handshake();
      pass(server, log, flights, client);
    }
    auto session = client.get_session();
    expect(session.has_value(), "no session to resume");
    return *session;
  }();
  return saved;
}

// Sets up what draws random numbers once (the servers' ticket keys, the saved session) before
// any recording restarts the generators; a first ClientHello of each client gives its
// generator a fixed place in the order, so that a seed is the same in every process.
void set_up() {
  static const bool done = [] {
    for (int s = 0; s < scenario_count; ++s)
      make_client(static_cast<scenario>(s)).handshake();
    return true;
  }();
  (void)done;
}

} // namespace

tlsio::test_identity::certificate_options fixed_options(std::string common_name,
                                                        std::vector<std::string> dns_names) {
  using namespace std::chrono;
  return {.common_name = std::move(common_name),
          .dns_names = std::move(dns_names),
          .not_before = sys_days{year{2020} / 1 / 1},
          .not_after = sys_days{year{2045} / 1 / 1}};
}

void require(bool ok, const char *what) {
  if (ok)
    return;
  std::fprintf(stderr, "tlsio fuzz: broken promise: %s\n", what);
  std::abort();
}

bytes to_bytes(std::string_view text) {
  auto b = std::as_bytes(std::span(text));
  return {b.begin(), b.end()};
}

const pki &shared_pki() {
  static const pki p = [] {
    namespace ti = tlsio::test_identity;
    auto ca = ti::authority::create(fixed_options("tlsio fuzz CA"));
    auto server = ca.issue(fixed_options("localhost", {"localhost"}));
    auto client = ca.issue(fixed_options("tlsio fuzz client"));
    return pki{ca.certificate_pem(), server.chain_pem, server.private_key_pem, client.chain_pem,
               client.private_key_pem};
  }();
  return p;
}

const endpoints &contexts_for(scenario s) {
  static const std::array<endpoints, scenario_count> all = [] {
    auto server = server_context(false);
    return std::array<endpoints, scenario_count>{
        endpoints{client_context(scenario::skip_verify), server},
        endpoints{client_context(scenario::verify), server},
        endpoints{client_context(scenario::client_certificate), server_context(true)},
        endpoints{client_context(scenario::resumption), server}};
  }();
  return all.at(static_cast<std::size_t>(s));
}

tlsio::engine make_client(scenario s) {
  tlsio::engine client(contexts_for(s).client);
  client.set_server_name("localhost");
  if (s == scenario::resumption)
    client.set_session(saved_session());
  return client;
}

tlsio::engine make_server(scenario s) { return tlsio::engine(contexts_for(s).server); }

transcript record(scenario s) {
  set_up();
  reset_random();
  auto client = make_client(s);
  auto server = make_server(s);
  transcript t;
  auto to_server = [&] { pass(client, t.from_client, t.client_flights, server); };
  auto to_client = [&] { pass(server, t.from_server, t.server_flights, client); };
  for (int turn = 0; turn < 8 && !(client.handshake_done() && server.handshake_done()); ++turn) {
    expect(client.handshake().status != status::failed, "client handshake");
    to_server();
    expect(server.handshake().status != status::failed, "server handshake");
    to_client();
  }
  expect(client.handshake_done() && server.handshake_done(), "the handshake did not finish");
  expect(client.resumed() == (s == scenario::resumption), "resumption");
  expect(write_text(client, "ping"), "client write");
  to_server();
  expect(read_text(server) == "ping", "server read");
  expect(write_text(server, "pong"), "server write");
  to_client();
  expect(read_text(client) == "pong", "client read");
  expect(client.shutdown().status == status::want_input, "client close_notify");
  to_server();
  expect(server.shutdown().status == status::done, "server shutdown");
  to_client();
  expect(client.shutdown().status == status::done, "client shutdown");
  return t;
}

const transcript &recorded(scenario s) {
  static std::array<std::optional<transcript>, scenario_count> cache;
  auto &t = cache.at(static_cast<std::size_t>(s));
  if (!t)
    t = record(s);
  return *t;
}

void warn_if_not_repeatable() {
  auto t = record(scenario::verify);
  // The ClientHello's random begins with the time, big-endian, after a record header (5
  // bytes), a handshake header (4) and the version (2).
  std::uint32_t clock = 0;
  for (std::size_t i = 11; i < 15 && i < t.from_client.size(); ++i)
    clock = clock << 8 | u8(t.from_client[i]);
  bool frozen = clock == static_cast<std::uint32_t>(frozen_time);
  if (!frozen || t.from_client != record(scenario::verify).from_client)
    std::fprintf(stderr, "tlsio fuzz: WARNING: the clock or the randomness is not repeatable, so "
                         "edited and spliced inputs will not get past the key exchange\n");
}

engine_input parse_input(std::span<const std::uint8_t> data) {
  engine_input in;
  auto all = std::as_bytes(data);
  if (data.size() < 2) {
    in.payload = all;
    return in;
  }
  std::uint8_t mode = data[0];
  unsigned feed = mode & 3;
  in.feed = feed == 3 ? feed_mode::raw : static_cast<feed_mode>(feed);
  in.scenario_bits = (mode >> 2) & 3;
  in.zero_copy = (mode & 0x10) != 0;
  in.chunk = data[1];
  in.payload = all.subspan(2);
  return in;
}

bytes make_input(std::uint8_t mode, std::uint8_t chunk, std::span<const std::byte> payload) {
  bytes out{std::byte{mode}, std::byte{chunk}};
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

bytes peer_stream(const engine_input &input, std::span<const std::byte> recorded) {
  switch (input.feed) {
  case feed_mode::edited:
    return apply_edits(recorded, input.payload);
  case feed_mode::spliced:
    return splice(recorded, input.payload);
  default:
    return {input.payload.begin(), input.payload.end()};
  }
}

void drive(tlsio::engine &e, std::span<const std::byte> stream, const engine_input &how) {
  driver d(e, how, stream.size());
  d.turn(); // a client sends its ClientHello before it has any input
  std::size_t chunk = how.chunk == 0 ? std::max<std::size_t>(stream.size(), 1) : how.chunk;
  for (std::size_t at = 0; at < stream.size() && !e.failure(); at += chunk) {
    d.put(stream.subspan(at, std::min(chunk, stream.size() - at)));
    d.turn();
  }
  d.finish();
}

} // namespace tlsio_fuzz
