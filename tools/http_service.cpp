// The HTTP/1.x responder of tlsio-server --http (see http_service.hpp).
#include "http_service.hpp"

#include "command_line.hpp"

#include <tlsio/compat.hpp>

#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <ctime>
#include <string>
#include <string_view>
#include <utility>

namespace tool {
namespace {

using asio::awaitable;
constexpr auto as_tuple = tlsio::compat::as_tuple(asio::use_awaitable);

constexpr std::size_t max_request_head = 64 * 1024;

struct http_request {
  bool valid = false;
  bool head_only = false; // HEAD: no body in the response
  bool keep_alive = false;
  bool framed = true; // false: a body we cannot find the end of (chunked)
  std::size_t body_size = 0;
};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool has_token(std::string_view list, std::string_view token) {
  for (const auto &item : split_list(lower(list))) {
    auto first = item.find_first_not_of(' ');
    auto last = item.find_last_not_of(' ');
    if (first != std::string::npos && item.substr(first, last - first + 1) == token)
      return true;
  }
  return false;
}

// The next line of `head` from `pos` without its end, which is CRLF or, as RFC 9112 §2.2 lets
// a recipient accept, a bare LF; `pos` moves past the line end.
std::string_view next_line(std::string_view head, std::size_t &pos) {
  auto end = std::min(head.find('\n', pos), head.size());
  auto line = head.substr(pos, end - pos);
  pos = end + 1;
  if (line.ends_with('\r'))
    line.remove_suffix(1);
  return line;
}

// The request line and headers, up to and including the blank line.
http_request parse_request(std::string_view head) {
  http_request r;
  std::size_t pos = 0;
  auto request_line = next_line(head, pos);
  auto method = request_line.substr(0, request_line.find(' '));
  auto version = request_line.substr(request_line.rfind(' ') + 1);
  if (method.empty() || (version != "HTTP/1.1" && version != "HTTP/1.0"))
    return r;
  r.valid = true;
  r.head_only = method == "HEAD";
  bool close = false, keep_alive = false;
  while (pos < head.size()) {
    auto line = next_line(head, pos);
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      continue;
    auto name = lower(line.substr(0, colon));
    auto value = line.substr(colon + 1);
    value.remove_prefix(std::min(value.find_first_not_of(" \t"), value.size()));
    if (name == "connection") {
      close = close || has_token(value, "close");
      keep_alive = keep_alive || has_token(value, "keep-alive");
    } else if (name == "content-length") {
      auto [end_ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), r.body_size);
      r.framed = r.framed && ec == std::errc{};
    } else if (name == "transfer-encoding") {
      r.framed = false;
    }
  }
  // HTTP/1.1 keeps the connection by default, HTTP/1.0 only when asked to.
  r.keep_alive = r.framed && !close && (version == "HTTP/1.1" || keep_alive);
  return r;
}

// The size of the request head at the start of `buffer` (through its blank line), or 0
// while the blank line has not arrived. Lines may end in CRLF or a bare LF.
std::size_t head_size(std::string_view buffer) {
  for (auto lf = buffer.find('\n'); lf != std::string_view::npos; lf = buffer.find('\n', lf + 1)) {
    auto next = lf + 1;
    if (next < buffer.size() && buffer[next] == '\r')
      ++next;
    if (next < buffer.size() && buffer[next] == '\n')
      return next + 1;
  }
  return 0;
}

// Reads until `buffer` holds a whole request head; its size.
awaitable<std::pair<std::error_code, std::size_t>> read_head(tlsio::stream<> &s,
                                                             std::string &buffer) {
  std::array<char, 4096> scratch;
  for (;;) {
    if (auto n = head_size(buffer))
      co_return std::pair{std::error_code{}, n};
    if (buffer.size() >= max_request_head)
      co_return std::pair{std::error_code(asio::error::message_size), std::size_t{0}};
    auto [ec, n] = co_await s.async_read_some(asio::buffer(scratch), as_tuple);
    if (ec)
      co_return std::pair{ec, std::size_t{0}};
    buffer.append(scratch.data(), n);
  }
}

std::string http_date() {
  std::array<char, 64> text{};
  auto now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  return {text.data(), std::strftime(text.data(), text.size(), "%a, %d %b %Y %H:%M:%S GMT", &utc)};
}

std::string http_response(const http_request &r, const tlsio::stream<> &s) {
  std::string status = r.valid ? "200 OK" : "400 Bad Request";
  std::string body =
      r.valid ? "hello from tlsio over " + s.protocol_version() + " (" + s.cipher_suite() + ")\n"
              : "tlsio-server: this is not an HTTP/1.x request\n";
  return "HTTP/1.1 " + status + "\r\nDate: " + http_date() +
         "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
         (r.keep_alive ? "" : "\r\nConnection: close") + "\r\n\r\n" + (r.head_only ? "" : body);
}

// Reads past a request's body (ignored), so that the next request starts where it should.
awaitable<std::error_code> skip_body(tlsio::stream<> &s, std::string &buffer, std::size_t size) {
  auto buffered = std::min(size, buffer.size());
  buffer.erase(0, buffered);
  size -= buffered;
  std::array<char, 16384> scratch;
  while (size > 0) {
    auto [ec, n] = co_await s.async_read_some(
        asio::buffer(scratch.data(), std::min(size, scratch.size())), as_tuple);
    if (ec)
      co_return ec;
    size -= n;
  }
  co_return std::error_code{};
}

} // namespace

awaitable<std::error_code> serve_http(tlsio::stream<> &s) {
  std::string buffer;
  for (;;) {
    auto [ec, n] = co_await read_head(s, buffer);
    if (ec == asio::error::eof && buffer.empty()) // closed between requests
      break;
    if (ec)
      co_return ec;
    auto request = parse_request(std::string_view(buffer).substr(0, n));
    buffer.erase(0, n);
    if (request.keep_alive) {
      if (auto skip_ec = co_await skip_body(s, buffer, request.body_size))
        co_return skip_ec;
    }
    auto response = http_response(request, s);
    auto [write_ec, written] = co_await asio::async_write(s, asio::buffer(response), as_tuple);
    if (write_ec)
      co_return write_ec;
    if (!request.keep_alive)
      break;
  }
  auto [ec] = co_await s.async_shutdown(as_tuple);
  co_return ec;
}

} // namespace tool
