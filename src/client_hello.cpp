#include "client_hello.hpp"

#include <algorithm>

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
  std::size_t left() const { return bytes_.size() - pos_; }
  bool broken() const { return broken_; }

private:
  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
  bool broken_ = false;
};

constexpr std::size_t handshake_record = 22;
constexpr std::size_t client_hello = 1;
constexpr std::size_t alpn_extension = 16;
constexpr std::size_t ec_point_formats_extension = 11;
constexpr unsigned char unexpected_message = 10;
constexpr unsigned char decode_error = 50;
constexpr unsigned char illegal_parameter = 47;
constexpr std::byte null_compression{0};
constexpr std::byte uncompressed_point{0};

bool holds(std::span<const std::byte> list, std::byte value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// The handshake message in a record: its type, its body, and whether the record holds exactly
// it. Nothing for a record of another type.
struct handshake_message {
  std::size_t type;
  reader body;
  bool exact;
};

std::optional<handshake_message> read_message(std::span<const std::byte> record) {
  reader r(record);
  if (r.number(1) != handshake_record)
    return std::nullopt;
  r.take(2); // record version
  reader fragment = r.part(2);
  std::size_t type = fragment.number(1);
  reader body = fragment.part(3);
  return handshake_message{type, body, !fragment.broken() && !fragment.more()};
}

// The parts of a ClientHello whose values are checked once all of it has parsed.
struct hello_values {
  std::span<const std::byte> compressions;
  std::optional<std::span<const std::byte>> point_formats;
};

hello_problem malformed(const char *what) {
  return {decode_error, std::string("the ClientHello does not parse: ") + what};
}

// Every extension's framing, and the inside of those whose values are checked.
std::optional<hello_problem> read_extensions(reader extensions, hello_values &values) {
  while (extensions.more()) {
    std::size_t type = extensions.number(2);
    reader data = extensions.part(2);
    if (extensions.broken())
      break;
    if (type == ec_point_formats_extension) {
      auto formats = data.take(data.number(1));
      // RFC 8422 §5.1.2: ECPointFormat ec_point_format_list<1..2^8-1>
      if (data.broken() || data.more() || formats.empty())
        return malformed("its ec_point_formats list is empty or not its extension's length");
      values.point_formats = formats;
    }
  }
  if (extensions.broken())
    return malformed("an extension runs past the extensions' length");
  return std::nullopt;
}

std::optional<hello_problem> read_hello(reader hello, hello_values &values) {
  hello.take(2 + 32); // version, random
  auto session_id = hello.take(hello.number(1));
  auto suites = hello.take(hello.number(2));
  values.compressions = hello.take(hello.number(1));
  if (hello.broken())
    return malformed("a list runs past its end");
  if (session_id.size() > 32 || suites.size() < 2 || suites.size() % 2 != 0 ||
      values.compressions.empty())
    return malformed("a list has a length it may not have");
  if (!hello.more())
    return std::nullopt; // no extensions
  reader extensions = hello.part(2);
  if (hello.broken() || hello.more())
    return malformed("its extensions' length is not what remains of it");
  return read_extensions(extensions, values);
}

std::vector<std::string> protocol_names(reader list) {
  std::vector<std::string> names;
  while (list.more()) {
    auto name = list.take(list.number(1));
    names.emplace_back(reinterpret_cast<const char *>(name.data()), name.size());
  }
  return names;
}

} // namespace

std::optional<hello_problem> client_hello_problem(std::span<const std::byte> record) {
  auto message = read_message(record);
  if (!message)
    return std::nullopt;
  if (message->type != client_hello)
    return hello_problem{unexpected_message, "the client's first handshake message is not a "
                                             "ClientHello"};
  if (!message->exact)
    return malformed("its length is not the record's");
  hello_values values;
  if (auto problem = read_hello(message->body, values))
    return problem;
  // RFC 5246 §7.4.1.2: null compression MUST be offered; Mbed TLS 2.28 ignores its absence.
  if (!holds(values.compressions, null_compression))
    return hello_problem{illegal_parameter, "the ClientHello does not offer null compression"};
  // RFC 8422 §5.1.2: a client that sends the extension MUST include uncompressed.
  if (values.point_formats && !holds(*values.point_formats, uncompressed_point))
    return hello_problem{illegal_parameter,
                         "the ClientHello's ec_point_formats lack the uncompressed format"};
  return std::nullopt;
}

std::optional<std::vector<std::string>> offered_alpn(std::span<const std::byte> record) {
  auto message = read_message(record);
  if (!message || message->type != client_hello)
    return std::nullopt;
  reader hello = message->body;
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
