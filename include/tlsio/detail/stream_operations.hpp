// The engine step and the completion of each stream operation (internal).
//
// Each operation says which engine step the I/O loop runs, what bounds it, and how the
// step's result becomes the operation's completion; io_loop.hpp does the rest.
#pragma once

#include <tlsio/detail/io_loop.hpp>

#include <asio/buffer.hpp>
#include <asio/cancellation_state.hpp>

#include <algorithm>
#include <cstring>
#include <span>
#include <vector>

namespace tlsio::detail {

// Cancellation: a handshake or a shutdown can be cancelled (terminal or partial: the engine
// keeps its state, and calling the operation again goes on from there); a write partially
// (its records are already queued, so it cannot be undone); a read totally (nothing is
// taken from the stream until a read completes with it).

/// A step that failed in TLS is the reason, not a socket error that came after it (such as
/// the failure to send its alert to a peer that had gone).
inline std::error_code first_error(std::error_code io_error, const step_result &r) {
  if (r.status == status::failed)
    return r.error;
  return io_error ? io_error : r.error;
}

struct handshake_operation {
  static auto cancellation_filter() { return asio::enable_partial_cancellation(); }
  // The last flight is on its way before the handshake reports success or failure.
  static bool waits_for_flush(const step_result &) { return true; }
  template <class S> step_result step(S &s) { return s.engine.handshake(); }
  template <class S> std::optional<op_deadline> deadline(S &s) {
    if (s.handshake_timeout.count() <= 0)
      return std::nullopt;
    return op_deadline{s.handshake_timeout, error::handshake_timeout, false};
  }
  template <class S>
  std::pair<std::error_code, std::size_t> finish(S &, std::error_code io_error,
                                                 const step_result &r) {
    return {first_error(io_error, r), 0};
  }
  template <class Self> static void complete(Self &self, std::error_code ec, std::size_t) {
    self.complete(ec);
  }
};

struct shutdown_operation {
  static auto cancellation_filter() { return asio::enable_partial_cancellation(); }
  static bool waits_for_flush(const step_result &) { return true; }
  template <class S> step_result step(S &s) { return s.engine.shutdown(); }
  template <class S> std::optional<op_deadline> deadline(S &s) {
    if (s.shutdown_timeout.count() <= 0) // as for the handshake: no bound
      return std::nullopt;
    return op_deadline{s.shutdown_timeout, error::timed_out, true};
  }
  template <class S>
  std::pair<std::error_code, std::size_t> finish(S &s, std::error_code io_error,
                                                 const step_result &r) {
    if (s.engine.handshake_done())
      s.closed = true;
    return {first_error(io_error, r), 0};
  }
  template <class Self> static void complete(Self &self, std::error_code ec, std::size_t) {
    self.complete(ec);
  }
};

/// Completion shared by read and write: (error, bytes).
struct transfer_completion {
  template <class Self> static void complete(Self &self, std::error_code ec, std::size_t n) {
    self.complete(ec, n);
  }
  template <class S> std::optional<op_deadline> deadline(S &) { return std::nullopt; }
};

struct read_operation : transfer_completion {
  std::span<std::byte> out;

  static auto cancellation_filter() { return asio::enable_total_cancellation(); }
  // Data and end of stream are delivered at once (an answer the read queued, such as a
  // warning alert, follows through the flusher); a failure waits until its alert is sent.
  static bool waits_for_flush(const step_result &r) { return r.status == status::failed; }

  template <class S> step_result step(S &s) {
    if (s.closed)
      return {status::failed, 0, error::not_connected};
    return s.engine.read(out);
  }
  template <class S>
  std::pair<std::error_code, std::size_t> finish(S &, std::error_code io_error,
                                                 const step_result &r) {
    // Once the step has finished, its result stands: plaintext already in the caller's
    // buffer is never lost to a cancellation or a socket error that came after it.
    if (r.status == status::want_input)
      return {io_error ? io_error : make_error_code(asio::error::operation_aborted), 0};
    if (r.status == status::closed)
      return {asio::error::eof, 0}; // a clean end, as Asio's algorithms expect it
    return {r.error, r.bytes};
  }
};

struct write_operation : transfer_completion {
  std::span<const std::byte> direct; // the caller's bytes, when one buffer is written
  std::vector<std::byte> gathered;   // small buffers joined: the operation's own copy, so
                                     // that operations started later never share one

  std::span<const std::byte> data() const {
    return gathered.empty() ? direct : std::span<const std::byte>(gathered);
  }

  static auto cancellation_filter() { return asio::enable_partial_cancellation(); }
  static bool waits_for_flush(const step_result &) { return true; }
  // Once its records are queued, a write completes; they leave with the writes that
  // follow it at once (io_loop.hpp, coalesce_limit). A failed write waits for its alert.
  static bool coalesces(const step_result &r) { return r.status == status::done; }

  template <class S> step_result step(S &s) {
    if (s.closed)
      return {status::failed, 0, error::not_connected};
    return s.engine.write(data());
  }
  template <class S>
  std::pair<std::error_code, std::size_t> finish(S &, std::error_code io_error,
                                                 const step_result &r) {
    // The data was encrypted at the start: if the wait for the socket was cancelled, its
    // records stay queued and the flusher still sends them, ahead of anything later.
    return {first_error(io_error, r), r.status == status::want_input ? 0 : r.bytes};
  }
};

/// The first non-empty buffer of a sequence: a read fills one buffer, as Asio's streams do.
template <class Buffers> std::span<std::byte> first_buffer(const Buffers &buffers) {
  for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
       ++it) {
    asio::mutable_buffer b(*it);
    if (b.size() > 0)
      return {static_cast<std::byte *>(b.data()), b.size()};
  }
  return {};
}

/// What one write takes from a sequence: the first buffer alone if it is large or alone;
/// otherwise small buffers are copied together (up to one record) so they share a record.
template <class Buffers>
std::span<const std::byte> gather(const Buffers &buffers, std::vector<std::byte> &scratch,
                                  std::size_t limit) {
  std::span<const std::byte> first;
  std::size_t count = 0;
  for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
       ++it) {
    asio::const_buffer b(*it);
    if (b.size() == 0)
      continue;
    if (count++ == 0)
      first = {static_cast<const std::byte *>(b.data()), b.size()};
  }
  if (count <= 1 || first.size() >= engine::max_record_payload)
    return first.subspan(0, std::min(first.size(), limit));
  scratch.clear();
  for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
       ++it) {
    asio::const_buffer b(*it);
    std::size_t n = std::min(b.size(), engine::max_record_payload - scratch.size());
    auto p = static_cast<const std::byte *>(b.data());
    scratch.insert(scratch.end(), p, p + n);
    if (scratch.size() == engine::max_record_payload)
      break;
  }
  return scratch;
}

} // namespace tlsio::detail
