// libFuzzer target: the OpenSSL backend's engines, a server fed the bytes a client sent or a
// client fed the bytes a server sent.
//
// The input format is tlsio_fuzz::engine_input (fuzz_support.hpp); its scenario bit picks
// the side. Raw bytes reach OpenSSL's record layer and ClientHello/ServerHello parsers
// through tlsio's whole-record input; edits of an Mbed TLS peer's recorded bytes (a TLS 1.2
// handshake) get as far as OpenSSL's key exchange. OpenSSL's randomness is not made
// repeatable, so a recording never completes a handshake here: the Mbed TLS targets
// cover what lies after it.
#include "fuzz_support.hpp"

#include <tlsio/engine.hpp>

#include <cstddef>
#include <cstdint>

namespace {

const tlsio::context &server_context() {
  static const tlsio::context ctx = [] {
    const auto &pki = tlsio_fuzz::shared_pki();
    tlsio::context c{tlsio::role::server, tlsio::backend::openssl};
    c.load_certificate_chain_pem(pki.server_chain_pem);
    c.load_private_key_pem(pki.server_key_pem);
    c.enable_session_tickets();
    return c;
  }();
  return ctx;
}

const tlsio::context &client_context() {
  static const tlsio::context ctx = [] {
    tlsio::context c{tlsio::role::client, tlsio::backend::openssl};
    c.no_ca();
    c.add_certificate_authority(tlsio_fuzz::shared_pki().ca_pem);
    return c;
  }();
  return ctx;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) { return 0; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  auto input = tlsio_fuzz::parse_input({data, size});
  bool client = (input.scenario_bits & 1) != 0;
  const auto &recording = tlsio_fuzz::recorded(tlsio_fuzz::scenario::verify);
  tlsio_fuzz::bytes stream =
      input.feed == tlsio_fuzz::feed_mode::raw
          ? tlsio_fuzz::peer_stream(input, {})
          : tlsio_fuzz::peer_stream(input, client ? recording.from_server : recording.from_client);
  tlsio::engine e(client ? client_context() : server_context());
  if (client)
    e.set_server_name("localhost");
  tlsio_fuzz::drive(e, stream, input);
  return 0;
}
