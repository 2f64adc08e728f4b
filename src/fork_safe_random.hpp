// A context's random generator: one per context, shared by its connections on any thread,
// and safe across fork() (internal).
#pragma once

#include "mbed_object.hpp"

#include <sys/types.h>

#include <cstddef>
#include <mutex>

namespace tlsio::detail {

/// Mbed TLS's CTR_DRBG, seeded from its entropy sources. Hand it to Mbed TLS as the pair
/// (fork_safe_random::generate, this), never the DRBG itself: a process forked after the
/// seeding would otherwise draw the very bytes its parent draws (the same hello randoms,
/// the same ECDHE keys).
class fork_safe_random {
public:
  /// Seeds the generator; throws std::system_error if the entropy sources fail.
  fork_safe_random();
  fork_safe_random(const fork_safe_random &) = delete;
  fork_safe_random &operator=(const fork_safe_random &) = delete;

  /// Mbed TLS's f_rng: fills out with len random bytes. 0, or an Mbed TLS error.
  static int generate(void *self, unsigned char *out, std::size_t len);

private:
  entropy entropy_; // declared first: the generator refers to it until freed
  ctr_drbg drbg_;
  std::mutex mutex_;
  pid_t seeded_by_; // the process whose entropy the generator's state last took in
};

} // namespace tlsio::detail
