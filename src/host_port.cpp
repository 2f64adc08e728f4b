#include "host_port.hpp"

#include <tlsio/error.hpp>

#include <algorithm>

namespace tlsio::detail {

std::error_code check_port(std::string_view port) {
  if (port.empty() || port.find_first_not_of("0123456789") != std::string_view::npos)
    return {};
  auto digits = port.substr(std::min(port.find_first_not_of('0'), port.size()));
  if (digits.size() > 5 || (digits.size() == 5 && digits > "65535"))
    return error::invalid_port;
  return {};
}

std::string unbracket(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return std::string(host);
}

} // namespace tlsio::detail
