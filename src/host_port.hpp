// How hosts and ports given as text are checked before they reach the resolver.
#pragma once

#include <string>
#include <string_view>
#include <system_error>

namespace tlsio::detail {

/// error::invalid_port for digits above 65535 (the resolver would wrap "99999" to 34463);
/// no error for a valid number or a service name ("https"), which the resolver looks up.
std::error_code check_port(std::string_view port);

/// "[::1]" -> "::1": brackets belong to URLs, not to the resolver.
std::string unbracket(std::string_view host);

} // namespace tlsio::detail
