// Repeatable randomness and a stopped clock, for the engine fuzz targets and the seed
// generator, so that one input does the same thing on every run.
//
// A context seeds its Mbed TLS generator (CTR-DRBG) from real entropy, and src/ offers no
// way to change that. But every random number of a connection (and of test_identity's keys)
// is drawn through mbedtls_ctr_drbg_random(p_rng, ...) named by tlsio, a static library:
// defining that function in this executable binds tlsio's references here instead of to
// libmbedcrypto's. Each generator (each distinct p_rng, numbered in the order of first use)
// gets its own splitmix64 stream, and reset_random() restarts all of them.
//
// Mbed TLS also puts the current second into each hello's random (and checks certificate
// dates and ticket ages against it). Debian's build has no MBEDTLS_PLATFORM_TIME_ALT, so
// its calls to time() are interposed the same way, to a fixed instant inside the validity of
// the fixed-date certificates of fuzz_support.cpp. The clock the rest of the process uses
// (std::chrono, libFuzzer's -max_total_time) is untouched.
//
// So a replayed engine computes the same keys as the recorded one, and a seed written by one
// process means the same in another. Nothing here is fit for anything but fuzzing.
#include "fuzz_support.hpp"

#include <mbedtls/ctr_drbg.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <ctime>
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

extern "C" time_t time(time_t *out) noexcept {
  if (out != nullptr)
    *out = tlsio_fuzz::frozen_time;
  return tlsio_fuzz::frozen_time;
}
