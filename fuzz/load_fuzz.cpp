// libFuzzer target: a context's PEM loaders (the error_code overloads) on fuzz bytes.
//
// Input: [op][split high][split low][text...]. The split cuts the text into first and
// second; op % 6 picks the calls:
//   0 load_certificate_chain_pem(text)     3 add_certificate_authority(text)
//   1 load_private_key_pem(text)           4 chain(first), key(second), chain(first) again
//   2 load_private_key_pem(second, first)  5 key(second), then chain(first)
// and op bit 7 makes a client context (else a server's).
//
// Beyond "no crash, no leak": a call that fails must leave the context as it was, so the
// first handshake step must see exactly the identity whose loads succeeded.
#include <tlsio/context.hpp>
#include <tlsio/engine.hpp>
#include <tlsio/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <system_error>

namespace {

void require(bool ok, const char *what) {
  if (ok)
    return;
  std::fprintf(stderr, "tlsio fuzz: broken promise: %s\n", what);
  std::abort();
}

// A context and which parts of its identity loaded.
struct loader {
  tlsio::role role;
  tlsio::context ctx{role};
  bool chain = false;
  bool key = false;

  void load_chain(std::string_view pem) {
    std::error_code ec;
    ctx.load_certificate_chain_pem(pem, ec);
    chain = chain || !ec;
  }
  void load_key(std::string_view pem, std::optional<std::string_view> password) {
    std::error_code ec;
    ctx.load_private_key_pem(pem, password, ec);
    key = key || !ec;
  }
  void add_ca(std::string_view pem) {
    std::error_code ec;
    ctx.add_certificate_authority(pem, ec);
  }

  // The first handshake step reports a half identity, or a server without one.
  void check_identity() const {
    tlsio::engine e(ctx);
    e.set_server_name("localhost");
    auto r = e.handshake();
    bool missing = chain != key || (role == tlsio::role::server && !chain);
    if (missing)
      require(r.status == tlsio::status::failed && r.error == tlsio::error::no_certificate,
              "an identity that did not load completely was used");
    else
      require(r.status == tlsio::status::want_input, "a loaded identity was refused");
  }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  if (size < 3)
    return 0;
  std::string_view text(reinterpret_cast<const char *>(data) + 3, size - 3);
  std::size_t split = (std::size_t{data[1]} << 8 | data[2]) % (text.size() + 1);
  auto first = text.substr(0, split);
  auto second = text.substr(split);

  loader l{data[0] & 0x80 ? tlsio::role::client : tlsio::role::server};
  l.ctx.no_ca(); // the system store is slow to load and not what is fuzzed here
  switch (data[0] % 6) {
  case 0:
    l.load_chain(text);
    break;
  case 1:
    l.load_key(text, std::nullopt);
    break;
  case 2:
    l.load_key(second, first);
    break;
  case 3:
    l.add_ca(text);
    break;
  case 4:
    l.load_chain(first);
    l.load_key(second, std::nullopt);
    l.load_chain(first);
    break;
  default:
    l.load_key(second, std::nullopt);
    l.load_chain(first);
  }
  l.check_identity();
  return 0;
}
