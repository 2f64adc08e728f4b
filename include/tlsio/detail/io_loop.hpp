// The one I/O loop that drives the engine over the next layer (internal).
//
// Every stream operation is this loop with its own engine step: run the step; hand what it
// queued to the flusher; if the step wants input, read from the next layer into the
// engine; repeat until the step is done, then complete. The asynchronous loop is a composed
// operation; the synchronous one is the same loop with blocking calls.
//
// Full duplex: records leave through a flusher that belongs to no operation, so a read
// never waits for a write's records, nor a write for a read. An operation waits for the
// flusher only for records its own step queued, and only when its completion promises they
// were sent: a write, a handshake flight, a close_notify, the alert before a failure.
#pragma once

#include <tlsio/detail/stream_state.hpp>
#include <tlsio/error.hpp>

#include <asio/associated_executor.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/compose.hpp>
#include <asio/error.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <asio/ip/tcp.hpp>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>
#include <system_error>
#include <type_traits>

namespace tlsio::detail {

/// A bound on an operation: when it passes, the socket's operations are cancelled and the
/// operation completes with `error`.
struct op_deadline {
  std::chrono::milliseconds timeout;
  std::error_code error;
  bool close_socket; // shutdown gives up on the peer; a handshake leaves that to its owner
};

/// Starts the deadline; returns its generation, which disarm() retires so that an expiry
/// already queued when the operation finished does nothing.
template <class NextLayer, class Executor>
std::uint64_t arm_deadline(const std::shared_ptr<stream_state<NextLayer>> &s, const op_deadline &d,
                           const Executor &ex) {
  auto generation = ++s->deadline_generation;
  s->deadline_expired = false;
  s->deadline.expires_after(d.timeout);
  // The expiry runs on the operation's executor (its strand), like the rest of it.
  s->deadline.async_wait(asio::bind_executor(
      ex, [weak = std::weak_ptr(s), close = d.close_socket, generation](std::error_code ec) {
        auto state = weak.lock();
        if (ec || !state || state->destroyed || state->deadline_generation != generation)
          return;
        state->deadline_expired = true;
        std::error_code ignored;
        if (close)
          state->next_layer.lowest_layer().close(ignored);
        else
          state->next_layer.lowest_layer().cancel(ignored);
      }));
  return generation;
}

template <class NextLayer> void disarm_deadline(stream_state<NextLayer> &s) {
  ++s.deadline_generation;
  s.deadline_expired = false;
  s.deadline.cancel();
}

template <class NextLayer> void consume_written(stream_state<NextLayer> &s, std::size_t n) {
  s.sent += n;
  if (n >= s.write_buffer.size())
    s.write_buffer.clear();
  else
    s.write_buffer.erase(s.write_buffer.begin(),
                         s.write_buffer.begin() + static_cast<std::ptrdiff_t>(n));
}

/// Output waits in the engine or in write_buffer (the unsent tail of an interrupted
/// socket write, which must go first: the peer has the start of that record).
template <class NextLayer> bool has_output(const stream_state<NextLayer> &s) {
  return !s.write_buffer.empty() || !s.engine.pending_output().empty();
}

/// A socket error the flusher cannot go on after (cancellation only pauses it).
template <class NextLayer> bool flush_failed(const stream_state<NextLayer> &s) {
  return s.flush_error && s.flush_error != asio::error::operation_aborted;
}

template <class NextLayer, class Executor>
void start_flush(const std::shared_ptr<stream_state<NextLayer>> &s, const Executor &ex);

// Completes one socket write of the flusher and starts the next if more was queued.
template <class NextLayer, class Executor> struct flush_handler {
  std::shared_ptr<stream_state<NextLayer>> state;
  Executor executor;

  using executor_type = Executor;
  executor_type get_executor() const noexcept { return executor; }

  void operator()(std::error_code ec, std::size_t n) {
    auto &s = *state;
    s.writing = false;
    consume_written(s, n);
    s.flush_error = ec;
    if (!ec) {
      start_flush(state, executor);
    } else if (flush_failed(s)) {
      // The record stream is broken: wake the operations waiting for input too, so that
      // they report this instead of waiting for answers to records that never left.
      std::error_code ignored;
      s.next_layer.lowest_layer().cancel(ignored);
    }
    s.write_done.cancel();
  }
};

/// Sends everything queued, unless a socket write is already doing so (it goes on with what
/// was queued meanwhile). `ex` runs the completions: the caller's executor, so that a stream
/// used on a strand is only ever touched on it.
template <class NextLayer, class Executor>
void start_flush(const std::shared_ptr<stream_state<NextLayer>> &s, const Executor &ex) {
  if (s->writing || s->destroyed || flush_failed(*s))
    return;
  if (s->write_buffer.empty()) {
    if (s->engine.pending_output().empty())
      return;
    s->engine.swap_output(s->write_buffer);
    s->taken += s->write_buffer.size();
  }
  s->flush_error.clear();
  s->writing = true;
  asio::async_write(s->next_layer, asio::buffer(s->write_buffer),
                    flush_handler<NextLayer, Executor>{s, ex});
}

/// With stream::set_write_coalescing(true), records of completed writes wait unsent while
/// less than this is queued, for as long as the writer goes on writing without waiting: a
/// run of small writes then costs one socket write per 64 KiB instead of one each (Linux's
/// TCP autocorking, one level up).
inline constexpr std::uint64_t coalesce_limit = 64 * 1024;

template <class NextLayer> std::uint64_t unsent(const stream_state<NextLayer> &s) {
  return s.produced() - s.sent;
}

template <class NextLayer> bool send_at_once(stream_state<NextLayer> &s);

/// The flush a coalescing write posts after its own completion. When it runs, records that
/// writes queued since it was posted mean the writer is still going: it waits one more turn
/// (below the limit). Otherwise it sends what is queued, as far as the socket takes it at
/// once, and hands the rest to the flusher.
template <class NextLayer, class Executor> struct coalesced_flush {
  std::shared_ptr<stream_state<NextLayer>> state;
  Executor executor;

  void operator()() {
    auto &s = *state;
    if (s.destroyed || s.writing || flush_failed(s)) { // a socket write goes on with the queue
      s.flush_posted = false;
      return;
    }
    if (s.produced() != s.flush_posted_at && unsent(s) < coalesce_limit) {
      s.flush_posted_at = s.produced();
      return asio::post(executor, std::move(*this));
    }
    s.flush_posted = false;
    if (!send_at_once(s))
      start_flush(state, executor);
    if (flush_failed(s)) { // as flush_handler: wake the operations waiting for input
      std::error_code ignored;
      s.next_layer.lowest_layer().cancel(ignored);
    }
  }
};

template <class NextLayer, class Executor>
void post_coalesced_flush(const std::shared_ptr<stream_state<NextLayer>> &s, const Executor &ex) {
  if (s->flush_posted)
    return;
  s->flush_posted = true;
  s->flush_posted_at = s->produced();
  asio::post(ex, coalesced_flush<NextLayer, Executor>{s, ex});
}

/// A TCP socket used directly as the next layer: it can be waited on and read without
/// blocking, so reads need no buffer while they wait.
template <class NextLayer>
constexpr bool is_plain_socket =
    std::is_same_v<NextLayer, asio::basic_stream_socket<asio::ip::tcp, asio::any_io_executor>>;

/// For a plain socket: takes what the kernel already holds without waiting. False if there
/// was nothing yet (or the next layer is not a plain socket); an error goes to `error`.
template <class NextLayer> bool read_at_once(stream_state<NextLayer> &s, std::error_code &error) {
  if constexpr (is_plain_socket<NextLayer>) {
    auto space = s.engine.prepare_input();
    auto n = ::recv(s.next_layer.native_handle(), space.data(), space.size(), MSG_DONTWAIT);
    if (n > 0)
      s.engine.commit_input(static_cast<std::size_t>(n));
    else if (n == 0)
      s.engine.put_eof();
    else if (errno == EAGAIN || errno == EWOULDBLOCK)
      return false;
    else if (errno != EINTR)
      error = std::error_code(errno, asio::error::get_system_category());
    return true;
  } else {
    (void)s;
    (void)error;
    return false;
  }
}

/// For a plain socket with no socket write in flight: sends what is queued as far as the
/// socket takes it without waiting. True if nothing is left to send; always false for other
/// next layers, which are written asynchronously.
template <class NextLayer> bool send_at_once(stream_state<NextLayer> &s) {
  if constexpr (is_plain_socket<NextLayer>) {
    while (!s.writing && has_output(s)) {
      if (s.write_buffer.empty()) {
        s.engine.swap_output(s.write_buffer);
        s.taken += s.write_buffer.size();
      }
      auto n = ::send(s.next_layer.native_handle(), s.write_buffer.data(), s.write_buffer.size(),
                      MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0)
        consume_written(s, static_cast<std::size_t>(n));
      else if (n < 0 && errno == EINTR)
        continue;
      else {
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
          s.flush_error = std::error_code(errno, asio::error::get_system_category());
        return false;
      }
    }
    return !has_output(s);
  } else {
    (void)s;
    return false;
  }
}

template <class NextLayer, class Operation> class io_op {
public:
  io_op(std::shared_ptr<stream_state<NextLayer>> state, Operation op)
      : state_(std::move(state)), op_(std::move(op)) {}

  template <class Self> void operator()(Self &self, std::error_code ec = {}, std::size_t n = 0) {
    auto &s = *state_;
    switch (std::exchange(awaiting_, awaiting::nothing)) {
    case awaiting::nothing: // the first call
      self.reset_cancellation_state(Operation::cancellation_filter());
      if (auto d = op_.deadline(s)) {
        deadline_generation_ = arm_deadline(
            state_, *d, asio::get_associated_executor(self, s.next_layer.get_executor()));
        deadline_error_ = d->error;
      }
      break;
    case awaiting::socket_readable: // read_at_once() takes the bytes
      s.reading = false;
      s.read_done.cancel();
      if (ec)
        io_error_ = ec;
      break;
    case awaiting::socket_read:
      s.reading = false;
      s.read_done.cancel();
      if (ec == asio::error::eof)
        s.engine.put_eof();
      else if (ec)
        io_error_ = ec;
      else
        s.engine.commit_input(n);
      break;
    case awaiting::other_read: // woken by whoever was reading, or by cancellation
    case awaiting::flush:
    case awaiting::post:
      break;
    }
    run(self);
  }

private:
  enum class awaiting { nothing, socket_read, socket_readable, other_read, flush, post };

  template <class Self> void run(Self &self) {
    auto &s = *state_;
    for (;;) {
      if (s.destroyed)
        return finish(self, asio::error::operation_aborted);
      if (auto ec = interruption(self))
        return finish(self, ec);

      if (result_.status == status::want_input) {
        auto before = s.produced();
        result_ = op_.step(s);
        // A failure waits for everything queued: its alert may come from an earlier step
        // (a read that went on through buffered records met the bad one).
        if (s.produced() != before || result_.status == status::failed)
          target_ = s.produced();
      }
      bool finished = result_.status != status::want_input;
      if (s.sent < target_) {
        if (!(finished && op_.waits_for_flush(result_))) {
          // A flight this step answers with: sent now if the socket takes it (no hand-off
          // to an asynchronous write), else by the flusher while the step waits for input.
          if (s.writing || !send_at_once(s)) {
            if (flush_failed(s))
              continue; // reported at the top, rather than waiting for an answer
            start_flush(state_, asio::get_associated_executor(self, s.next_layer.get_executor()));
          }
        } else if (coalesces()) {
          return finish_coalesced(self);
        } else {
          if (flush_failed(s))
            return finish(self, s.flush_error);
          // The common case: the socket takes it all at once, with no hand-off. Otherwise
          // the flusher sends it, so that cancelling this wait leaves the records going.
          if (!s.writing && send_at_once(s))
            continue;
          start_flush(state_, asio::get_associated_executor(self, s.next_layer.get_executor()));
          if (!s.writing) // the send failed, or the stream is gone: nothing will wake us
            return finish(self, s.flush_error ? s.flush_error
                                              : make_error_code(asio::error::operation_aborted));
          return wait(self, s.write_done, awaiting::flush);
        }
      }
      if (finished)
        return finish(self, {});
      if (s.input_error) // poll's socket read failed on this input
        return finish(self, s.input_error);
      if (s.reading)
        return wait(self, s.read_done, awaiting::other_read);
      if (!read_at_once(s, io_error_))
        return start_read(self);
    }
  }

  // A write whose records may wait for the writes that follow it (coalesce_limit).
  bool coalesces() const {
    if constexpr (requires { Operation::coalesces(result_); })
      return state_->coalesce_writes && Operation::coalesces(result_) && !flush_failed(*state_) &&
             unsent(*state_) < coalesce_limit;
    else
      return false;
  }

  // Completes, then posts the flush: queued behind the completion, it runs after the
  // handler has had its chance to write again. On the stream's executor, not the handler's:
  // the caller takes the stream to be idle now, and a handler may run anywhere (use_future's
  // on a thread pool).
  template <class Self> void finish_coalesced(Self &self) {
    auto state = state_;
    finish(self, {});
    post_coalesced_flush(state, state->next_layer.get_executor());
  }

  // Why the operation must stop waiting, if it must.
  template <class Self> std::error_code interruption(Self &self) const {
    const auto &s = *state_;
    if (deadline_error_ && s.deadline_expired && s.deadline_generation == deadline_generation_)
      return deadline_error_;
    if (flush_failed(s)) // records were lost: the stream cannot go on
      return s.flush_error;
    if (self.get_cancellation_state().cancelled() != asio::cancellation_type::none)
      return asio::error::operation_aborted;
    return io_error_;
  }

  // A socket is read only once it is readable, so an idle connection holds no input
  // buffer (17 KiB each, at thousands of connections). Other next layers are read directly.
  template <class Self> void start_read(Self &self) {
    auto &s = *state_;
    s.reading = true;
    went_async_ = true;
    if constexpr (is_plain_socket<NextLayer>) {
      s.engine.release_input();
      awaiting_ = awaiting::socket_readable;
      s.next_layer.async_wait(asio::socket_base::wait_read, std::move(self));
    } else {
      awaiting_ = awaiting::socket_read;
      auto space = s.engine.prepare_input();
      s.next_layer.async_read_some(asio::buffer(space.data(), space.size()), std::move(self));
    }
  }

  template <class Self> void wait(Self &self, asio::steady_timer &timer, awaiting why) {
    awaiting_ = why;
    went_async_ = true;
    timer.async_wait(std::move(self));
  }

  template <class Self> void finish(Self &self, std::error_code io_error) {
    // The handler never runs inside the initiating call.
    if (!went_async_) {
      went_async_ = true;
      io_error_ = io_error;
      awaiting_ = awaiting::post;
      return asio::post(state_->next_layer.get_executor(), std::move(self));
    }
    auto &s = *state_;
    if (deadline_error_ && s.deadline_generation == deadline_generation_) {
      if (io_error && s.deadline_expired)
        io_error = deadline_error_;
      disarm_deadline(s);
    }
    auto [ec, n] = op_.finish(s, io_error, result_);
    auto keep_alive = std::move(state_); // the state outlives the handler's call
    Operation::complete(self, ec, n);
  }

  std::shared_ptr<stream_state<NextLayer>> state_;
  Operation op_;
  step_result result_{status::want_input, 0, {}}; // want_input until the step has finished
  std::uint64_t target_ = 0;                      // where this operation's records end
  std::error_code io_error_;
  std::error_code deadline_error_;
  std::uint64_t deadline_generation_ = 0;
  awaiting awaiting_ = awaiting::nothing;
  bool went_async_ = false;
};

/// Blocks until the socket is ready for `events` (POLLIN or POLLOUT) or the deadline passes
/// (false). Asio's blocking calls have no timeout, so blocking bounds are kept with poll().
/// An error counts as ready: the read or send itself reports it.
template <class Socket>
bool wait_ready(Socket &socket, short events, std::chrono::steady_clock::time_point deadline) {
  using namespace std::chrono;
  for (;;) {
    auto left = duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    if (left <= 0)
      return false;
    pollfd fd{socket.native_handle(), events, 0};
    int ready = ::poll(&fd, 1, static_cast<int>(std::min<long long>(left, 60000)));
    if (ready != 0 && !(ready < 0 && errno == EINTR))
      return true;
  }
}

/// Writes everything queued, blocking; with a deadline (plain sockets), gives up at it with
/// `late`. A socket write still in flight from an asynchronous operation owns the records
/// ahead of ours, so a blocking call cannot go first: it fails with in_progress.
template <class NextLayer>
std::error_code flush_sync(stream_state<NextLayer> &s,
                           std::optional<std::chrono::steady_clock::time_point> deadline = {},
                           std::error_code late = {}) {
  if (s.writing)
    return asio::error::in_progress;
  if (flush_failed(s))
    return s.flush_error;
  if constexpr (is_plain_socket<NextLayer>) {
    if (deadline) {
      while (!send_at_once(s)) {
        if (flush_failed(s))
          return s.flush_error;
        if (!wait_ready(s.next_layer, POLLOUT, *deadline))
          return late;
      }
      return {};
    }
  }
  std::error_code ec;
  while (has_output(s) && !ec) {
    if (s.write_buffer.empty()) {
      s.engine.swap_output(s.write_buffer);
      s.taken += s.write_buffer.size();
    }
    consume_written(s, asio::write(s.next_layer, asio::buffer(s.write_buffer), ec));
  }
  return ec;
}

/// The same loop, blocking. No asynchronous operation may be pending, nor the records of a
/// cancelled asynchronous write still be on their way (asio::error::in_progress).
template <class NextLayer, class Operation>
std::pair<std::error_code, std::size_t> run_sync(stream_state<NextLayer> &s, Operation op) {
  step_result result{status::want_input, 0, {}};
  if (s.writing)
    return op.finish(s, asio::error::in_progress, result);
  auto bound = op.deadline(s);
  auto deadline =
      std::chrono::steady_clock::now() + (bound ? bound->timeout : decltype(bound->timeout){});
  std::optional<std::chrono::steady_clock::time_point> flush_deadline;
  if (bound)
    flush_deadline = deadline;
  for (;;) {
    result = op.step(s);
    // Blocking calls have no other operation to share the socket with: send at once.
    if (auto ec = flush_sync(s, flush_deadline, bound ? bound->error : std::error_code{})) {
      std::error_code ignored;
      if (bound && ec == bound->error && bound->close_socket)
        s.next_layer.lowest_layer().close(ignored);
      return op.finish(s, ec, result);
    }
    if (result.status != status::want_input)
      return op.finish(s, {}, result);
    if (s.input_error)
      return op.finish(s, s.input_error, result);
    if (bound && !wait_ready(s.next_layer.lowest_layer(), POLLIN, deadline)) {
      std::error_code ignored;
      if (bound->close_socket)
        s.next_layer.lowest_layer().close(ignored);
      return op.finish(s, bound->error, result);
    }
    std::error_code ec;
    auto space = s.engine.prepare_input();
    std::size_t n = s.next_layer.read_some(asio::buffer(space.data(), space.size()), ec);
    if (ec == asio::error::eof)
      s.engine.put_eof();
    else if (ec)
      return op.finish(s, ec, result);
    s.engine.commit_input(n);
  }
}

} // namespace tlsio::detail
