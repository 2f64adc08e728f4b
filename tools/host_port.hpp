// Host and port as people type and read them: "example.com:443", "[::1]:443".
#pragma once

#include "command_line.hpp"

#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>

#include <string>
#include <string_view>

namespace tool {

struct host_port {
  std::string host; ///< without brackets
  std::string port; ///< a number or a service name
};

/// "[::1]" -> "::1": brackets belong to URLs and HOST:PORT, not to the resolver.
inline std::string unbracket(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return std::string(host);
}

/// A port is a service name ("https") or a number up to 65535: the resolver would wrap
/// "99999" to another port rather than refuse it.
inline void check_port(const std::string &port) {
  if (port.empty())
    throw usage_error("the port is missing");
  if (port.find_first_not_of("0123456789") != std::string::npos)
    return;
  auto digits = port.substr(std::min(port.find_first_not_of('0'), port.size()));
  if (digits.size() > 5 || (digits.size() == 5 && digits > "65535"))
    throw usage_error("port " + port + " is out of range (0 to 65535)");
}

/// "example.com:443" or "[::1]:443", as s_client's -connect and curl take them. A bare IPv6
/// address cannot carry a port (its own colons would swallow it), so it needs brackets.
inline host_port split_host_port(std::string_view target) {
  std::string text(target);
  std::string_view host, port;
  if (target.starts_with('[')) {
    auto close = target.find("]:");
    if (close == std::string_view::npos)
      throw usage_error("expected [ADDRESS]:PORT, not " + text);
    host = target.substr(1, close - 1);
    port = target.substr(close + 2);
  } else {
    auto colon = target.find(':');
    if (colon == std::string_view::npos || target.find(':', colon + 1) != std::string_view::npos)
      throw usage_error("expected HOST:PORT or HOST PORT (an IPv6 address in brackets: "
                        "[::1]:443), not " +
                        text);
    host = target.substr(0, colon);
    port = target.substr(colon + 1);
  }
  if (host.empty())
    throw usage_error("the host is missing in " + text);
  return {std::string(host), std::string(port)};
}

/// "localhost:443", "[::1]:443": how every failure line names the server.
inline std::string join_host_port(const std::string &host, const std::string &port) {
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + port;
  return host + ":" + port;
}

/// "127.0.0.1:443", "[::1]:443"; an IPv4 client of a dual-stack socket shows as IPv4.
inline std::string to_string(asio::ip::address address, unsigned short port) {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  return join_host_port(address.to_string(), std::to_string(port));
}

inline std::string to_string(const asio::ip::tcp::endpoint &endpoint) {
  return to_string(endpoint.address(), endpoint.port());
}

/// The same for --dtls's UDP endpoints.
inline std::string to_string(const asio::ip::udp::endpoint &endpoint) {
  return to_string(endpoint.address(), endpoint.port());
}

} // namespace tool
