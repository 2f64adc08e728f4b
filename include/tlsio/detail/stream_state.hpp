// The state one tlsio::stream shares with its pending operations (internal).
#pragma once

#include <tlsio/context.hpp>
#include <tlsio/engine.hpp>

#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <system_error>
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

  // Input: at most one socket read at a time, by whichever operation (or poll) needs input
  // first; the others wait on read_done, which the reader cancels when its read ends.
  bool reading = false;
  asio::steady_timer read_done;
  std::error_code input_error; // a socket read error poll met, for the next read to report

  // Output: records leave through one flusher that any operation can start and that no
  // operation owns, so a read never waits behind a write it did not ask for. Operations
  // that need their own records sent wait on write_done, cancelled after each socket write.
  bool writing = false;
  asio::steady_timer write_done;
  std::vector<std::byte> write_buffer; // records on their way to the socket
  std::uint64_t taken = 0;             // bytes ever moved from the engine to write_buffer
  std::uint64_t sent = 0;              // bytes ever taken by the socket
  std::error_code flush_error;         // how the last socket write failed, if it did
  // With coalesce_writes, a write that completed left its records for a flush posted after
  // its handler, so that the writes that follow at once share its socket write.
  bool coalesce_writes = false;
  bool flush_posted = false;
  std::uint64_t flush_posted_at = 0; // produced() when it was (re)posted

  /// Bytes ever produced by the engine: the position an operation's records must reach.
  std::uint64_t produced() const noexcept { return taken + engine.pending_output().size(); }

  // Bounds a handshake or a shutdown; when it fires, the socket's operations are cancelled.
  // The generation tells an expiry from one that belongs to an earlier, finished operation.
  asio::steady_timer deadline;
  std::uint64_t deadline_generation = 0;
  bool deadline_expired = false;

  bool closed = false;    // our shutdown has completed
  bool destroyed = false; // the stream object is gone
};

} // namespace tlsio::detail
