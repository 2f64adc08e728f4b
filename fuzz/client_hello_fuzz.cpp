// libFuzzer target: the ClientHello pre-parser (src/client_hello.cpp) on a fuzzed record.
//
// Input: the record, as the engine hands it over once the re-framer has made it one whole
// message. Beyond "no crash, no read out of bounds": a ClientHello that the checks pass
// must also yield its ALPN offer (the two readers agree on where its parts are), and a
// refusal names an unexpected_message, illegal_parameter or decode_error alert and a reason.
#include "client_hello.hpp"
#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

using tlsio_fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  std::span<const std::byte> record(reinterpret_cast<const std::byte *>(data), size);
  auto problem = tlsio::detail::client_hello_problem(record);
  auto alpn = tlsio::detail::offered_alpn(record);
  if (problem) {
    auto a = problem->alert;
    require(a == 10 || a == 47 || a == 50, "an alert other than unexpected_message, "
                                           "illegal_parameter or decode_error");
    require(!problem->reason.empty(), "a refusal without a reason");
  } else if (!record.empty() && record[0] == std::byte{22}) {
    require(alpn.has_value(), "a ClientHello that passes the checks but whose ALPN does not read");
  }
  return 0;
}
