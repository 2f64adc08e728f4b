// tlsio::context's key log settings: the application opts in; the library never reads
// SSLKEYLOGFILE by itself.
#include "context_impl.hpp"

#include <cstdlib>
#include <string>
#include <system_error>

namespace tlsio {

void context::set_key_log_file(const std::filesystem::path &path) {
  std::error_code ec;
  set_key_log_file(path, ec);
  if (!ec)
    return;
  std::string what = "opening key log file '"; // not a chain of operator+: GCC 12's -Wrestrict
  what += path.string();
  what += "'";
  throw std::system_error(ec, what);
}

void context::set_key_log_file(const std::filesystem::path &path, std::error_code &ec) {
  check_mutable();
  if (auto log = detail::key_log_file::open(path, ec))
    impl_->key_log_ = std::move(log);
}

std::optional<std::filesystem::path> context::key_log_file_from_environment() {
  const char *path = std::getenv("SSLKEYLOGFILE");
  if (path == nullptr || *path == '\0')
    return std::nullopt;
  return std::filesystem::path(path);
}

} // namespace tlsio
