// tlsio-server --http: answers every HTTP/1.x request on a stream with a short greeting,
// honouring keep-alive, until the client closes.
#pragma once

#include <tlsio/stream.hpp>

#include <asio/awaitable.hpp>

#include <system_error>

namespace tool {

/// Serves requests until the client closes (then sends close_notify) or a request asks to
/// close; the error that ended it, if any.
asio::awaitable<std::error_code> serve_http(tlsio::stream<> &s);

} // namespace tool
