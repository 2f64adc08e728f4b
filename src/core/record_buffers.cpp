#include "record_buffers.hpp"

#include "../record.hpp"

#include <algorithm>
#include <cstring>

namespace tlsio::detail {

std::span<std::byte> record_input::prepare(std::size_t min_size) {
  if (begin_ == end_)
    begin_ = end_ = whole_records_ = 0;
  if (buffer_.size() - end_ < min_size && begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.size() - end_ < min_size)
    buffer_.resize(end_ + min_size);
  return {buffer_.data() + end_, buffer_.size() - end_};
}

void record_input::release() noexcept {
  if (begin_ != end_)
    return;
  begin_ = end_ = whole_records_ = 0;
  decltype(buffer_)().swap(buffer_);
}

void record_input::put(std::span<const std::byte> data) {
  if (data.empty())
    return;
  auto space = prepare(data.size());
  std::memcpy(space.data(), data.data(), data.size());
  commit(data.size());
}

std::size_t record_input::readable() noexcept {
  std::size_t available = end_ - begin_;
  if (ended_)
    return available;
  for (;;) {
    auto next =
        first_record({buffer_.data() + begin_ + whole_records_, available - whole_records_});
    switch (next.state) {
    case record_state::complete:
      whole_records_ += next.size;
      continue;
    case record_state::invalid:
      return whole_records_ + next.size;
    default:
      return whole_records_;
    }
  }
}

std::size_t record_input::take(std::byte *out, std::size_t n) noexcept {
  n = std::min(n, readable());
  if (n == 0)
    return 0;
  std::memcpy(out, buffer_.data() + begin_, n);
  // No rewind here: a socket read may be filling the space after end_ right now.
  begin_ += n;
  whole_records_ -= std::min(n, whole_records_);
  return n;
}

void record_output::consume(std::size_t n) noexcept {
  begin_ += n;
  if (begin_ >= bytes_.size()) {
    bytes_.clear();
    begin_ = 0;
  }
}

void record_output::swap(std::vector<std::byte> &buffer) {
  if (begin_ > 0) {
    bytes_.erase(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(begin_));
    begin_ = 0;
  }
  buffer.clear();
  bytes_.swap(buffer);
}

} // namespace tlsio::detail
