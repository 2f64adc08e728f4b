#include "certificate_info.hpp"

#include "peer_name.hpp"

#include <tlsio/error.hpp>

#include <mbedtls/pem.h>

#include <cstdio>

namespace tlsio::detail {
namespace {

std::chrono::system_clock::time_point to_time_point(const mbedtls_x509_time &t) {
  using namespace std::chrono;
  sys_days day = year{t.year} / month{static_cast<unsigned>(t.mon)} /
                 std::chrono::day{static_cast<unsigned>(t.day)};
  return day + hours{t.hour} + minutes{t.min} + seconds{t.sec};
}

} // namespace

std::string format_time(const mbedtls_x509_time &t) {
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02d-%02d %02d:%02d:%02d UTC", t.year, t.mon, t.day,
                t.hour, t.min, t.sec);
  return text;
}

certificate_info describe_certificate(const mbedtls_x509_crt &crt) {
  certificate_info info;
  info.subject = distinguished_name(crt.subject);
  info.issuer = distinguished_name(crt.issuer);
  info.not_before = to_time_point(crt.valid_from);
  info.not_after = to_time_point(crt.valid_to);
  char serial[128];
  if (int n = mbedtls_x509_serial_gets(serial, sizeof serial, &crt.serial); n > 0)
    info.serial.assign(serial, static_cast<std::size_t>(n));
  std::string pem(crt.raw.len * 2 + 128, '\0');
  std::size_t length = 0;
  if (mbedtls_pem_write_buffer(
          "-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n", crt.raw.p, crt.raw.len,
          reinterpret_cast<unsigned char *>(pem.data()), pem.size(), &length) == 0)
    info.pem = pem.substr(0, length > 0 ? length - 1 : 0); // length counts the NUL
  return info;
}

certificate_problem problem_with(const mbedtls_x509_crt &crt) {
  return {distinguished_name(crt.subject),
          distinguished_name(crt.issuer),
          format_time(crt.valid_from),
          format_time(crt.valid_to),
          {}};
}

std::string verification_sentence(std::error_code code, const certificate_problem &p) {
  auto who = "'" + p.subject + "'";
  if (code.category() != error_category())
    return code.message() + ": " + who;
  switch (static_cast<error>(code.value())) {
  case error::host_name_mismatch:
    return "host name mismatch: " + p.name_mismatch;
  case error::certificate_expired:
    return "certificate expired: " + who + " was valid until " + p.valid_to;
  case error::certificate_not_yet_valid:
    return "certificate not yet valid: " + who + " is valid from " + p.valid_from;
  case error::untrusted_issuer:
    return "certificate not trusted: " + who + " was issued by '" + p.issuer +
           "', which is not a trusted CA (or its chain is incomplete)";
  default:
    return code.message() + ": " + who;
  }
}

} // namespace tlsio::detail
