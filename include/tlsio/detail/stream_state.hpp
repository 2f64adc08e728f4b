// The state one tlsio::stream shares with its pending operations (internal).
#pragma once

#include <tlsio/context.hpp>
#include <tlsio/engine.hpp>

#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <utility>
#include <vector>

namespace tlsio::detail {

// Operations hold this through a shared_ptr, so destroying the stream while they are
// pending frees nothing they still use: they wake, see `destroyed`, and complete.
template <class NextLayer> struct stream_state {
  template <class... Args>
  explicit stream_state(const context &ctx, Args &&...args)
      : next_layer(std::forward<Args>(args)...), engine(ctx),
        handshake_timeout(ctx.handshake_timeout()), read_done(next_layer.get_executor()),
        write_done(next_layer.get_executor()), deadline(next_layer.get_executor()) {
    read_done.expires_at(asio::steady_timer::time_point::max());
    write_done.expires_at(asio::steady_timer::time_point::max());
  }

  NextLayer next_layer;
  tlsio::engine engine;
  std::chrono::milliseconds handshake_timeout;
  std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(3)};

  // At most one socket read and one socket write at a time, so that one reader and one
  // writer can share the stream. An operation that needs the busy direction waits on the
  // matching timer, which the owner cancels when its socket operation ends.
  bool reading = false;
  bool writing = false;
  asio::steady_timer read_done;
  asio::steady_timer write_done;
  std::vector<std::byte> write_buffer;  // records on their way to the socket
  std::vector<std::byte> gather_buffer; // small gather writes, joined into one record

  // Bounds a handshake or a shutdown; when it fires, the socket's operations are cancelled.
  asio::steady_timer deadline;
  bool deadline_expired = false;

  bool closed = false;    // our shutdown has completed
  bool destroyed = false; // the stream object is gone
};

} // namespace tlsio::detail
