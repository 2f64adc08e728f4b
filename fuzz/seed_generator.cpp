// Writes the seed corpora of the fuzz targets: tlsio_fuzz_seeds DIR fills
// DIR/engine_server_fuzz, DIR/engine_client_fuzz, DIR/load_fuzz, DIR/client_hello_fuzz and
// DIR/handshake_reframer_fuzz.
//
// The engine seeds are recorded handshakes in each of the input's feeds (fuzz_support.hpp);
// the load seeds are the throwaway PKI's certificates and keys in PEM and DER, plain and
// encrypted, ECDSA and RSA.
#include "fuzz_support.hpp"

#include <mbedtls/base64.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using tlsio_fuzz::bytes;

class corpus {
public:
  explicit corpus(fs::path dir) : dir_(std::move(dir)) { fs::create_directories(dir_); }

  void add(const std::string &name, const bytes &input) {
    std::ofstream out(dir_ / ("seed-" + name), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char *>(input.data()),
              static_cast<std::streamsize>(input.size()));
    if (!out)
      throw std::runtime_error("cannot write " + (dir_ / name).string());
  }

private:
  fs::path dir_;
};

// mode bits 2-3 carry the scenario (see tlsio_fuzz::engine_input).
std::uint8_t mode(tlsio_fuzz::feed_mode feed, int scenario, bool zero_copy = false) {
  return static_cast<std::uint8_t>(static_cast<int>(feed) | scenario << 2 | (zero_copy ? 0x10 : 0));
}

bytes prefix_length(std::size_t n) { return {std::byte(n >> 8 & 0xff), std::byte(n & 0xff)}; }

// Seeds for a target whose peer sent `sent`, with its flights ending at `flights`.
void add_engine_seeds(corpus &c, int scenario, const bytes &sent,
                      const std::vector<std::size_t> &flights) {
  using tlsio_fuzz::feed_mode;
  using tlsio_fuzz::make_input;
  auto tag = std::to_string(scenario);
  bytes first_flight(sent.begin(), sent.begin() + static_cast<std::ptrdiff_t>(flights.at(0)));
  c.add("raw-all-" + tag, make_input(mode(feed_mode::raw, scenario), 0, sent));
  c.add("raw-first-" + tag, make_input(mode(feed_mode::raw, scenario), 0, first_flight));
  c.add("raw-chunks-" + tag, make_input(mode(feed_mode::raw, scenario, true), 7, first_flight));
  c.add("edited-" + tag, make_input(mode(feed_mode::edited, scenario), 0, {}));
  c.add("edited-chunks-" + tag, make_input(mode(feed_mode::edited, scenario, true), 100, {}));
  // After the first flight, the rest as fuzz bytes: the second flight is then fuzzed raw.
  bytes splice = prefix_length(flights.at(0));
  splice.insert(splice.end(), sent.begin() + static_cast<std::ptrdiff_t>(flights.at(0)),
                sent.end());
  c.add("spliced-" + tag, make_input(mode(feed_mode::spliced, scenario), 0, splice));
}

void write_engine_seeds(const fs::path &root) {
  using tlsio_fuzz::scenario;
  corpus server(root / "engine_server_fuzz");
  // engine_server_fuzz's scenario bits: 0 verify, 1 client_certificate, 2 resumption.
  for (auto [bits, s] : {std::pair{0, scenario::verify},
                         {1, scenario::client_certificate},
                         {2, scenario::resumption}}) {
    auto t = tlsio_fuzz::record(s);
    add_engine_seeds(server, bits, t.from_client, t.client_flights);
  }
  corpus client(root / "engine_client_fuzz");
  for (int bits = 0; bits < tlsio_fuzz::scenario_count; ++bits) {
    auto t = tlsio_fuzz::record(static_cast<scenario>(bits));
    add_engine_seeds(client, bits, t.from_server, t.server_flights);
  }
}

// The DER inside the first PEM block of text.
bytes der_of(const std::string &pem) {
  auto begin = pem.find("-----\n");
  auto end = pem.find("-----END");
  if (begin == std::string::npos || end == std::string::npos)
    throw std::runtime_error("not PEM");
  std::string base64;
  for (char ch : pem.substr(begin + 6, end - begin - 6))
    if (ch != '\n')
      base64 += ch;
  bytes der(base64.size());
  std::size_t length = 0;
  if (mbedtls_base64_decode(reinterpret_cast<unsigned char *>(der.data()), der.size(), &length,
                            reinterpret_cast<const unsigned char *>(base64.data()),
                            base64.size()) != 0)
    throw std::runtime_error("bad base64");
  der.resize(length);
  return der;
}

// [op][split high][split low][first][second], as load_fuzz.cpp reads it.
bytes load_input(std::uint8_t op, const bytes &first, const bytes &second = {}) {
  bytes out{std::byte{op}};
  auto split = prefix_length(first.size());
  out.insert(out.end(), split.begin(), split.end());
  out.insert(out.end(), first.begin(), first.end());
  out.insert(out.end(), second.begin(), second.end());
  return out;
}

void write_load_seeds(const fs::path &root) {
  namespace ti = tlsio::test_identity;
  using tlsio_fuzz::to_bytes;
  const auto &p = tlsio_fuzz::shared_pki();
  auto ca = ti::authority::create(tlsio_fuzz::fixed_options("tlsio fuzz load CA"));
  auto rsa_options = tlsio_fuzz::fixed_options("rsa");
  rsa_options.key = ti::key_type::rsa_2048;
  auto rsa = ca.issue(rsa_options);
  auto locked_options = tlsio_fuzz::fixed_options("locked");
  locked_options.key_password = "fuzz password";
  auto locked = ca.issue(locked_options);
  corpus c(root / "load_fuzz");
  c.add("chain", load_input(0, to_bytes(p.server_chain_pem)));
  c.add("chain-der", load_input(0, der_of(p.server_chain_pem)));
  c.add("key", load_input(1, to_bytes(p.server_key_pem)));
  c.add("key-der", load_input(1, der_of(p.server_key_pem)));
  c.add("key-rsa", load_input(1, to_bytes(rsa.private_key_pem)));
  c.add("key-locked", load_input(2, to_bytes("fuzz password"), to_bytes(locked.private_key_pem)));
  c.add("ca", load_input(0x83, to_bytes(p.ca_pem + ca.certificate_pem())));
  c.add("identity", load_input(4, to_bytes(p.server_chain_pem), to_bytes(p.server_key_pem)));
  c.add("identity-rsa", load_input(0x84, to_bytes(rsa.chain_pem), to_bytes(rsa.private_key_pem)));
  c.add("identity-mismatch",
        load_input(5, to_bytes(p.client_chain_pem), to_bytes(p.server_key_pem)));
}

// The records before the first ChangeCipherSpec in `sent`: the plaintext handshake.
bytes plaintext_records(const bytes &sent) {
  std::size_t at = 0;
  while (at + 5 <= sent.size() && sent[at] == std::byte{22})
    at += 5 + (std::to_integer<std::size_t>(sent[at + 3]) << 8) +
          std::to_integer<std::size_t>(sent[at + 4]);
  return bytes(sent.begin(), sent.begin() + static_cast<std::ptrdiff_t>(std::min(at, sent.size())));
}

// The handshake messages of `records` cut into records of at most `size` bytes.
bytes refragmented(const bytes &records, std::size_t size) {
  bytes messages, out;
  for (std::size_t at = 0; at + 5 <= records.size();) {
    auto length = (std::to_integer<std::size_t>(records[at + 3]) << 8) +
                  std::to_integer<std::size_t>(records[at + 4]);
    messages.insert(messages.end(), records.begin() + static_cast<std::ptrdiff_t>(at + 5),
                    records.begin() + static_cast<std::ptrdiff_t>(at + 5 + length));
    at += 5 + length;
  }
  for (std::size_t at = 0; at < messages.size(); at += size) {
    auto n = std::min(size, messages.size() - at);
    out.insert(out.end(),
               {std::byte{22}, std::byte{3}, std::byte{3}, std::byte(n >> 8), std::byte(n & 0xff)});
    out.insert(out.end(), messages.begin() + static_cast<std::ptrdiff_t>(at),
               messages.begin() + static_cast<std::ptrdiff_t>(at + n));
  }
  return out;
}

// ClientHello records for client_hello_fuzz; the plaintext flights of both sides, whole and
// re-cut, for handshake_reframer_fuzz ([chunk][records], see its source).
void write_handshake_seeds(const fs::path &root) {
  corpus hellos(root / "client_hello_fuzz");
  corpus reframer(root / "handshake_reframer_fuzz");
  for (int bits = 0; bits < tlsio_fuzz::scenario_count; ++bits) {
    auto t = tlsio_fuzz::record(static_cast<tlsio_fuzz::scenario>(bits));
    auto tag = std::to_string(bits);
    auto client = plaintext_records(t.from_client);
    auto server = plaintext_records(t.from_server);
    hellos.add("hello-" + tag, bytes(client.begin(), client.begin() + static_cast<std::ptrdiff_t>(
                                                                          t.client_flights.at(0))));
    for (auto [name, flight] : {std::pair{"client", client}, {"server", server}}) {
      for (std::size_t size : {std::size_t{16384}, std::size_t{100}, std::size_t{1}}) {
        bytes input{std::byte{static_cast<unsigned char>(size % 251)}};
        auto cut = refragmented(flight, size);
        input.insert(input.end(), cut.begin(), cut.end());
        reframer.add(std::string(name) + "-" + std::to_string(size) + "-" + tag, input);
      }
    }
  }
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  try {
    write_engine_seeds(argv[1]);
    write_load_seeds(argv[1]);
    write_handshake_seeds(argv[1]);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "tlsio_fuzz_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
