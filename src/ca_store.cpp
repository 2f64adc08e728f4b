#include "ca_store.hpp"

#include <array>
#include <cstdlib>
#include <system_error>

namespace tlsio::detail {
namespace {

// Bundle files first: one file parses faster than a directory of hashed links.
constexpr std::array bundle_files = {
    "/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Gentoo, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora, RHEL, CentOS
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // Fedora, RHEL (newer layout)
    "/etc/ssl/ca-bundle.pem",                            // openSUSE
    "/var/lib/ca-certificates/ca-bundle.pem",            // openSUSE (newer layout)
    "/etc/ssl/cert.pem",                                 // Alpine, macOS, OpenBSD
};

constexpr std::array bundle_directories = {
    "/etc/ssl/certs",
    "/etc/pki/tls/certs",
};

bool is_file(const std::filesystem::path &p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec) && std::filesystem::file_size(p, ec) > 0;
}

bool is_directory(const std::filesystem::path &p) {
  std::error_code ec;
  return std::filesystem::is_directory(p, ec) && !std::filesystem::is_empty(p, ec);
}

std::optional<std::filesystem::path> find_system_ca_store() {
  // The OpenSSL variables are what users already set to point TLS programs elsewhere.
  if (const char *file = std::getenv("SSL_CERT_FILE"); file && is_file(file))
    return std::filesystem::path(file);
  if (const char *dir = std::getenv("SSL_CERT_DIR"); dir && is_directory(dir))
    return std::filesystem::path(dir);
  for (const char *file : bundle_files)
    if (is_file(file))
      return std::filesystem::path(file);
  for (const char *dir : bundle_directories)
    if (is_directory(dir))
      return std::filesystem::path(dir);
  return std::nullopt;
}

} // namespace

const std::optional<std::filesystem::path> &system_ca_store() {
  static const std::optional<std::filesystem::path> store = find_system_ca_store();
  return store;
}

} // namespace tlsio::detail
