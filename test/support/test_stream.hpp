// An in-memory, fault-injecting stream pair for tests (test helper, header-only).
//
// Two test_stream ends joined in memory, in the spirit of Boost.Beast's test stream: what
// one end writes, the other reads. It models Asio's AsyncReadStream, AsyncWriteStream,
// SyncReadStream and SyncWriteStream and has what tlsio::stream wants from a next layer
// (get_executor, lowest_layer, cancel, close, is_open), so it is used as
// tlsio::stream<tlsio_test::test_stream>.
//
// Loopback sockets hide bugs behind the kernel's large buffers; this pair makes them
// visible (test_stream_options):
//   capacity     bytes each direction holds before a write must wait. A write takes at
//                most the free space and completes with that partial count; it waits only
//                when the buffer is full. Full-duplex deadlocks show up as hangs.
//   read_chunk   a read delivers at most this many bytes (partial records).
//   write_chunk  a write takes at most this many bytes.
//   fail         a shared fail_count: every read and write, asynchronous or synchronous,
//                on either end, counts one operation, and the N-th fails (see fail_count).
//
// Example (a test that reaches every failure point of a scenario):
//   for (std::size_t n = 1;; ++n) {
//     auto fail = std::make_shared<tlsio_test::fail_count>(n);
//     auto [a, b] = tlsio_test::make_test_stream_pair(io.get_executor(),
//                                                     {.capacity = 512, .fail = fail});
//     ... run the scenario; it fails with test_error::injected_failure or succeeds ...
//     if (!fail->triggered())
//       break; // n is one past the scenario's last operation
//   }
//
// Asynchronous operations take any completion token, complete with
// void(std::error_code, std::size_t), run their handler through its associated executor
// (by default the pair's), and never call it from inside the initiating call. While one
// waits it keeps its handler's executor and the pair's executor busy (outstanding work),
// as a socket's operation does, so io_context::run() does not return under it. A waiting
// operation supports per-operation cancellation of every type (terminal, partial, total):
// nothing has been transferred while it waits, so it completes with
// asio::error::operation_aborted and 0 bytes.
//
// Each end allows one read and one write at a time (they may be pending together); a
// second read or write meanwhile completes with asio::error::already_started, so a layer
// above that breaks the one-at-a-time rule is caught.
//
// Errors:
//   operation on a closed end                  asio::error::bad_descriptor (as a socket)
//   read, peer closed, nothing left to read    asio::error::eof
//   write, peer closed                         asio::error::broken_pipe
//   cancel(), close() or destruction of this   asio::error::operation_aborted
//     end while the operation waits
//   synchronous read or write that would wait  asio::error::would_block (never blocks: the
//                                              pair is driven by one thread)
//   fail_count's N-th operation                test_error::injected_failure by default
//
// Thread safety: none. Drive both ends from one thread (one io_context run by one thread,
// or a strand); there is no mutex.
//
// Lifetime: destroying an end closes it. Destroying the io_context first is safe too: its
// shutdown destroys the handlers of waiting operations without calling them, as it does
// for sockets, which also breaks cycles of handlers that own the stream.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/bind_executor.hpp>
#include <asio/buffer.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>
#include <asio/execution/context.hpp>
#include <asio/execution_context.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/query.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace tlsio_test {

/// Errors of the test stream itself.
enum class test_error {
  injected_failure = 1, // fail_count chose this operation to fail
};

inline const std::error_category &test_error_category() {
  struct category final : std::error_category {
    const char *name() const noexcept override { return "tlsio_test"; }
    std::string message(int code) const override {
      switch (static_cast<test_error>(code)) {
      case test_error::injected_failure:
        return "failure injected by the test stream";
      default:
        return "unknown tlsio_test error";
      }
    }
  };
  static const category instance;
  return instance;
}

inline std::error_code make_error_code(test_error e) {
  return {static_cast<int>(e), test_error_category()};
}

} // namespace tlsio_test

template <> struct std::is_error_code_enum<tlsio_test::test_error> : std::true_type {};

namespace tlsio_test {

/// Fails the N-th operation (1-based) of the pairs that share it. Every read_some and
/// write_some, asynchronous or synchronous, on either end, counts one operation at its
/// start; a failing one transfers nothing and completes with the error.
/// By default the N-th and every later operation fail, as on a broken connection, so
/// neither end goes on as if nothing happened; mode::only_nth fails the N-th alone. n == 0 never
/// fails: the object only counts. An operation already waiting when the N-th comes is not failed by
/// it: close an end on error, as a program would, and the peer's waiting operations see eof or
/// broken_pipe.
class fail_count {
public:
  enum class mode { from_nth, only_nth };

  explicit fail_count(std::size_t n, std::error_code error = test_error::injected_failure,
                      mode m = mode::from_nth)
      : n_(n), error_(error), mode_(m) {}

  /// Operations counted so far.
  std::size_t operations() const noexcept { return operations_; }
  /// Operations failed so far.
  std::size_t failures() const noexcept { return failures_; }
  /// Whether the N-th operation has happened (and failed).
  bool triggered() const noexcept { return failures_ > 0; }

  /// Counts one operation: its error, or none if it goes ahead.
  std::error_code next() {
    ++operations_;
    bool fail = n_ != 0 && (mode_ == mode::from_nth ? operations_ >= n_ : operations_ == n_);
    if (!fail)
      return {};
    ++failures_;
    return error_;
  }

private:
  std::size_t n_;
  std::error_code error_;
  mode mode_;
  std::size_t operations_ = 0;
  std::size_t failures_ = 0;
};

/// No limit, for test_stream_options.
inline constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

/// How a pair behaves; the same for both directions.
struct test_stream_options {
  std::size_t capacity = unlimited;      // bytes a direction holds before writes wait
  std::size_t read_chunk = unlimited;    // most bytes one read delivers
  std::size_t write_chunk = unlimited;   // most bytes one write takes
  std::shared_ptr<fail_count> fail = {}; // optional, may be shared by several pairs
};

class test_stream;

namespace detail {

enum class op_kind { read, write };

// Bytes on their way to one end: a vector read from a moving head, so that small reads
// from a large buffer do not shift the rest every time.
class byte_queue {
public:
  std::size_t size() const noexcept { return bytes_.size() - head_; }
  void clear() noexcept {
    bytes_.clear();
    head_ = 0;
  }
  std::size_t append(const std::vector<asio::const_buffer> &from, std::size_t max) {
    auto n = std::min(max, asio::buffer_size(from));
    auto old = bytes_.size();
    bytes_.resize(old + n);
    return asio::buffer_copy(asio::buffer(bytes_.data() + old, n), from);
  }
  std::size_t take(const std::vector<asio::mutable_buffer> &into, std::size_t max) {
    auto n = asio::buffer_copy(into, asio::buffer(bytes_.data() + head_, std::min(max, size())));
    head_ += n;
    if (head_ == bytes_.size())
      clear();
    else if (head_ > 4096 && head_ > bytes_.size() / 2) {
      bytes_.erase(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    return n;
  }

private:
  std::vector<char> bytes_;
  std::size_t head_ = 0;
};

// A waiting operation with its handler type erased.
struct op_base {
  op_kind kind = op_kind::read;
  std::uint64_t id = 0; // tells a stale cancellation handler from the current one
  std::vector<asio::mutable_buffer> into;
  std::vector<asio::const_buffer> from;

  virtual ~op_base() = default;
  // Posts the handler with the result; the op is spent afterwards.
  virtual void complete(std::error_code ec, std::size_t n) = 0;
};

template <class Handler> class op final : public op_base {
public:
  using handler_executor = asio::associated_executor_t<Handler, asio::any_io_executor>;

  op(Handler handler, const asio::any_io_executor &io_executor)
      : handler_(std::move(handler)), io_work_(io_executor),
        handler_work_(asio::get_associated_executor(handler_, io_executor)) {}

  void complete(std::error_code ec, std::size_t n) override {
    // Through the pair's executor, never inline; asio::post then dispatches to the
    // handler's own executor.
    asio::post(io_work_.get_executor(),
               asio::bind_executor(handler_work_.get_executor(),
                                   [handler = std::move(handler_), ec, n]() mutable {
                                     std::move(handler)(ec, n);
                                   }));
  }

private:
  Handler handler_;
  asio::executor_work_guard<asio::any_io_executor> io_work_;
  asio::executor_work_guard<handler_executor> handler_work_;
};

struct end_state {
  byte_queue input; // written by the peer, not yet read by this end
  bool open = true;
  std::unique_ptr<op_base> read_op;  // waits for input
  std::unique_ptr<op_base> write_op; // waits for room in the peer's input
  std::uint64_t bytes_read = 0;
  std::uint64_t bytes_written = 0;
  std::uint64_t writes = 0; // writes that moved bytes

  std::unique_ptr<op_base> &waiting(op_kind kind) {
    return kind == op_kind::read ? read_op : write_op;
  }
};

class test_stream_service;

// What both ends share. Ends are 0 and 1; the peer of e is 1 - e.
class pair_state : public std::enable_shared_from_this<pair_state> {
public:
  using result = std::optional<std::pair<std::error_code, std::size_t>>; // none: must wait

  pair_state(asio::any_io_executor executor, test_stream_options options);
  ~pair_state();
  pair_state(const pair_state &) = delete;
  pair_state &operator=(const pair_state &) = delete;

  asio::any_io_executor executor;
  test_stream_options options;
  end_state ends[2];
  std::uint64_t next_id = 1;
  std::size_t operations = 0;
  bool dead = false;                      // the execution context has shut down: touch no executor
  test_stream_service *service = nullptr; // null once the context has shut down

  std::error_code count_operation() {
    ++operations;
    return options.fail ? options.fail->next() : std::error_code{};
  }

  std::size_t room_in(int e) const {
    auto used = ends[e].input.size();
    return options.capacity > used ? options.capacity - used : 0;
  }

  result try_read(int e, const std::vector<asio::mutable_buffer> &into) {
    auto &me = ends[e];
    if (!me.open)
      return {{asio::error::bad_descriptor, 0}};
    if (asio::buffer_size(into) == 0)
      return {{std::error_code{}, 0}};
    if (me.input.size() > 0) {
      auto n = me.input.take(into, options.read_chunk);
      me.bytes_read += n;
      return {{std::error_code{}, n}};
    }
    if (!ends[1 - e].open)
      return {{asio::error::eof, 0}};
    return std::nullopt;
  }

  result try_write(int e, const std::vector<asio::const_buffer> &from) {
    auto &me = ends[e];
    auto &peer = ends[1 - e];
    if (!me.open)
      return {{asio::error::bad_descriptor, 0}};
    if (asio::buffer_size(from) == 0)
      return {{std::error_code{}, 0}};
    if (!peer.open)
      return {{asio::error::broken_pipe, 0}};
    auto room = room_in(1 - e);
    if (room == 0)
      return std::nullopt;
    auto n = peer.input.append(from, std::min(room, options.write_chunk));
    me.bytes_written += n;
    ++me.writes;
    return {{std::error_code{}, n}};
  }

  result try_op(int e, const op_base &op) {
    return op.kind == op_kind::read ? try_read(e, op.into) : try_write(e, op.from);
  }

  // Starts an asynchronous operation: true if it waits (and is stored), false if its
  // completion is already posted.
  bool start(int e, std::unique_ptr<op_base> op) {
    if (auto ec = count_operation()) {
      op->complete(ec, 0);
      return false;
    }
    auto &slot = ends[e].waiting(op->kind);
    if (slot) {
      op->complete(asio::error::already_started, 0);
      return false;
    }
    if (auto r = try_op(e, *op)) {
      op->complete(r->first, r->second);
      progress();
      return false;
    }
    slot = std::move(op);
    return true;
  }

  // Runs a synchronous operation: what it did, or would_block.
  std::size_t run_sync(int e, op_kind kind, const std::vector<asio::mutable_buffer> &into,
                       const std::vector<asio::const_buffer> &from, std::error_code &ec) {
    if ((ec = count_operation()))
      return 0;
    if (ends[e].waiting(kind)) {
      ec = asio::error::already_started;
      return 0;
    }
    auto r = kind == op_kind::read ? try_read(e, into) : try_write(e, from);
    if (!r) {
      ec = asio::error::would_block;
      return 0;
    }
    progress(); // a read made room, a write brought input: the peer's waiting ops may go
    ec = r->first;
    return r->second;
  }

  // Completes every waiting operation that can now go ahead, until none can.
  void progress() {
    for (bool moved = true; moved;) {
      moved = false;
      for (int e : {0, 1})
        for (auto kind : {op_kind::read, op_kind::write}) {
          auto &slot = ends[e].waiting(kind);
          if (!slot)
            continue;
          if (auto r = try_op(e, *slot)) {
            auto op = std::move(slot);
            op->complete(r->first, r->second);
            moved = true;
          }
        }
    }
  }

  void abort(int e, op_kind kind, std::uint64_t id = 0) {
    auto &slot = ends[e].waiting(kind);
    if (dead || !slot || (id != 0 && slot->id != id))
      return;
    auto op = std::move(slot);
    op->complete(asio::error::operation_aborted, 0);
  }

  void close(int e) {
    auto &me = ends[e];
    if (!me.open)
      return;
    me.open = false;
    me.input.clear(); // nobody will read it
    abort(e, op_kind::read);
    abort(e, op_kind::write);
    if (!dead)
      progress(); // the peer's reads see eof, its writes broken_pipe
  }

  // The execution context is shutting down: destroy the handlers without calling them.
  void shut_down() {
    dead = true;
    std::vector<std::unique_ptr<op_base>> ops;
    for (auto &end : ends) {
      ops.push_back(std::move(end.read_op));
      ops.push_back(std::move(end.write_op));
    }
    ops.clear(); // may destroy ends that the handlers owned; they see `dead`
  }
};

// Per-operation cancellation. It stays installed in the signal after the operation ends
// (as Asio's own do), so it holds the state weakly and checks the operation's id.
class cancel_handler {
public:
  cancel_handler(std::weak_ptr<pair_state> state, int end, op_kind kind, std::uint64_t id)
      : state_(std::move(state)), end_(end), kind_(kind), id_(id) {}

  void operator()(asio::cancellation_type_t type) {
    constexpr auto any = asio::cancellation_type::terminal | asio::cancellation_type::partial |
                         asio::cancellation_type::total;
    if ((type & any) == asio::cancellation_type::none)
      return;
    if (auto state = state_.lock())
      state->abort(end_, kind_, id_);
  }

private:
  std::weak_ptr<pair_state> state_;
  int end_;
  op_kind kind_;
  std::uint64_t id_;
};

// Knows the live pairs of one execution context, so that its shutdown can destroy the
// handlers they hold (they keep its work counted and may own the pair: a cycle).
class test_stream_service final : public asio::execution_context::service {
public:
  static inline asio::execution_context::id id;

  explicit test_stream_service(asio::execution_context &context)
      : asio::execution_context::service(context) {}

  void add(pair_state *state) {
    std::lock_guard lock(mutex_);
    states_.push_back(state);
  }
  void remove(pair_state *state) {
    std::lock_guard lock(mutex_);
    std::erase(states_, state);
  }

private:
  void shutdown() override {
    std::vector<std::shared_ptr<pair_state>> alive;
    {
      std::lock_guard lock(mutex_);
      for (auto *state : states_) {
        state->service = nullptr;
        if (auto locked = state->weak_from_this().lock())
          alive.push_back(std::move(locked));
      }
      states_.clear();
    }
    for (auto &state : alive)
      state->shut_down();
  }

  std::mutex mutex_; // the registry only; the streams themselves are single-threaded
  std::vector<pair_state *> states_;
};

inline pair_state::pair_state(asio::any_io_executor ex, test_stream_options opts)
    : executor(std::move(ex)), options(std::move(opts)) {
  if (options.capacity == 0 || options.read_chunk == 0 || options.write_chunk == 0)
    throw std::invalid_argument("test_stream: capacity and chunks must be at least 1");
  service =
      &asio::use_service<test_stream_service>(asio::query(executor, asio::execution::context));
  service->add(this);
}

inline pair_state::~pair_state() {
  if (service)
    service->remove(this);
}

template <class Buffer, class Buffers> std::vector<Buffer> buffer_vector(const Buffers &buffers) {
  return std::vector<Buffer>(asio::buffer_sequence_begin(buffers),
                             asio::buffer_sequence_end(buffers));
}

} // namespace detail

/// One end of an in-memory pair (see the top of this file). Move-only; a moved-from end
/// may only be destroyed or assigned to.
class test_stream {
public:
  using executor_type = asio::any_io_executor;
  using lowest_layer_type = test_stream;

  test_stream(test_stream &&other) noexcept
      : state_(std::move(other.state_)), index_(other.index_) {}
  test_stream &operator=(test_stream &&other) noexcept {
    if (this != &other) {
      close_quietly();
      state_ = std::move(other.state_);
      index_ = other.index_;
    }
    return *this;
  }
  /// Closes this end: its waiting operations complete with operation_aborted.
  ~test_stream() { close_quietly(); }

  executor_type get_executor() const noexcept { return state_->executor; }
  lowest_layer_type &lowest_layer() noexcept { return *this; }
  const lowest_layer_type &lowest_layer() const noexcept { return *this; }

  // --- Reading and writing ----------------------------------------------------------------

  /// Reads up to read_chunk bytes of what the peer wrote; waits if there is none yet.
  /// Completion signature: void(std::error_code, std::size_t). eof once the peer has
  /// closed and everything it wrote has been read.
  template <class MutableBuffers, class Token = asio::default_completion_token_t<executor_type>>
  auto async_read_some(const MutableBuffers &buffers, Token &&token = {}) {
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        initiation{state_, index_, detail::op_kind::read}, token,
        detail::buffer_vector<asio::mutable_buffer>(buffers), std::vector<asio::const_buffer>{});
  }

  /// Writes up to write_chunk bytes, and no more than the peer's input has room for;
  /// waits while it is full. Completion signature: void(std::error_code, std::size_t).
  template <class ConstBuffers, class Token = asio::default_completion_token_t<executor_type>>
  auto async_write_some(const ConstBuffers &buffers, Token &&token = {}) {
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        initiation{state_, index_, detail::op_kind::write}, token,
        std::vector<asio::mutable_buffer>{}, detail::buffer_vector<asio::const_buffer>(buffers));
  }

  /// As async_read_some, but fails with asio::error::would_block instead of waiting.
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers &buffers, std::error_code &ec) {
    return state_->run_sync(index_, detail::op_kind::read,
                            detail::buffer_vector<asio::mutable_buffer>(buffers), {}, ec);
  }
  template <class MutableBuffers> std::size_t read_some(const MutableBuffers &buffers) {
    std::error_code ec;
    auto n = read_some(buffers, ec);
    throw_if(ec, "test_stream read_some");
    return n;
  }

  /// As async_write_some, but fails with asio::error::would_block instead of waiting.
  template <class ConstBuffers>
  std::size_t write_some(const ConstBuffers &buffers, std::error_code &ec) {
    return state_->run_sync(index_, detail::op_kind::write, {},
                            detail::buffer_vector<asio::const_buffer>(buffers), ec);
  }
  template <class ConstBuffers> std::size_t write_some(const ConstBuffers &buffers) {
    std::error_code ec;
    auto n = write_some(buffers, ec);
    throw_if(ec, "test_stream write_some");
    return n;
  }

  // --- Cancelling and closing -------------------------------------------------------------

  /// Completes this end's waiting operations with operation_aborted (not the peer's).
  void cancel(std::error_code &ec) {
    ec = {};
    if (!is_open()) {
      ec = asio::error::bad_descriptor;
      return;
    }
    state_->abort(index_, detail::op_kind::read);
    state_->abort(index_, detail::op_kind::write);
  }
  void cancel() {
    std::error_code ec;
    cancel(ec);
    throw_if(ec, "test_stream cancel");
  }

  /// Closes this end: its waiting operations complete with operation_aborted, its unread
  /// input is dropped; the peer reads what is left, then eof, and its writes fail with
  /// broken_pipe. Closing a closed end does nothing.
  void close(std::error_code &ec) {
    ec = {};
    close_quietly();
  }
  void close() { close_quietly(); }
  bool is_open() const noexcept { return state_ && state_->ends[index_].open; }

  // --- Accounting, for tests --------------------------------------------------------------

  /// Bytes the peer wrote that this end has not read yet.
  std::size_t available() const noexcept { return me().input.size(); }
  /// Bytes this end wrote that the peer has not read yet.
  std::size_t in_flight() const noexcept { return peer().input.size(); }
  bool read_pending() const noexcept { return me().read_op != nullptr; }
  bool write_pending() const noexcept { return me().write_op != nullptr; }
  /// This end's waiting asynchronous operations (0 to 2).
  std::size_t pending_ops() const noexcept {
    return std::size_t{read_pending()} + std::size_t{write_pending()};
  }
  std::uint64_t bytes_read() const noexcept { return me().bytes_read; }
  std::uint64_t bytes_written() const noexcept { return me().bytes_written; }
  /// Writes (asynchronous or synchronous) that moved bytes from this end.
  std::uint64_t writes() const noexcept { return me().writes; }
  /// Reads and writes started on both ends of the pair so far.
  std::size_t operations() const noexcept { return state_->operations; }
  const test_stream_options &options() const noexcept { return state_->options; }

private:
  friend std::pair<test_stream, test_stream>
  make_test_stream_pair(const asio::any_io_executor &executor, test_stream_options options);

  test_stream(std::shared_ptr<detail::pair_state> state, int index)
      : state_(std::move(state)), index_(index) {}

  // Holds the state, not the end, so that a deferred initiation outlives a moved end.
  struct initiation {
    std::shared_ptr<detail::pair_state> state;
    int index;
    detail::op_kind kind;

    template <class Handler>
    void operator()(Handler &&handler, std::vector<asio::mutable_buffer> into,
                    std::vector<asio::const_buffer> from) const {
      using handler_type = std::decay_t<Handler>;
      if (state->dead)
        return; // the execution context is gone: drop the handler, as its shutdown would
      auto slot = asio::get_associated_cancellation_slot(handler);
      auto op = std::make_unique<detail::op<handler_type>>(std::forward<Handler>(handler),
                                                           state->executor);
      auto id = state->next_id++;
      op->kind = kind;
      op->id = id;
      op->into = std::move(into);
      op->from = std::move(from);
      if (state->start(index, std::move(op)) && slot.is_connected())
        slot.template emplace<detail::cancel_handler>(state, index, kind, id);
    }
  };

  void close_quietly() noexcept {
    if (state_)
      state_->close(index_);
  }

  const detail::end_state &me() const noexcept { return state_->ends[index_]; }
  const detail::end_state &peer() const noexcept { return state_->ends[1 - index_]; }

  static void throw_if(const std::error_code &ec, const char *what) {
    if (ec)
      throw std::system_error(ec, what);
  }

  std::shared_ptr<detail::pair_state> state_;
  int index_ = 0;
};

/// Two connected ends on one executor: auto [a, b] = make_test_stream_pair(ex, {...}).
/// Throws std::invalid_argument if capacity, read_chunk or write_chunk is 0.
inline std::pair<test_stream, test_stream>
make_test_stream_pair(const asio::any_io_executor &executor, test_stream_options options = {}) {
  auto state = std::make_shared<detail::pair_state>(executor, std::move(options));
  return {test_stream(state, 0), test_stream(state, 1)};
}

} // namespace tlsio_test
