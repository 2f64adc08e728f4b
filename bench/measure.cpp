#include "measure.hpp"

#include <algorithm>
#include <fstream>
#include <malloc.h>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

namespace bench {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto seconds = [](const timeval &t) { return double(t.tv_sec) + double(t.tv_usec) * 1e-6; };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

long resident_kib() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      long kib = 0;
      status >> kib;
      return kib;
    }
    status.ignore(1 << 16, '\n');
  }
  return 0;
}

long heap_in_use_kib() {
  auto info = mallinfo2();
  return static_cast<long>((info.uordblks + info.hblkhd) / 1024);
}

void release_free_memory() { malloc_trim(0); }

long raise_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
    return -1;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  getrlimit(RLIMIT_NOFILE, &limit);
  return static_cast<long>(limit.rlim_cur);
}

double machine_busy_seconds() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  double user, nice, system, idle, iowait, irq, softirq, steal;
  if (!(stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal))
    return 0;
  static const double ticks = double(sysconf(_SC_CLK_TCK));
  return (user + nice + system + irq + softirq + steal) / ticks;
}

std::vector<double> durations_ms(const std::vector<latency_sample> &samples, clock::time_point from,
                                 clock::time_point to) {
  std::vector<double> ms;
  for (const auto &s : samples)
    if (s.end >= from && s.end <= to)
      ms.push_back(std::chrono::duration<double, std::milli>(s.took).count());
  return ms;
}

double percentile(std::vector<double> &values, double p) {
  if (values.empty())
    return 0;
  auto rank = static_cast<std::size_t>(p / 100.0 * double(values.size() - 1) + 0.5);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(rank),
                   values.end());
  return values[rank];
}

void counters::error(const std::string &what) {
  errors.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mutex_);
  if (first_error_.empty())
    first_error_ = what;
}

std::string counters::first_error() const {
  std::lock_guard lock(mutex_);
  return first_error_;
}

namespace {

struct snapshot {
  clock::time_point at;
  double cpu, machine;
  std::uint64_t done, resumed, bytes, sent, lost;
};

snapshot take(const counters &c) {
  // Counters first, then the clock and CPU: work finished before `at` is all counted.
  snapshot s{{},           0, 0, c.done.load(), c.resumed.load(), c.bytes.load(), c.sent.load(),
             c.lost.load()};
  s.at = clock::now();
  s.cpu = cpu_seconds();
  s.machine = machine_busy_seconds();
  return s;
}

void wait_for_loops(const counters &c, int loops) {
  auto give_up = clock::now() + std::chrono::seconds(30);
  while (c.loops.load() < loops && clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

} // namespace

window run_measured(counters &c, const timing &t, int loops,
                    const std::vector<std::function<void()>> &thread_bodies) {
  std::vector<std::thread> threads;
  for (const auto &body : thread_bodies)
    threads.emplace_back(body);
  wait_for_loops(c, loops);
  std::this_thread::sleep_for(t.warmup);
  auto a = take(c);
  std::this_thread::sleep_for(t.measure);
  auto b = take(c);
  c.stop = true;
  for (auto &thread : threads)
    thread.join();
  window w;
  w.seconds = std::chrono::duration<double>(b.at - a.at).count();
  w.cpu_seconds = b.cpu - a.cpu;
  w.others_cores = std::max(0.0, (b.machine - a.machine) - w.cpu_seconds) / w.seconds;
  w.done = b.done - a.done;
  w.resumed = b.resumed - a.resumed;
  w.bytes = b.bytes - a.bytes;
  w.sent = b.sent - a.sent;
  w.lost = b.lost - a.lost;
  w.from = a.at;
  w.to = b.at;
  return w;
}

} // namespace bench
