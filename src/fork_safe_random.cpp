#include "fork_safe_random.hpp"

#include "engine_error.hpp"

#include <unistd.h>

namespace tlsio::detail {

fork_safe_random::fork_safe_random() : seeded_by_(::getpid()) {
  static constexpr unsigned char personalization[] = "tlsio context";
  int ret = mbedtls_ctr_drbg_seed(drbg_.get(), mbedtls_entropy_func, entropy_.get(),
                                  personalization, sizeof personalization);
  if (ret != 0)
    throw std::system_error(engine_error(ret), "seeding the random generator");
}

// Fork detection by comparing process ids, not pthread_atfork: an atfork handler cannot be
// removed when its context dies (it would need a global list of live contexts), and it misses
// a fork made by a raw clone(). The cost is one getpid() per draw, little beside the
// public-key work of a handshake. (Not caught: a descendant that is given the pid of the
// process that seeded, once that process has died.)
//
// Our own mutex, because in Mbed TLS 2.28 mbedtls_ctr_drbg_random() locks the DRBG's mutex
// but mbedtls_ctr_drbg_reseed() locks nothing ("not thread-safe", ctr_drbg.h): a reseed must
// not run beside another thread's draw. Draws are serialised by the DRBG anyway, so holding
// ours around each one costs no parallelism. As with the DRBG's own mutex, a fork() while
// another thread draws leaves the child's copy locked: fork before starting threads.
int fork_safe_random::generate(void *self, unsigned char *out, std::size_t len) {
  auto &r = *static_cast<fork_safe_random *>(self);
  std::lock_guard lock(r.mutex_);
  if (pid_t pid = ::getpid(); pid != r.seeded_by_) {
    if (int ret = mbedtls_ctr_drbg_reseed(r.drbg_.get(), nullptr, 0); ret != 0)
      return ret; // the next draw tries again
    r.seeded_by_ = pid;
  }
  return mbedtls_ctr_drbg_random(r.drbg_.get(), out, len);
}

} // namespace tlsio::detail
