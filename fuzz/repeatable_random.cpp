// Repeatable randomness for the engine fuzz targets and the seed generator.
//
// A context seeds its Mbed TLS generator (CTR-DRBG) from real entropy, and src/ offers no
// way to change that. But every random number of a connection (and of test_identity's keys)
// is drawn through mbedtls_ctr_drbg_random(p_rng, ...), called from tlsio, which is a static
// library: defining that function in this executable makes tlsio's references bind here
// instead of to libmbedcrypto's. Here each generator (each distinct p_rng, in the order they
// are first used) gets its own splitmix64 stream, and reset_random() restarts all of them.
//
// So one input meets the same random numbers on every run, and an engine replaying a
// recorded handshake computes the same keys as the engine that was recorded. What still
// varies is the clock: Mbed TLS puts the current second into each hello's random, so a
// recording only fits the second it was made in (fuzz_support.cpp re-records when that
// changes). Results of raw inputs are repeatable; those that edit a recording are repeatable
// in structure (the same fields change), not byte for byte. Nothing here is fit for anything
// but fuzzing: the numbers are predictable by design.
#include "fuzz_support.hpp"

#include <mbedtls/ctr_drbg.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>

namespace {

struct generator {
  std::uint64_t seed = 0;
  std::uint64_t state = 0;

  std::uint64_t next() { // splitmix64
    std::uint64_t z = (state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
  }
};

std::map<const void *, generator> &generators() {
  static std::map<const void *, generator> all;
  return all;
}

} // namespace

void tlsio_fuzz::reset_random() {
  for (auto &[owner, g] : generators())
    g.state = g.seed;
}

extern "C" int mbedtls_ctr_drbg_random(void *p_rng, unsigned char *output, std::size_t size) {
  auto &all = generators();
  auto [it, fresh] = all.try_emplace(p_rng);
  if (fresh)
    it->second.seed = it->second.state = 0x7f1f2000u + all.size();
  while (size > 0) {
    std::uint64_t word = it->second.next();
    std::size_t n = std::min(size, sizeof word);
    std::memcpy(output, &word, n);
    output += n;
    size -= n;
  }
  return 0;
}
