// Timing, CPU time, resident memory and percentiles: what every figure is made of.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace bench {

using clock = std::chrono::steady_clock;

/// User plus system CPU seconds of the whole process, all threads (getrusage).
double cpu_seconds();
/// VmRSS of this process in KiB (/proc/self/status).
long resident_kib();
/// Bytes the C heap has handed out and not had back (mallinfo2, all arenas), in KiB.
long heap_in_use_kib();
/// Gives freed heap pages back to the kernel so a following VmRSS delta counts only new use.
void release_free_memory();
/// Raises the soft limit on open files to the hard limit; returns the new soft limit.
long raise_file_limit();

/// One finished connection: when it ended and how long it took.
struct latency_sample {
  clock::time_point end;
  clock::duration took;
};

/// The durations in milliseconds of the samples that ended in [from, to].
std::vector<double> durations_ms(const std::vector<latency_sample> &samples, clock::time_point from,
                                 clock::time_point to);

/// The p-th percentile (0..100) of values (reordered); 0 if there are none.
double percentile(std::vector<double> &values, double p);

/// What the loops of one figure count, shared between the I/O threads and the controller.
struct counters {
  std::atomic<bool> stop{false};
  std::atomic<int> loops{0};             // loops running (handshake) or connections open (bulk)
  std::atomic<std::uint64_t> done{0};    // connections (or handshakes) completed
  std::atomic<std::uint64_t> resumed{0}; // of which resumed an earlier session
  std::atomic<std::uint64_t> bytes{0};   // application bytes delivered
  std::atomic<std::uint64_t> sent{0};    // dtls_echo: messages sent
  std::atomic<std::uint64_t> lost{0};    // dtls_echo: of which not back within the timeout
  std::atomic<std::uint64_t> errors{0};

  /// Remembers the first error's text; counts every error.
  void error(const std::string &what);
  std::string first_error() const;

private:
  mutable std::mutex mutex_;
  std::string first_error_;
};

/// The counters at two instants: the measured window.
struct window {
  double seconds = 0, cpu_seconds = 0;
  double others_cores = 0; // CPU the rest of the machine used meanwhile (other processes)
  std::uint64_t done = 0, resumed = 0, bytes = 0, sent = 0, lost = 0;
  clock::time_point from, to;
};

/// How long to warm up and to measure.
struct timing {
  std::chrono::milliseconds warmup{500};
  std::chrono::milliseconds measure{3000};
};

/// Starts one thread per body; waits until `loops` of them are running (the loops start one
/// after another, so that their connections do not all start and end together) and then for
/// the warm-up; measures the counters over the window; then sets stop and joins the threads.
/// A figure whose loops never all start (errors) is measured all the same after 30 s.
window run_measured(counters &c, const timing &t, int loops,
                    const std::vector<std::function<void()>> &thread_bodies);

/// Busy CPU seconds of the whole machine so far (/proc/stat), all processes, with steal.
double machine_busy_seconds();

} // namespace bench
