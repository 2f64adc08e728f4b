#include "dtls_hello_screen.hpp"

#include <mbedtls/ssl_cookie.h>

#include <array>

namespace tlsio::dtls::detail {

hello_screen screen_client_hello(context::impl &ctx, const client_hello_view &hello,
                                 std::size_t datagram_size,
                                 std::span<const unsigned char> client_id) {
  if (client_id.empty())
    return {}; // no address to bind a cookie to: no answer
  auto *cookies = ctx.cookies_.get();
  auto cookie = reinterpret_cast<const unsigned char *>(hello.cookie.data());
  if (!hello.cookie.empty() && mbedtls_ssl_cookie_check(cookies, cookie, hello.cookie.size(),
                                                        client_id.data(), client_id.size()) == 0)
    return {true, {}};
  std::array<unsigned char, 255> made;
  unsigned char *end = made.data();
  if (mbedtls_ssl_cookie_write(cookies, &end, made.data() + made.size(), client_id.data(),
                               client_id.size()) != 0)
    return {};
  auto answer = hello_verify_request(
      hello, std::as_bytes(std::span(made.data(), static_cast<std::size_t>(end - made.data()))));
  // No amplification: the answer is never larger than what asked for it.
  if (answer.size() > datagram_size)
    return {};
  return {false, std::move(answer)};
}

} // namespace tlsio::dtls::detail
