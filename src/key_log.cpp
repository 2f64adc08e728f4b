#include "key_log.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace tlsio::detail {
namespace {

class key_log_file {
public:
  // Read once: the variable is meant to be set before the program starts.
  static key_log_file *instance() {
    static key_log_file log(std::getenv("SSLKEYLOGFILE"));
    return log.file_ ? &log : nullptr;
  }

  void write(const unsigned char client_random[32], const unsigned char *master_secret) {
    std::string line =
        "CLIENT_RANDOM " + hex(client_random, 32) + " " + hex(master_secret, 48) + "\n";
    std::lock_guard lock(mutex_);
    std::fputs(line.c_str(), file_);
    std::fflush(file_); // a capture tool may read it while the program runs
  }

private:
  explicit key_log_file(const char *path)
      : file_(path && *path ? std::fopen(path, "a") : nullptr) {}
  ~key_log_file() {
    if (file_)
      std::fclose(file_);
  }

  static std::string hex(const unsigned char *bytes, std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string text;
    for (std::size_t i = 0; i < n; ++i) {
      text += digits[bytes[i] >> 4];
      text += digits[bytes[i] & 15];
    }
    return text;
  }

  std::FILE *file_;
  std::mutex mutex_;
};

int export_keys(void *log, const unsigned char *master_secret, const unsigned char *, std::size_t,
                std::size_t, std::size_t, const unsigned char client_random[32],
                const unsigned char[32], mbedtls_tls_prf_types) {
  static_cast<key_log_file *>(log)->write(client_random, master_secret);
  return 0;
}

} // namespace

void attach_key_log(mbedtls_ssl_config *conf) {
  if (auto *log = key_log_file::instance())
    mbedtls_ssl_conf_export_keys_ext_cb(conf, export_keys, log);
}

} // namespace tlsio::detail
