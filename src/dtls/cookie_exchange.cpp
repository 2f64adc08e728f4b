#include "cookie_exchange.hpp"

#include <algorithm>

namespace tlsio::dtls::detail {
namespace {

constexpr std::size_t record_header = 13, handshake_header = 12;
constexpr std::byte handshake{22}, client_hello{1}, hello_verify_request_type{3};
constexpr std::byte dtls_major{254}, dtls10_minor{255};

std::size_t read16(std::span<const std::byte> b, std::size_t at) {
  return std::to_integer<std::size_t>(b[at]) << 8 | std::to_integer<std::size_t>(b[at + 1]);
}
std::size_t read24(std::span<const std::byte> b, std::size_t at) {
  return std::to_integer<std::size_t>(b[at]) << 16 | read16(b, at + 1);
}
void write16(std::vector<std::byte> &out, std::size_t v) {
  out.push_back(std::byte(v >> 8 & 0xff));
  out.push_back(std::byte(v & 0xff));
}
void write24(std::vector<std::byte> &out, std::size_t v) {
  out.push_back(std::byte(v >> 16 & 0xff));
  write16(out, v);
}

} // namespace

std::optional<client_hello_view> parse_client_hello(std::span<const std::byte> d) {
  if (d.size() < record_header + handshake_header || d[0] != handshake || d[1] != dtls_major ||
      d[3] != std::byte{0} || d[4] != std::byte{0})
    return std::nullopt;
  std::size_t record_length = read16(d, 11);
  if (record_length != d.size() - record_header) // one record, whole
    return std::nullopt;
  auto message = d.subspan(record_header);
  std::size_t length = read24(message, 1);
  if (message[0] != client_hello || read24(message, 6) != 0 || read24(message, 9) != length ||
      length != message.size() - handshake_header) // unfragmented
    return std::nullopt;
  auto body = message.subspan(handshake_header);
  // client_version, random, session_id, cookie
  std::size_t at = 2 + 32;
  if (body.size() < at + 1 || body[0] != dtls_major)
    return std::nullopt;
  std::size_t session_id = std::to_integer<std::size_t>(body[at]);
  at += 1 + session_id;
  if (session_id > 32 || body.size() < at + 1)
    return std::nullopt;
  std::size_t cookie = std::to_integer<std::size_t>(body[at]);
  if (body.size() < at + 1 + cookie)
    return std::nullopt;
  return client_hello_view{d.subspan<5, 6>(), message.subspan<4, 2>(), body.subspan<2, 32>(),
                           body.subspan(at + 1, cookie)};
}

std::vector<std::byte> hello_verify_request(const client_hello_view &hello,
                                            std::span<const std::byte> cookie) {
  cookie = cookie.first(std::min<std::size_t>(cookie.size(), 255));
  const std::size_t body = 2 + 1 + cookie.size();
  std::vector<std::byte> out;
  out.reserve(record_header + handshake_header + body);
  out.insert(out.end(), {handshake, dtls_major, dtls10_minor, std::byte{0}, std::byte{0}});
  out.insert(out.end(), hello.record_sequence.begin(), hello.record_sequence.end());
  write16(out, handshake_header + body);
  out.push_back(hello_verify_request_type);
  write24(out, body);
  out.insert(out.end(), hello.message_seq.begin(), hello.message_seq.end());
  write24(out, 0); // fragment_offset
  write24(out, body);
  out.insert(out.end(), {dtls_major, dtls10_minor, std::byte(cookie.size())});
  out.insert(out.end(), cookie.begin(), cookie.end());
  return out;
}

} // namespace tlsio::dtls::detail
