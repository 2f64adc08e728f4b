// The NSS key log: a debugging aid that the application asks for (internal).
#pragma once

#include <mbedtls/ssl.h>

#include <filesystem>
#include <memory>
#include <string_view>
#include <system_error>

namespace tlsio::detail {

/// A key log file open for appending. Each connection that uses an attached configuration
/// adds one line, "CLIENT_RANDOM <client random> <master secret>" in hex, with which
/// Wireshark can decrypt a capture of it.
class key_log_file {
public:
  /// Opens `path` for appending, creating it with mode 0600. Refuses a symbolic link as its
  /// last component (error::key_log_symlink). Null with ec set on failure.
  static std::unique_ptr<key_log_file> open(const std::filesystem::path &path, std::error_code &ec);
  ~key_log_file();
  key_log_file(const key_log_file &) = delete;
  key_log_file &operator=(const key_log_file &) = delete;

  /// Makes the connections made with conf log their secrets here. This object must outlive
  /// them.
  void attach(mbedtls_ssl_config *conf);
  /// Appends one line a backend wrote in the NSS format itself (without its newline).
  void write_line(std::string_view line) const;

private:
  explicit key_log_file(int fd) noexcept : fd_(fd) {}
  static int export_keys(void *self, const unsigned char *master_secret, const unsigned char *,
                         std::size_t, std::size_t, std::size_t,
                         const unsigned char client_random[32], const unsigned char[32],
                         mbedtls_tls_prf_types);
  void write(const unsigned char client_random[32], const unsigned char master_secret[48]) const;

  int fd_;
};

} // namespace tlsio::detail
