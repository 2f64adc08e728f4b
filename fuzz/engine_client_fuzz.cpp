// libFuzzer target: a client engine that sends its ClientHello, then is fed the fuzz input
// as the server's answer.
//
// The input format is tlsio_fuzz::engine_input (fuzz_support.hpp). The scenario bits pick
// a client that skips verification (so raw bytes reach the parsers past the certificate),
// one that verifies against a trusted CA for "localhost", one that also has a certificate of
// its own for a server that asks, or one that resumes a session. Edits of (or bytes after a
// prefix of) a recorded server get past the signature on the key exchange to the Finished
// check and application data.
#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  tlsio_fuzz::warn_if_not_repeatable();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  auto input = tlsio_fuzz::parse_input({data, size});
  auto s = static_cast<tlsio_fuzz::scenario>(input.scenario_bits % tlsio_fuzz::scenario_count);
  tlsio_fuzz::bytes stream =
      input.feed == tlsio_fuzz::feed_mode::raw
          ? tlsio_fuzz::peer_stream(input, {})
          : tlsio_fuzz::peer_stream(input, tlsio_fuzz::recorded(s).from_server);
  tlsio_fuzz::reset_random(); // so that the client's hello matches the recording's
  auto client = tlsio_fuzz::make_client(s);
  tlsio_fuzz::drive(client, stream, input);
  return 0;
}
