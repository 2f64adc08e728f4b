#include "key_log.hpp"

#include <tlsio/error.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace tlsio::detail {
namespace {

constexpr char label[] = "CLIENT_RANDOM ";
constexpr std::size_t random_size = 32, secret_size = 48;
constexpr std::size_t line_size = (sizeof label - 1) + 2 * random_size + 1 + 2 * secret_size + 1;

char *put_hex(char *at, const unsigned char *bytes, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < n; ++i) {
    *at++ = digits[bytes[i] >> 4];
    *at++ = digits[bytes[i] & 15];
  }
  return at;
}

// O_NOFOLLOW fails with ELOOP on a symbolic link, which would otherwise point the secrets
// wherever whoever made it likes; ELOOP may also be a loop of links on the way.
std::error_code open_error(const std::filesystem::path &path, int number) {
  struct stat st {};
  if (number == ELOOP && ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
    return error::key_log_symlink;
  return {number, std::generic_category()};
}

} // namespace

std::unique_ptr<key_log_file> key_log_file::open(const std::filesystem::path &path,
                                                 std::error_code &ec) {
  // 0600: the file holds every session's secrets.
  // O_CLOEXEC: programs this one starts must not inherit it.
  // O_NONBLOCK: a FIFO planted at the path must not hold us until someone reads it.
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
                  0600);
  if (fd < 0) {
    ec = open_error(path, errno);
    return nullptr;
  }
  // A file someone else made, or that others may read, would hand them the secrets.
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() ||
      (st.st_mode & 077) != 0) {
    ::close(fd);
    ec = error::key_log_not_private;
    return nullptr;
  }
  ec.clear();
  return std::unique_ptr<key_log_file>(new key_log_file(fd));
}

key_log_file::~key_log_file() { ::close(fd_); }

void key_log_file::attach(mbedtls_ssl_config *conf) {
  mbedtls_ssl_conf_export_keys_ext_cb(conf, export_keys, this);
}

int key_log_file::export_keys(void *self, const unsigned char *master_secret, const unsigned char *,
                              std::size_t, std::size_t, std::size_t,
                              const unsigned char client_random[32], const unsigned char[32],
                              mbedtls_tls_prf_types) {
  static_cast<const key_log_file *>(self)->write(client_random, master_secret);
  return 0;
}

// One write(2) per line on an O_APPEND file: lines of concurrent connections never mix, and
// a capture tool reading the file while the program runs sees whole lines. A failed or
// short write is not retried, since the rest could land among other lines; the log is only
// a debugging aid and never fails a connection.
void key_log_file::write(const unsigned char client_random[32],
                         const unsigned char master_secret[48]) const {
  char line[line_size];
  std::memcpy(line, label, sizeof label - 1);
  char *at = line + (sizeof label - 1);
  at = put_hex(at, client_random, random_size);
  *at++ = ' ';
  at = put_hex(at, master_secret, secret_size);
  *at = '\n';
  [[maybe_unused]] ssize_t written = ::write(fd_, line, sizeof line);
}

void key_log_file::write_line(std::string_view line) const {
  std::string whole(line);
  whole += '\n';
  [[maybe_unused]] ssize_t written = ::write(fd_, whole.data(), whole.size());
}

} // namespace tlsio::detail
