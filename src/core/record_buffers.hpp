// The byte queues between a TLS backend and the socket, the same for every backend (internal).
//
// record_input holds what the socket delivered and lets a backend take whole records only,
// so that a record is either all there or untouched: read readiness, poll and the pending
// input count then mean the same on every backend. record_output collects the records a
// backend produced until the socket takes them.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace tlsio::detail {

/// std::allocator that leaves bytes uninitialized on resize: every input byte is written by
/// a socket read before anything reads it.
template <class T> struct uninitialized_allocator : std::allocator<T> {
  template <class U> struct rebind { using other = uninitialized_allocator<U>; };
  uninitialized_allocator() = default;
  template <class U> uninitialized_allocator(const uninitialized_allocator<U> &) noexcept {}
  template <class U> void construct(U *p) noexcept { ::new (static_cast<void *>(p)) U; }
  template <class U, class... Args> void construct(U *p, Args &&...args) {
    ::new (static_cast<void *>(p)) U(std::forward<Args>(args)...);
  }
};

class record_input {
public:
  /// At least min_size bytes of space after what is held, for a socket read to fill.
  std::span<std::byte> prepare(std::size_t min_size);
  /// The first n bytes of the space prepare() gave now hold input.
  void commit(std::size_t n) noexcept { end_ += n; }
  /// Frees the buffer if it holds nothing: an idle connection keeps no 17 KiB buffer.
  void release() noexcept;
  void put(std::span<const std::byte> data);
  /// The transport has ended: what is held is all there will be.
  void put_eof() noexcept { ended_ = true; }
  bool ended() const noexcept { return ended_; }
  /// Bytes held and not yet taken.
  std::size_t size() const noexcept { return end_ - begin_; }

  /// How much a backend may take: whole records; everything once the input has ended (a
  /// cut record then shows as truncation); the header of a record that cannot be taken (the
  /// backend then rejects it with its own error).
  std::size_t readable() noexcept;
  /// Moves up to n readable bytes to out; returns how many.
  std::size_t take(std::byte *out, std::size_t n) noexcept;

private:
  std::vector<std::byte, uninitialized_allocator<std::byte>> buffer_;
  std::size_t begin_ = 0, end_ = 0;
  std::size_t whole_records_ = 0; // from begin_ on, known to be whole records (scanned once)
  bool ended_ = false;
};

class record_output {
public:
  void append(const std::byte *data, std::size_t n) { bytes_.insert(bytes_.end(), data, data + n); }
  std::span<const std::byte> pending() const noexcept {
    return {bytes_.data() + begin_, bytes_.size() - begin_};
  }
  void consume(std::size_t n) noexcept;
  /// Hands everything pending over in `buffer` (its old contents dropped), taking its
  /// storage in exchange: no copy.
  void swap(std::vector<std::byte> &buffer);

private:
  std::vector<std::byte> bytes_;
  std::size_t begin_ = 0;
};

} // namespace tlsio::detail
