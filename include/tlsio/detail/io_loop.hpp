// The one I/O loop that drives the engine over the next layer (internal).
//
// Every stream operation is this loop with its own engine step: run the step; if the engine
// has output, write it to the next layer; if the step wants input, read from the next layer
// into the engine; repeat until the step is done, then complete. The asynchronous loop is a
// composed operation; the synchronous one is the same loop with blocking calls.
#pragma once

#include <tlsio/detail/stream_state.hpp>
#include <tlsio/error.hpp>

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

template <class NextLayer>
void arm_deadline(const std::shared_ptr<stream_state<NextLayer>> &s, const op_deadline &d) {
  s->deadline_expired = false;
  s->deadline.expires_after(d.timeout);
  s->deadline.async_wait([weak = std::weak_ptr(s), close = d.close_socket](std::error_code ec) {
    auto state = weak.lock();
    if (ec || !state || state->destroyed)
      return;
    state->deadline_expired = true;
    std::error_code ignored;
    if (close)
      state->next_layer.lowest_layer().close(ignored);
    else
      state->next_layer.lowest_layer().cancel(ignored);
  });
}

/// Output waits in the engine, or in write_buffer if a cancelled write left part unsent
/// (which must go first: the peer has the start of that record).
template <class NextLayer> bool has_output(const stream_state<NextLayer> &s) {
  return !s.write_buffer.empty() || !s.engine.pending_output().empty();
}

template <class NextLayer> void consume_written(stream_state<NextLayer> &s, std::size_t n) {
  if (n >= s.write_buffer.size())
    s.write_buffer.clear();
  else
    s.write_buffer.erase(s.write_buffer.begin(),
                         s.write_buffer.begin() + static_cast<std::ptrdiff_t>(n));
}

/// A TCP socket used directly as the next layer: it can be waited on and read without
/// blocking, so reads need no buffer while they wait.
template <class NextLayer>
constexpr bool is_plain_socket =
    std::is_same_v<NextLayer, asio::basic_stream_socket<asio::ip::tcp, asio::any_io_executor>>;

template <class NextLayer, class Operation> class io_op {
public:
  io_op(std::shared_ptr<stream_state<NextLayer>> state, Operation op)
      : state_(std::move(state)), op_(std::move(op)) {}

  template <class Self> void operator()(Self &self, std::error_code ec = {}, std::size_t n = 0) {
    auto &s = *state_;
    switch (std::exchange(awaiting_, awaiting::nothing)) {
    case awaiting::socket_write:
      s.writing = false;
      s.write_done.cancel();
      consume_written(s, n);
      if (ec)
        io_error_ = ec;
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
    case awaiting::nothing: // the first call
      if (auto d = op_.deadline(s)) {
        arm_deadline(state_, *d);
        deadline_error_ = d->error;
      }
      break;
    case awaiting::other_io: // woken by the operation that owned the socket direction
    case awaiting::post:
      break;
    }
    run(self);
  }

private:
  enum class awaiting { nothing, socket_write, socket_read, socket_readable, other_io, post };

  template <class Self> void run(Self &self) {
    auto &s = *state_;
    for (;;) {
      if (s.destroyed)
        return finish(self, asio::error::operation_aborted);
      if (deadline_error_ && s.deadline_expired)
        return finish(self, deadline_error_);
      if (io_error_)
        return finish(self, io_error_);
      if (self.get_cancellation_state().cancelled() != asio::cancellation_type::none)
        return finish(self, asio::error::operation_aborted);

      if (!step_finished_) {
        result_ = op_.step(s);
        step_finished_ = result_.status != status::want_input;
      }
      // Output first: a handshake flight before waiting for the answer, an alert before
      // reporting the failure it explains.
      if (has_output(s))
        return start_write(self);
      if (step_finished_)
        return finish(self, {});
      if (s.reading)
        return wait(self, s.read_done);
      if (!read_at_once(s))
        return start_read(self);
    }
  }

  template <class Self> void start_write(Self &self) {
    auto &s = *state_;
    if (s.writing)
      return wait(self, s.write_done);
    if (s.write_buffer.empty())
      s.engine.swap_output(s.write_buffer);
    s.writing = true;
    awaiting_ = awaiting::socket_write;
    went_async_ = true;
    asio::async_write(s.next_layer, asio::buffer(s.write_buffer), std::move(self));
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

  // For a plain socket: takes what the kernel already holds without waiting. False if
  // there was nothing yet.
  bool read_at_once(stream_state<NextLayer> &s) {
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
        io_error_ = std::error_code(errno, asio::error::get_system_category());
      return true;
    } else {
      return false;
    }
  }

  template <class Self> void wait(Self &self, asio::steady_timer &timer) {
    awaiting_ = awaiting::other_io;
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
    if (deadline_error_) {
      state_->deadline.cancel();
      if (io_error == asio::error::operation_aborted && state_->deadline_expired)
        io_error = deadline_error_;
    }
    auto [ec, n] = op_.finish(*state_, io_error, result_);
    auto keep_alive = std::move(state_); // the state outlives the handler's call
    Operation::complete(self, ec, n);
  }

  std::shared_ptr<stream_state<NextLayer>> state_;
  Operation op_;
  step_result result_;
  std::error_code io_error_;
  std::error_code deadline_error_;
  awaiting awaiting_ = awaiting::nothing;
  bool step_finished_ = false;
  bool went_async_ = false;
};

/// Blocks until the socket is readable or the deadline passes (false). Asio's blocking
/// reads have no timeout, so the bound of a blocking handshake is kept with poll().
template <class Socket>
bool wait_readable(Socket &socket, std::chrono::steady_clock::time_point deadline) {
  using namespace std::chrono;
  for (;;) {
    auto left = duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    if (left <= 0)
      return false;
    pollfd fd{socket.native_handle(), POLLIN, 0};
    int ready = ::poll(&fd, 1, static_cast<int>(std::min<long long>(left, 60000)));
    if (ready > 0)
      return true;
    if (ready < 0 && errno != EINTR)
      return true; // let the read itself report the error
  }
}

/// The same loop, blocking. Returns the operation's result.
template <class NextLayer, class Operation>
std::pair<std::error_code, std::size_t> run_sync(stream_state<NextLayer> &s, Operation op) {
  step_result result;
  bool step_finished = false;
  auto bound = op.deadline(s);
  auto deadline =
      std::chrono::steady_clock::now() + (bound ? bound->timeout : decltype(bound->timeout){});
  for (;;) {
    if (!step_finished) {
      result = op.step(s);
      step_finished = result.status != status::want_input;
    }
    std::error_code ec;
    if (has_output(s)) {
      if (s.write_buffer.empty())
        s.engine.swap_output(s.write_buffer);
      consume_written(s, asio::write(s.next_layer, asio::buffer(s.write_buffer), ec));
    } else if (!step_finished) {
      if (bound && !wait_readable(s.next_layer.lowest_layer(), deadline)) {
        if (bound->close_socket)
          s.next_layer.lowest_layer().close(ec);
        return op.finish(s, bound->error, result);
      }
      auto space = s.engine.prepare_input();
      std::size_t n = s.next_layer.read_some(asio::buffer(space.data(), space.size()), ec);
      if (ec == asio::error::eof) {
        s.engine.put_eof();
        ec.clear();
      }
      s.engine.commit_input(n);
    } else {
      return op.finish(s, {}, result);
    }
    if (ec)
      return op.finish(s, ec, result);
  }
}

} // namespace tlsio::detail
