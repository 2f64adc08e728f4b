#include "client_hello.hpp"

namespace tlsio::detail {
namespace {

// Reads big-endian fields from a byte range; a read past the end marks it broken.
class reader {
public:
  explicit reader(std::span<const std::byte> bytes) : bytes_(bytes) {}

  std::size_t number(std::size_t width) {
    std::size_t value = 0;
    for (auto b : take(width))
      value = (value << 8) | std::to_integer<std::size_t>(b);
    return value;
  }
  std::span<const std::byte> take(std::size_t n) {
    if (n > bytes_.size() - pos_) {
      broken_ = true;
      pos_ = bytes_.size();
      return {};
    }
    pos_ += n;
    return bytes_.subspan(pos_ - n, n);
  }
  /// A length-prefixed part (the length field `width` bytes long).
  reader part(std::size_t width) {
    auto n = number(width);
    return reader(take(n));
  }
  bool more() const { return pos_ < bytes_.size() && !broken_; }
  bool broken() const { return broken_; }

private:
  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
  bool broken_ = false;
};

constexpr std::size_t handshake_record = 22;
constexpr std::size_t client_hello = 1;
constexpr std::size_t alpn_extension = 16;

std::vector<std::string> protocol_names(reader list) {
  std::vector<std::string> names;
  while (list.more()) {
    auto name = list.take(list.number(1));
    names.emplace_back(reinterpret_cast<const char *>(name.data()), name.size());
  }
  return names;
}

} // namespace

std::optional<std::vector<std::string>> offered_alpn(std::span<const std::byte> record) {
  reader r(record);
  if (r.number(1) != handshake_record)
    return std::nullopt;
  r.take(2); // record version
  reader body = r.part(2);
  if (body.number(1) != client_hello)
    return std::nullopt;
  reader hello = body.part(3);
  hello.take(2 + 32); // version, random
  hello.part(1);      // session id
  hello.part(2);      // cipher suites
  hello.part(1);      // compression methods
  if (hello.broken())
    return std::nullopt;
  reader extensions = hello.part(2); // absent: an empty part
  while (extensions.more()) {
    std::size_t type = extensions.number(2);
    reader data = extensions.part(2);
    if (type == alpn_extension)
      return protocol_names(data.part(2));
  }
  if (extensions.broken())
    return std::nullopt;
  return std::vector<std::string>{};
}

} // namespace tlsio::detail
