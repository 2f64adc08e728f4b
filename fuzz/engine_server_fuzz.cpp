// libFuzzer target: a server engine fed the fuzz input as the bytes a client sent.
//
// The input format is tlsio_fuzz::engine_input (fuzz_support.hpp): raw bytes reach the
// parsers of the ClientHello; edits of (or bytes after a prefix of) a recorded client get
// past the key exchange to the Finished check, application data and close_notify. The
// server issues session tickets, so a ClientHello may also carry one for it to decrypt.
#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>
#include <iterator>

namespace {

// The server meets a client that verifies it, one it asks for a certificate, or one that
// resumes a session from a ticket.
constexpr tlsio_fuzz::scenario scenarios[] = {tlsio_fuzz::scenario::verify,
                                              tlsio_fuzz::scenario::client_certificate,
                                              tlsio_fuzz::scenario::resumption};

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  tlsio_fuzz::warn_if_not_repeatable();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  auto input = tlsio_fuzz::parse_input({data, size});
  auto s = scenarios[input.scenario_bits % std::size(scenarios)];
  tlsio_fuzz::bytes stream =
      input.feed == tlsio_fuzz::feed_mode::raw
          ? tlsio_fuzz::peer_stream(input, {})
          : tlsio_fuzz::peer_stream(input, tlsio_fuzz::recorded(s).from_client);
  tlsio_fuzz::reset_random(); // so that the server's keys match the recording's
  auto server = tlsio_fuzz::make_server(s);
  tlsio_fuzz::drive(server, stream, input);
  return 0;
}
