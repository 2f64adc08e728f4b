#include "session_cache.hpp"

namespace tlsio::detail {

std::string canonical_host_name(std::string_view name) {
  if (name.size() > 1 && name.back() == '.')
    name.remove_suffix(1);
  std::string text(name);
  for (auto &c : text)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return text;
}

std::string canonical_server_key(std::string_view server) {
  auto key = canonical_host_name(server);
  // "Example.com.:443" -> "example.com:443"; the port stays as given.
  if (auto colon = key.rfind(':'); colon != std::string::npos && colon > 1 && key[colon - 1] == '.')
    key.erase(colon - 1, 1);
  return key;
}

} // namespace tlsio::detail
