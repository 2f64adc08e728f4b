// tlsio::stream under faults, at every point of a full-duplex session: the N-th socket
// operation failing, cancellation at each wait, destruction with operations pending, and
// buffers of a few bytes. Over the in-memory test stream (support/test_stream.hpp), so each
// run is repeatable (up to the handshake's random values) and needs no socket.
//
// The scenario: both sides handshake, then each writes 40 KiB (a single byte, odd sizes,
// more than a record, gathers of small buffers) while reading the other's; then the client
// shuts down, and the server reads to eof and shuts down too. On an error a side closes its
// next layer, as a program would, which releases the peer.
//
// Handlers run one at a time (poll_one). In memory only a handler can make progress, so a
// context with nothing ready while an operation is pending is a hang, seen at once rather
// than after a timeout; the stream's own timeouts are off (or an hour long) so that none can
// hide one.
#include "engine_pair.hpp"
#include "support/test_stream.hpp"

#include <tlsio/error.hpp>
#include <tlsio/stream.hpp>

#include <asio.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

using namespace tlsio_test;
using namespace std::chrono_literals;

namespace {

using tls_stream = tlsio::stream<test_stream>;
using clock_type = std::chrono::steady_clock;

// Sanitized builds run several times slower: they try fewer of the points in the middle,
// and the same first and last ones.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif
#else
constexpr bool sanitized = false;
#endif

const tlsio::context &client_context() {
  static const auto ctx = test_pki::shared().client_context();
  return ctx;
}
const tlsio::context &server_context() {
  static const auto ctx = test_pki::shared().server_context();
  return ctx;
}

// Byte i of what a side sends: a multiplicative hash of the position, so that a lost,
// repeated or reordered run of bytes shows whatever its length (a short period would hide
// runs of a multiple of it).
std::string pattern(std::size_t n, std::uint64_t seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>(((i + seed) * 0x9E3779B97F4A7C15ull) >> 56);
  return s;
}

// One side's writes, as the pieces of each call: a byte, gathers of small buffers (which
// the stream joins into one record), more than a record from one buffer (20000: two
// records), a gather of more than a record (the stream takes one record's worth: a partial
// write), exactly a record. The cycle is cut where the total is reached.
std::vector<std::vector<std::size_t>> write_plan(std::size_t total) {
  static const std::vector<std::vector<std::size_t>> cycle = {
      {1},          {10, 100, 3, 500, 1}, {700},   {20000},
      {9000, 9000}, {17, 17, 17, 1000},   {16384}, {2, 2},
      {5000}};
  std::vector<std::vector<std::size_t>> plan;
  for (std::size_t planned = 0, i = 0; planned < total; ++i) {
    std::vector<std::size_t> call;
    for (auto piece : cycle[i % cycle.size()]) {
      piece = std::min(piece, total - planned);
      if (piece == 0)
        break;
      call.push_back(piece);
      planned += piece;
    }
    plan.push_back(std::move(call));
  }
  return plan;
}

// Sizes of successive read buffers; a read returns at most one buffer's and one record's worth.
constexpr std::array<std::size_t, 6> read_sizes = {1000, 17, 20000, 4096, 1, 333};

std::string describe(std::error_code ec) {
  return std::string(ec.category().name()) + ":" + std::to_string(ec.value()) + " (" +
         ec.message() + ")";
}

class scenario;

// One end of the session, its progress and the operations it has pending.
struct side {
  scenario &sc;
  const char *name;
  bool is_client;
  side *peer = nullptr;
  std::unique_ptr<tls_stream> stream;

  std::string out; // what this side writes
  std::vector<std::vector<std::size_t>> plan;
  std::size_t step = 0;       // the write call under way
  std::size_t step_begin = 0; // where its bytes start in `out`
  std::size_t sent = 0;       // bytes the writes reported as taken
  std::size_t requested = 0;  // bytes the pending write was given (for the report)
  std::string in;             // what this side read
  std::size_t expect = 0;     // what the peer writes
  std::size_t reads = 0;      // reads started
  std::vector<char> read_buffer = std::vector<char>(20000);

  bool handshake_pending = false, read_pending = false, write_pending = false,
       shutdown_pending = false;
  bool handshake_done = false, writes_done = false, eof_seen = false, shutdown_started = false,
       shutdown_done = false;
  bool failed = false;    // saw an error and closed its next layer
  bool destroyed = false; // the test destroyed its stream

  // Per-operation cancellation: the signals, whether the pending operation was cancelled,
  // and how many cancelled operations completed with operation_aborted.
  asio::cancellation_signal read_signal, write_signal;
  bool read_cancelled = false, write_cancelled = false;
  std::size_t reads_aborted = 0, writes_aborted = 0;

  side(scenario &s, const char *n, bool client) : sc(s), name(n), is_client(client) {}

  bool pending() const {
    return handshake_pending || read_pending || write_pending || shutdown_pending;
  }
  bool reads_done() const { return is_client ? in.size() >= expect : eof_seen; }
  bool complete() const {
    return handshake_done && writes_done && reads_done() && in.size() == expect && shutdown_done;
  }
  bool active() const { return !failed && !destroyed; }

  std::string state() const {
    std::ostringstream os;
    os << "handshake " << handshake_done << ", wrote " << sent << "/" << out.size() << ", read "
       << in.size() << "/" << expect << ", eof " << eof_seen << ", shutdown " << shutdown_done
       << ", failed " << failed << ", pending:" << (handshake_pending ? " handshake" : "")
       << (read_pending ? " read" : "") << (write_pending ? " write" : "")
       << (shutdown_pending ? " shutdown" : "");
    return os.str();
  }

  void start();
  void read_next();
  void write_next();
  void maybe_shutdown();
  void fail(const char *op, std::error_code ec);
  bool allowed(std::error_code ec) const;
};

class scenario {
public:
  explicit scenario(const test_stream_options &options, std::size_t bytes = 40 * 1024)
      : fail(options.fail) {
    auto [a, b] = make_test_stream_pair(io.get_executor(), options);
    client.stream = std::make_unique<tls_stream>(client_context(), std::move(a));
    server.stream = std::make_unique<tls_stream>(server_context(), std::move(b));
    client.stream->set_server_name("localhost");
    client.peer = &server;
    server.peer = &client;
    client.out = pattern(bytes, 1);
    server.out = pattern(bytes, 1000003);
    for (side *s : {&client, &server}) {
      // No timer may end an operation: a hang must show as one.
      s->stream->set_handshake_timeout(0ms);
      s->stream->set_shutdown_timeout(std::chrono::hours(1));
      s->plan = write_plan(bytes);
      s->expect = bytes;
    }
  }
  scenario(const scenario &) = delete;
  scenario &operator=(const scenario &) = delete;

  void start() {
    client.start();
    server.start();
  }

  // Runs ready handlers one at a time until none is ready or `before_each` (called before
  // each) returns false. The time bound catches handlers that keep each other busy forever.
  void drive(const std::function<bool()> &before_each = {}, std::chrono::seconds bound = 20s) {
    io.restart();
    auto deadline = clock_type::now() + bound;
    for (;;) {
      if (before_each && !before_each())
        return;
      std::size_t ran = 0;
      try {
        ran = io.poll_one();
      } catch (const std::exception &e) {
        problems.push_back(std::string("a handler threw: ") + e.what());
        continue;
      }
      if (ran == 0)
        return;
      ++steps;
      if (steps % 1024 == 0 && clock_type::now() > deadline) {
        problems.push_back("still running after the time bound (live-lock)");
        return;
      }
    }
  }

  // After drive(): every operation completed, each side finished or failed, and what each
  // read is the start of what the other wrote (nothing lost, repeated or reordered), and no
  // more than the writer's completions reported as taken.
  void check_outcome() {
    for (side *s : {&client, &server}) {
      if (s->pending())
        problems.push_back(std::string(s->name) + " hangs: " + s->state() + " [peer " +
                           s->peer->state() + "]");
      else if (s->active() && !s->complete())
        problems.push_back(std::string(s->name) +
                           " stopped without finishing or failing: " + s->state());
      check_received(*s);
    }
  }

  void check_received(const side &s) {
    const auto &sent = s.peer->out;
    auto n = static_cast<std::ptrdiff_t>(std::min(s.in.size(), sent.size()));
    auto diff = std::mismatch(s.in.begin(), s.in.begin() + n, sent.begin()).first - s.in.begin();
    if (s.in.size() > sent.size() || diff != n)
      problems.push_back(std::string(s.name) + " read " + std::to_string(s.in.size()) +
                         " bytes that are not the start of what was sent: first difference at " +
                         std::to_string(diff));
    if (s.in.size() > s.peer->sent)
      problems.push_back(std::string(s.name) + " read " + std::to_string(s.in.size()) +
                         " bytes, but the peer's writes reported only " +
                         std::to_string(s.peer->sent) + " as taken");
  }

  void record(const side &s, const char *op, std::error_code ec, bool expected) {
    auto what = std::string(s.name) + " " + op + ": " + describe(ec);
    errors.push_back(what);
    if (!expected)
      problems.push_back("unexpected error: " + what + " (" +
                         (s.stream ? s.stream->failure_detail() : std::string("destroyed")) +
                         ") [" + s.state() + "; peer " + s.peer->state() + "]");
  }

  bool saw(std::error_code ec) const {
    auto text = describe(ec);
    return std::any_of(errors.begin(), errors.end(),
                       [&](const std::string &e) { return e.find(text) != std::string::npos; });
  }

  std::string report() const {
    std::ostringstream os;
    for (const auto &p : problems)
      os << "\n  " << p;
    os << "\n  errors:";
    for (const auto &e : errors)
      os << "\n    " << e;
    return os.str();
  }

  // Destroys one side's stream, with whatever it has pending; no handler may run inside.
  void destroy(side &s) {
    s.destroyed = true;
    in_destructor = true;
    s.stream.reset();
    in_destructor = false;
  }

  // Destroys both streams, then the io_context, without running anything in between: no
  // handler may run, and the context's shutdown must free what the pending ones hold.
  void tear_down_without_running() {
    in_destructor = true;
    client.destroyed = server.destroyed = true;
    client.stream.reset();
    server.stream.reset();
    io_storage.reset();
    in_destructor = false;
  }

  // Every completion comes through here: once per operation, never inside a destructor.
  void completed(side &s, bool &pending_flag, const char *op) {
    if (!pending_flag)
      problems.push_back(std::string(s.name) + " " + op + ": a completion nobody waited for");
    if (in_destructor)
      problems.push_back(std::string(s.name) + " " + op + " completed inside a destructor");
    pending_flag = false;
  }

private:
  std::unique_ptr<asio::io_context> io_storage = std::make_unique<asio::io_context>();

public:
  asio::io_context &io = *io_storage; // declared before the sides: their streams go first
  side client{*this, "client", true};
  side server{*this, "server", false};
  std::vector<std::string> problems;
  std::vector<std::string> errors;
  std::size_t steps = 0; // handlers run
  std::shared_ptr<fail_count> fail;
  std::size_t handshake_operations = 0; // socket operations until both handshakes were done
  bool in_destructor = false;
};

void side::start() {
  handshake_pending = true;
  stream->async_handshake([this](std::error_code ec) {
    sc.completed(*this, handshake_pending, "handshake");
    if (ec)
      return fail("handshake", ec);
    handshake_done = true;
    if (sc.fail)
      sc.handshake_operations = sc.fail->operations(); // the later side's counts
    write_next();
    read_next();
  });
}

void side::read_next() {
  if (!active() || read_pending || !handshake_done)
    return;
  if (reads_done())
    return maybe_shutdown();
  auto size = read_sizes[reads++ % read_sizes.size()];
  read_pending = true;
  stream->async_read_some(
      asio::buffer(read_buffer.data(), size),
      asio::bind_cancellation_slot(read_signal.slot(), [this](std::error_code ec, std::size_t n) {
        sc.completed(*this, read_pending, "read");
        bool cancelled = std::exchange(read_cancelled, false);
        in.append(read_buffer.data(), n);
        if (ec == asio::error::eof && !is_client && active()) {
          // close_notify: the client sends it only after all its writes completed.
          eof_seen = true;
          if (in.size() != expect)
            sc.problems.push_back("server: eof after " + std::to_string(in.size()) + " of " +
                                  std::to_string(expect) + " bytes");
          return maybe_shutdown();
        }
        if (ec == asio::error::operation_aborted && cancelled && active()) {
          ++reads_aborted;
          return read_next();
        }
        if (ec)
          return fail("read", ec);
        read_next();
      }));
}

void side::write_next() {
  if (!active() || write_pending || !handshake_done)
    return;
  if (step == plan.size()) {
    writes_done = true;
    return maybe_shutdown();
  }
  // What is left of this call's pieces: all of them, unless a write took only part.
  std::vector<asio::const_buffer> buffers;
  for (std::size_t at = step_begin; auto piece : plan[step]) {
    auto begin = std::max(at, sent);
    if (begin < at + piece)
      buffers.emplace_back(out.data() + begin, at + piece - begin);
    at += piece;
  }
  requested = asio::buffer_size(buffers);
  // What the stream takes: up to 64 KiB of a single or large first buffer, or small
  // buffers joined up to one record.
  auto first = buffers.front().size();
  auto takes = buffers.size() > 1 && first < tlsio::engine::max_record_payload
                   ? std::min(requested, tlsio::engine::max_record_payload)
                   : std::min(first, 4 * tlsio::engine::max_record_payload);
  write_pending = true;
  stream->async_write_some(
      buffers, asio::bind_cancellation_slot(write_signal.slot(), [this, takes](std::error_code ec,
                                                                               std::size_t n) {
        sc.completed(*this, write_pending, "write");
        bool cancelled = std::exchange(write_cancelled, false);
        if (n > takes || (!ec && n != takes))
          sc.problems.push_back(std::string(name) + ": a write reported " + std::to_string(n) +
                                " bytes of " + std::to_string(requested) + ", expected " +
                                std::to_string(takes));
        sent += n;
        if (ec == asio::error::operation_aborted && cancelled && active()) {
          // Its records were encrypted at the start and still go out: it took them all.
          ++writes_aborted;
          if (n != takes)
            sc.problems.push_back(std::string(name) + ": a cancelled write reported " +
                                  std::to_string(n) + " bytes, expected " + std::to_string(takes));
        } else if (ec) {
          return fail("write", ec);
        }
        auto step_end = std::accumulate(plan[step].begin(), plan[step].end(), step_begin);
        if (sent >= step_end) {
          step_begin = step_end;
          ++step;
        }
        write_next();
      }));
}

void side::maybe_shutdown() {
  if (!active() || shutdown_started || !writes_done || !reads_done())
    return;
  shutdown_started = shutdown_pending = true;
  stream->async_shutdown([this](std::error_code ec) {
    sc.completed(*this, shutdown_pending, "shutdown");
    if (ec)
      return fail("shutdown", ec);
    shutdown_done = true;
  });
}

void side::fail(const char *op, std::error_code ec) {
  sc.record(*this, op, ec, allowed(ec));
  if (failed)
    return;
  failed = true;
  if (stream) {
    std::error_code ignored;
    stream->next_layer().close(ignored);
  }
}

// The errors the stream documents as consequences of what happened; anything else is a bug.
bool side::allowed(std::error_code ec) const {
  if (ec == test_error::injected_failure)
    return true;
  if (destroyed) // pending operations of a destroyed stream
    return ec == asio::error::operation_aborted;
  // This side closed its next layer after an error: its other operation ends.
  if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
    return failed;
  // The peer closed its next layer (after an error, or its stream was destroyed).
  bool peer_gone = peer->failed || peer->destroyed;
  if (ec == asio::error::broken_pipe || ec == tlsio::error::stream_truncated)
    return peer_gone;
  // The engine's own verdict once the session broke (such as the peer's fatal alert).
  if (ec.category() == tlsio::engine_category() || ec == tlsio::error::not_connected)
    return peer_gone || failed;
  return false;
}

// 1..last: each of the first `head`, about `middle` spread over the rest, and each of the
// last `tail`. An odd stride, so that it does not meet the same phase of the even-sized
// records and chunks each time.
std::vector<std::size_t> sample_points(std::size_t last, std::size_t head, std::size_t middle,
                                       std::size_t tail) {
  std::vector<std::size_t> points;
  auto tail_begin = std::max(head + 1, last > tail ? last - tail + 1 : 1);
  for (std::size_t n = 1; n <= std::min(head, last); ++n)
    points.push_back(n);
  auto span = tail_begin > head + 1 ? tail_begin - head - 1 : 0;
  auto stride = std::max<std::size_t>(1, span / std::max<std::size_t>(1, middle)) | 1;
  for (auto n = head + 1 + stride / 2; n < tail_begin; n += stride)
    points.push_back(n);
  for (auto n = tail_begin; n <= last; ++n)
    points.push_back(n);
  return points;
}

// A clean run: every side finishes, and what each read is all the other wrote.
void require_clean(scenario &sc) {
  INFO(sc.report());
  REQUIRE(sc.problems.empty());
  REQUIRE(sc.errors.empty());
  REQUIRE(sc.client.complete());
  REQUIRE(sc.server.complete());
  REQUIRE(sc.client.in == sc.server.out);
  REQUIRE(sc.server.in == sc.client.out);
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// Failures reported in full; later ones only counted, so that one bug does not flood.
constexpr std::size_t detailed_failures = 8;

std::string list(const std::vector<std::size_t> &numbers) {
  std::string s;
  for (auto n : numbers)
    s += " " + std::to_string(n);
  return s;
}

// --- Two streams driven by hand, for the cases the scenario does not script ---

bool inside_destructor = false; // no handler may run inside ~stream()

struct outcome {
  bool done = false;
  std::error_code ec;
  std::size_t n = 0;

  auto handler() {
    return [this](std::error_code e, std::size_t k = 0) {
      CHECK(!done); // exactly once
      CHECK(!inside_destructor);
      done = true;
      ec = e;
      n = k;
    };
  }
};

// Runs ready handlers until none is (bounded).
void settle(asio::io_context &io, std::chrono::seconds bound = 20s) {
  auto deadline = clock_type::now() + bound;
  io.restart();
  while (io.poll_one() > 0 && clock_type::now() < deadline) {
  }
}

struct stream_pair {
  std::unique_ptr<asio::io_context> io = std::make_unique<asio::io_context>();
  std::unique_ptr<tls_stream> client, server;

  explicit stream_pair(const test_stream_options &options,
                       const tlsio::context &client_ctx = client_context()) {
    auto [a, b] = make_test_stream_pair(io->get_executor(), options);
    client = std::make_unique<tls_stream>(client_ctx, std::move(a));
    server = std::make_unique<tls_stream>(server_context(), std::move(b));
    client->set_server_name("localhost");
    client->set_handshake_timeout(0ms);
    server->set_handshake_timeout(0ms);
  }

  void handshake() {
    outcome c, s;
    client->async_handshake(c.handler());
    server->async_handshake(s.handler());
    settle(*io);
    REQUIRE(c.done);
    REQUIRE(s.done);
    REQUIRE(!c.ec);
    REQUIRE(!s.ec);
  }

  void destroy_client() {
    inside_destructor = true;
    client.reset();
    inside_destructor = false;
  }

  // Both streams, then the context, with nothing run in between.
  void tear_down_without_running() {
    inside_destructor = true;
    client.reset();
    server.reset();
    io.reset();
    inside_destructor = false;
  }
};

} // namespace

// --- 1. Every point of failure ---------------------------------------------------------------

namespace {

struct fault_configuration {
  std::string name;
  test_stream_options options;
  std::size_t head, middle, tail; // which N to try (sample_points)
};

// Runs the scenario once without failures to count its operations (N_total), then once for
// each chosen N with the N-th failing in `mode`. Every run must end (no hang), with errors
// that are the injected one or its documented consequences, and with what each side read
// a prefix of what the other sent.
void fault_sweep(const fault_configuration &config, fail_count::mode mode) {
  INFO(config.name);
  auto started = clock_type::now();
  auto counter = std::make_shared<fail_count>(0);
  auto options = config.options;
  options.fail = counter;
  std::size_t total = 0, handshake = 0;
  double clean_seconds = 0;
  {
    scenario sc(options);
    sc.start();
    sc.drive();
    sc.check_outcome();
    require_clean(sc);
    total = counter->operations();
    handshake = sc.handshake_operations;
    clean_seconds = seconds_since(started);
  }
  REQUIRE(total > 100);
  // Every N of the handshake: those runs end early, and each flight differs.
  auto head = std::max(config.head, handshake + 10);

  std::map<std::string, std::size_t> seen; // each distinct error, with how many runs saw it
  std::size_t runs = 0, failing_runs = 0;
  std::vector<std::size_t> wrong;
  for (auto n : sample_points(total + 1, head, config.middle, config.tail)) {
    auto fail = std::make_shared<fail_count>(n, test_error::injected_failure, mode);
    options.fail = fail;
    scenario sc(options);
    sc.start();
    sc.drive();
    sc.check_outcome();
    if (fail->triggered() && !sc.saw(test_error::injected_failure))
      sc.problems.push_back("the injected failure was reported by no operation");
    if (!fail->triggered() && !sc.errors.empty())
      sc.problems.push_back("errors without a failure");
    ++runs;
    for (const auto &e : sc.errors)
      ++seen[e];
    if (sc.problems.empty())
      continue;
    if (++failing_runs <= detailed_failures)
      FAIL_CHECK("N = " << n << " of " << total << ":" << sc.report());
    wrong.push_back(n);
  }
  CHECK_MESSAGE(failing_runs == 0, "wrong at N =" << list(wrong));

  std::ostringstream summary;
  summary << config.name << ", "
          << (mode == fail_count::mode::only_nth ? "only the N-th" : "the N-th and later")
          << ": N_total " << total << ", of which the handshakes " << handshake
          << " (a clean run: " << clean_seconds << " s); " << runs << " runs, " << failing_runs
          << " wrong, " << seconds_since(started)
          << " s. Errors (side, operation: error, in how many runs):";
  for (const auto &[error, count] : seen)
    summary << "\n  " << error << ", " << count;
  MESSAGE(summary.str());
}

const fault_configuration small_pipe{"512-byte buffers, 7-byte reads",
                                     {.capacity = 512, .read_chunk = 7},
                                     300,
                                     sanitized ? 20 : 60,
                                     sanitized ? 15 : 30};
const fault_configuration large_pipe{
    "64 KiB buffers, 1000-byte reads, 300-byte writes",
    {.capacity = 64 * 1024, .read_chunk = 1000, .write_chunk = 300},
    sanitized ? 150 : 300,
    sanitized ? 30 : 60,
    sanitized ? 20 : 30};

} // namespace

TEST_CASE("the N-th and every later socket operation fail, for each N of a duplex session") {
  fault_sweep(small_pipe, fail_count::mode::from_nth);
  fault_sweep(large_pipe, fail_count::mode::from_nth);
}

// The peer goes on unharmed: the failing side alone must notice, and release the peer.
TEST_CASE("only the N-th socket operation fails, for each N of a duplex session") {
  auto sparse = [](fault_configuration c) {
    c.head /= 3; // the handshake's operations are all tried anyway (fault_sweep)
    c.middle /= 3;
    return c;
  };
  fault_sweep(sparse(small_pipe), fail_count::mode::only_nth);
  fault_sweep(sparse(large_pipe), fail_count::mode::only_nth);
}

// What the sweep above found (only the N-th): the records of a handshake flight, or of
// close_notify, go out through the flusher while the operation goes on to wait for the
// peer's answer. If that socket write fails, nothing wakes the operation to report it: it
// waits for an answer the peer cannot send (until a timeout, which then reports itself
// instead of the socket's error).
TEST_CASE("a socket write that fails under a handshake or a shutdown is reported") {
  SUBCASE("the client's first flight") {
    auto fail =
        std::make_shared<fail_count>(1, test_error::injected_failure, fail_count::mode::only_nth);
    stream_pair p({.fail = fail});
    outcome client, server;
    p.client->async_handshake(client.handler()); // its ClientHello is the first operation
    p.server->async_handshake(server.handler());
    settle(*p.io);
    REQUIRE(fail->triggered());
    CHECK(p.client->next_layer().bytes_written() == 0);
    CHECK(client.done);
    CHECK(client.ec == test_error::injected_failure);
  }
  SUBCASE("close_notify") {
    auto counter = std::make_shared<fail_count>(0);
    {
      stream_pair p({.fail = counter});
      p.handshake();
    }
    auto fail = std::make_shared<fail_count>(
        counter->operations() + 1, test_error::injected_failure, fail_count::mode::only_nth);
    stream_pair p({.fail = fail});
    p.handshake();
    REQUIRE(!fail->triggered());
    outcome shutdown;
    p.client->set_shutdown_timeout(std::chrono::hours(1));
    p.client->async_shutdown(shutdown.handler()); // close_notify is the next operation
    settle(*p.io);
    REQUIRE(fail->triggered());
    CHECK(shutdown.done);
    CHECK(shutdown.ec == test_error::injected_failure);
  }
}

TEST_CASE("a handshake that TLS refused reports why, even when its alert cannot be sent") {
  tlsio::context distrusting{tlsio::role::client, tlsio_test::backend_under_test()};
  distrusting.no_ca();
  bool alert_lost = false;
  for (std::size_t n = 1;; ++n) {
    CAPTURE(n);
    auto fail = std::make_shared<fail_count>(n);
    stream_pair p({.fail = fail}, distrusting);
    outcome client, server;
    p.client->async_handshake(client.handler());
    p.server->async_handshake(server.handler());
    settle(*p.io);
    if (!client.done) { // the server's own socket failed: its end closes as it goes
      p.server.reset();
      settle(*p.io);
    }
    REQUIRE(client.done);
    if (auto refused = p.client->engine().failure()) {
      CHECK(client.ec == refused);
      alert_lost = alert_lost || (refused == tlsio::error::untrusted_issuer && fail->triggered());
    }
    if (!fail->triggered())
      break;
  }
  CHECK(alert_lost); // the case this test is for was reached
}

// --- 2. Cancellation at every wait -----------------------------------------------------------

namespace {

// Cancels one side's read or write the k-th time it is found pending between two handlers:
// each of those is a point where the operation waits (for the socket, for the other
// operation's read, or for its completion to be run).
struct cancel_kth_wait {
  side *target;
  bool read;
  std::size_t k;
  asio::cancellation_type_t type;
  std::size_t waits = 0;
  bool emitted = false;

  bool operator()() {
    if (emitted || !(read ? target->read_pending : target->write_pending) || ++waits < k)
      return true;
    emitted = true;
    if (read) {
      target->read_cancelled = true;
      target->read_signal.emit(type);
    } else {
      target->write_cancelled = true;
      target->write_signal.emit(type);
    }
    return true;
  }
};

const char *type_name(asio::cancellation_type_t type) {
  switch (type) {
  case asio::cancellation_type::terminal:
    return "terminal";
  case asio::cancellation_type::partial:
    return "partial";
  case asio::cancellation_type::total:
    return "total";
  default:
    return "?";
  }
}

} // namespace

namespace {

struct cancel_configuration {
  std::string name;
  test_stream_options options;
  std::size_t head, middle, tail; // which waits to cancel at (sample_points)
};

// For each side's reads and writes: counts the waits of a clean run, then cancels the
// operation at the k-th wait for the chosen k, with each cancellation type in turn; the side
// goes on with a new operation, and the session must still end cleanly with every byte
// delivered once, in order.
void cancel_sweep(const cancel_configuration &config) {
  INFO(config.name);
  auto started = clock_type::now();
  std::ostringstream summary;
  struct target {
    const char *what;
    bool client, read;
  };
  for (auto [what, client, read] :
       {target{"client read", true, true}, target{"server read", false, true},
        target{"client write", true, false}, target{"server write", false, false}}) {
    std::size_t waits = 0;
    {
      scenario sc(config.options);
      cancel_kth_wait count{client ? &sc.client : &sc.server, read, SIZE_MAX,
                            asio::cancellation_type::terminal};
      sc.start();
      sc.drive(std::ref(count));
      sc.check_outcome();
      require_clean(sc);
      waits = count.waits;
    }
    REQUIRE(waits > 10);

    std::size_t runs = 0, aborted = 0, failing_runs = 0;
    // The types take the chosen waits in turn: more distinct waits for the same runs.
    constexpr asio::cancellation_type_t types[] = {asio::cancellation_type::terminal,
                                                   asio::cancellation_type::partial,
                                                   asio::cancellation_type::total};
    auto points = sample_points(waits, config.head, config.middle, config.tail);
    for (std::size_t i = 0; i < points.size(); ++i) {
      auto k = points[i];
      auto type = types[i % 3];
      scenario sc(config.options);
      auto &s = client ? sc.client : sc.server;
      cancel_kth_wait cancel{&s, read, k, type};
      sc.start();
      sc.drive(std::ref(cancel));
      sc.check_outcome();
      if (!sc.errors.empty() || !sc.client.complete() || !sc.server.complete() ||
          sc.client.in != sc.server.out || sc.server.in != sc.client.out)
        sc.problems.push_back("the session did not end cleanly and complete");
      // A write has taken effect from its start: total cancellation does not apply.
      if (!read && type == asio::cancellation_type::total && s.writes_aborted > 0)
        sc.problems.push_back("a write was aborted by total cancellation");
      ++runs;
      aborted += s.reads_aborted + s.writes_aborted;
      if (!sc.problems.empty() && ++failing_runs <= detailed_failures)
        FAIL_CHECK(std::string(what)
                   << ", " << std::string(type_name(type)) << " cancellation at wait " << k
                   << " of " << waits << ":" << sc.report());
    }
    CHECK(failing_runs == 0);
    summary << "\n  " << what << ": " << waits << " waits in a clean run; " << runs << " runs, "
            << aborted << " operations aborted by it (the others had completed, or ignored "
            << "total cancellation)";
  }
  MESSAGE(config.name << ", " << seconds_since(started) << " s:" << summary.str());
}

} // namespace

TEST_CASE("cancelling a read or a write at one of its waits loses and repeats nothing") {
  cancel_sweep({"512-byte buffers, 7-byte reads",
                {.capacity = 512, .read_chunk = 7},
                sanitized ? 4 : 6,
                sanitized ? 5 : 9,
                3});
  cancel_sweep({"64 KiB buffers, 1000-byte reads, 300-byte writes",
                {.capacity = 64 * 1024, .read_chunk = 1000, .write_chunk = 300},
                sanitized ? 9 : 15,
                sanitized ? 9 : 15,
                6});
}

// --- 3. Destruction with operations pending --------------------------------------------------

TEST_CASE("destroying a stream after the handshake, with a read and a write pending") {
  for (bool run_after : {true, false}) {
    INFO("run the context afterwards: " << run_after);
    stream_pair p({.capacity = 512, .read_chunk = 7});
    p.handshake();
    // More than the pipe holds and than a completed write may leave queued: the write waits.
    auto data = pattern(64 * 1024, 5);
    std::vector<char> buffer(1000);
    outcome read, write;
    p.client->async_read_some(asio::buffer(buffer), read.handler());
    p.client->async_write_some(asio::buffer(data), write.handler());
    settle(*p.io);
    REQUIRE(!read.done);
    REQUIRE(!write.done);

    p.destroy_client();
    CHECK(!read.done);
    CHECK(!write.done);
    if (!run_after) {
      p.tear_down_without_running();
      CHECK(!read.done); // destroyed with the context, never called
      CHECK(!write.done);
      continue;
    }
    settle(*p.io);
    REQUIRE(read.done);
    REQUIRE(write.done);
    CHECK(read.ec == asio::error::operation_aborted);
    CHECK(read.n == 0);
    CHECK(write.ec == asio::error::operation_aborted);
    CHECK(write.n == data.size()); // encrypted at the start: it reports what it took

    // The peer sees the connection end without close_notify, after what arrived.
    std::string got;
    outcome server_read;
    for (int i = 0; i < 100 && !server_read.ec; ++i) {
      server_read = {};
      p.server->async_read_some(asio::buffer(buffer), server_read.handler());
      settle(*p.io);
      REQUIRE(server_read.done);
      got.append(buffer.data(), server_read.n);
    }
    CHECK(server_read.ec == tlsio::error::stream_truncated);
    CHECK(got == data.substr(0, got.size()));
  }
}

TEST_CASE("destroying a stream at each step of its handshake") {
  // The steps of a whole handshake.
  std::size_t handshake_steps = 0;
  {
    stream_pair p({.capacity = 512, .read_chunk = 7});
    outcome c, s;
    p.client->async_handshake(c.handler());
    p.server->async_handshake(s.handler());
    p.io->restart();
    while (!(c.done && s.done) && p.io->poll_one() > 0)
      ++handshake_steps;
    REQUIRE(c.done);
    REQUIRE(!c.ec);
  }
  REQUIRE(handshake_steps > 10);

  for (auto j : sample_points(handshake_steps, sanitized ? 60 : 200, sanitized ? 30 : 60, 10)) {
    for (bool run_after : {true, false}) {
      INFO("destroyed after " << j << " of " << handshake_steps
                              << " steps, run afterwards: " << run_after);
      stream_pair p({.capacity = 512, .read_chunk = 7});
      outcome c, s;
      p.client->async_handshake(c.handler());
      p.server->async_handshake(s.handler());
      p.io->restart();
      for (std::size_t i = 0; i < j && p.io->poll_one() > 0; ++i) {
      }
      if (c.done)
        continue; // nothing pending any more
      p.destroy_client();
      if (!run_after) {
        p.tear_down_without_running();
        CHECK(!c.done);
        continue;
      }
      settle(*p.io);
      REQUIRE(c.done);
      CHECK(c.ec == asio::error::operation_aborted);
      REQUIRE(s.done); // the server's handshake ends too, one way or another
    }
  }
}

TEST_CASE("destroying a stream during its shutdown, with a read pending") {
  for (bool run_after : {true, false}) {
    INFO("run the context afterwards: " << run_after);
    stream_pair p({.capacity = 512, .read_chunk = 7});
    p.handshake();
    std::vector<char> buffer(1000);
    outcome read, shutdown;
    p.client->set_shutdown_timeout(std::chrono::hours(1));
    p.client->async_read_some(asio::buffer(buffer), read.handler());
    p.client->async_shutdown(shutdown.handler()); // the server does not answer: it waits
    settle(*p.io);
    REQUIRE(!read.done);
    REQUIRE(!shutdown.done);

    p.destroy_client();
    if (!run_after) {
      p.tear_down_without_running();
      CHECK(!read.done);
      CHECK(!shutdown.done);
      continue;
    }
    settle(*p.io);
    REQUIRE(read.done);
    REQUIRE(shutdown.done);
    CHECK(read.ec == asio::error::operation_aborted);
    CHECK(shutdown.ec == asio::error::operation_aborted);

    // close_notify was sent before the destruction: the server sees a clean end.
    outcome server_read;
    p.server->async_read_some(asio::buffer(buffer), server_read.handler());
    settle(*p.io);
    REQUIRE(server_read.done);
    CHECK(server_read.ec == asio::error::eof);
  }
}

TEST_CASE("destroying the io_context frees a stream that its own pending handler owns") {
  stream_pair p({.capacity = 512});
  p.handshake();
  std::shared_ptr<tls_stream> owned = std::move(p.client);
  std::weak_ptr<tls_stream> watch = owned;
  static char buffer[16];
  owned->async_read_some(asio::buffer(buffer), [owned](std::error_code, std::size_t) {
    FAIL("never called: the context is destroyed without running it");
  });
  owned.reset();
  settle(*p.io);
  CHECK(!watch.expired()); // the handler owns the stream, whose state owns the handler
  p.server.reset();        // its eof reaches the read only if the context runs again
  p.io.reset();
  CHECK(watch.expired()); // the context's shutdown broke the cycle (LSan checks the rest)
}

namespace {

// Destroys the client or the server (in turn) after j handlers of the scenario, for the
// chosen j: then either runs on (the destroyed side's operations complete with
// operation_aborted, the peer ends with an error or finishes) or destroys the context at
// once (no handler runs at all).
void destroy_sweep(const std::string &name, const test_stream_options &options, std::size_t head,
                   std::size_t middle, std::size_t tail) {
  INFO(name);
  std::size_t total_steps = 0;
  {
    scenario sc(options);
    sc.start();
    sc.drive();
    sc.check_outcome();
    require_clean(sc);
    total_steps = sc.steps;
  }
  auto started = clock_type::now();
  std::size_t runs = 0, failing_runs = 0;
  auto points = sample_points(total_steps, head, middle, tail);
  for (std::size_t i = 0; i < points.size(); ++i) {
    auto j = points[i];
    for (bool run_after : {true, false}) {
      scenario sc(options);
      auto &victim = i % 2 == 0 ? sc.client : sc.server;
      sc.start();
      sc.drive([&] {
        if (sc.steps < j)
          return true;
        if (!run_after)
          return false;
        if (!victim.destroyed)
          sc.destroy(victim);
        return true;
      });
      if (run_after)
        sc.check_outcome();
      else
        sc.tear_down_without_running(); // a handler run meanwhile is a problem (completed())
      ++runs;
      if (!sc.problems.empty() && ++failing_runs <= detailed_failures)
        FAIL_CHECK(std::string(victim.name)
                   << " destroyed after " << j << " of " << total_steps << " handlers, "
                   << std::string(run_after ? "then run" : "context destroyed at once") << ":"
                   << sc.report());
    }
  }
  CHECK(failing_runs == 0);
  MESSAGE(name << ": " << total_steps << " handlers in a clean session; " << runs << " runs, "
               << seconds_since(started) << " s");
}

} // namespace

TEST_CASE("destroying one side at each point of the full-duplex session") {
  destroy_sweep("512-byte buffers, 7-byte reads", {.capacity = 512, .read_chunk = 7},
                sanitized ? 5 : 8, sanitized ? 12 : 20, sanitized ? 4 : 6);
  destroy_sweep("64 KiB buffers, 1000-byte reads, 300-byte writes",
                {.capacity = 64 * 1024, .read_chunk = 1000, .write_chunk = 300},
                sanitized ? 10 : 20, sanitized ? 20 : 40, sanitized ? 5 : 10);
}

// --- 4. Buffers of a few bytes -----------------------------------------------------------------

TEST_CASE("tiny buffers both ways: the handshake and a full-duplex exchange complete") {
  struct configuration {
    const char *name;
    test_stream_options options;
  };
  for (const auto &config :
       {configuration{"1-byte buffer, 1-byte reads", {.capacity = 1, .read_chunk = 1}},
        configuration{"16-byte buffer", {.capacity = 16}},
        configuration{"16-byte buffer, 3-byte reads, 5-byte writes",
                      {.capacity = 16, .read_chunk = 3, .write_chunk = 5}}}) {
    INFO(std::string(config.name));
    auto started = clock_type::now();
    scenario sc(config.options, 20 * 1024);
    sc.start();
    sc.drive();
    sc.check_outcome();
    require_clean(sc);
    MESSAGE(std::string(config.name)
            << ": " << sc.steps << " handlers, " << seconds_since(started) << " s");
  }
}
