#include "pem_loading.hpp"

#include "engine_error.hpp"

#include <tlsio/error.hpp>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace tlsio::detail {

std::string quoted(const std::filesystem::path &path) {
  std::string text = "'";
  text += path.string(); // not a chain of operator+: GCC 12 warns falsely (-Wrestrict) on it
  text += "'";
  return text;
}

std::optional<std::string> read_file(const std::filesystem::path &path, std::error_code &ec) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ec = std::error_code(errno ? errno : ENOENT, std::generic_category());
    return std::nullopt;
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return std::move(contents).str();
}

namespace {

// Mbed TLS tells PEM from DER by a terminating NUL counted in the length.
std::size_t parse_length(std::string_view data) {
  return data.find("-----BEGIN ") != std::string_view::npos ? data.size() + 1 : data.size();
}

} // namespace

std::error_code parse_certificates(mbedtls_x509_crt *chain, const std::string &data) {
  int ret = mbedtls_x509_crt_parse(chain, reinterpret_cast<const unsigned char *>(data.c_str()),
                                   parse_length(data));
  if (ret < 0)
    return engine_error(ret);
  if (ret > 0 || chain->version == 0)
    return error::no_certificate; // some blocks were not certificates, or there were none
  return {};
}

std::error_code parse_key(mbedtls_pk_context *key, std::string_view pem,
                          std::optional<std::string_view> password) {
  std::string data(pem);
  int ret = mbedtls_pk_parse_key(
      key, reinterpret_cast<const unsigned char *>(data.c_str()), parse_length(data),
      password ? reinterpret_cast<const unsigned char *>(password->data()) : nullptr,
      password ? password->size() : 0);
  // Mbed TLS spots a wrong password by whether the decrypted bytes look like DER; about
  // one wrong password in 500 passes that test and then fails as a malformed key.
  if (ret != 0 && password && data.find("ENCRYPTED") != std::string::npos)
    ret = MBEDTLS_ERR_PK_PASSWORD_MISMATCH;
  return engine_error(ret);
}

} // namespace tlsio::detail
