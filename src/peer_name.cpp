#include "peer_name.hpp"

#include <algorithm>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>

#include <arpa/inet.h>
#include <cstring>

namespace tlsio::detail {
namespace {

constexpr unsigned char ip_address_tag = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7;
constexpr unsigned char dns_name_tag = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2;

struct der_span {
  unsigned char *p;
  const unsigned char *end;
};

// Finds the extnValue (GeneralNames DER) of subjectAltName among the v3 extensions.
std::optional<der_span> find_subject_alt_name(const mbedtls_x509_crt &crt) {
  unsigned char *p = crt.v3_ext.p;
  const unsigned char *end = p + crt.v3_ext.len;
  std::size_t len = 0;
  if (p == nullptr)
    return std::nullopt;
  // v3_ext may start at the [3] wrapper or at the Extensions SEQUENCE inside it.
  if (*p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 3) &&
      mbedtls_asn1_get_tag(&p, end, &len, *p) != 0)
    return std::nullopt;
  if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
    return std::nullopt;
  end = p + len;
  while (p < end) {
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
      return std::nullopt;
    const unsigned char *extension_end = p + len;
    mbedtls_asn1_buf oid{};
    if (mbedtls_asn1_get_tag(&p, extension_end, &oid.len, MBEDTLS_ASN1_OID) != 0)
      return std::nullopt;
    oid.p = p;
    p += oid.len;
    int critical = 0;
    mbedtls_asn1_get_bool(&p, extension_end, &critical); // optional; absent leaves p alone
    if (mbedtls_asn1_get_tag(&p, extension_end, &len, MBEDTLS_ASN1_OCTET_STRING) != 0)
      return std::nullopt;
    if (MBEDTLS_OID_CMP(MBEDTLS_OID_SUBJECT_ALT_NAME, &oid) == 0)
      return der_span{p, p + len};
    p = const_cast<unsigned char *>(extension_end);
  }
  return std::nullopt;
}

// Calls visit(tag, bytes, length) for each GeneralName in the subjectAltName extension.
template <class Visit> void for_each_general_name(const mbedtls_x509_crt &crt, Visit visit) {
  auto names = find_subject_alt_name(crt);
  if (!names)
    return;
  unsigned char *p = names->p;
  std::size_t len = 0;
  if (mbedtls_asn1_get_tag(&p, names->end, &len,
                           MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
    return;
  const unsigned char *end = p + len;
  while (p < end) {
    unsigned char tag = *p++;
    if (mbedtls_asn1_get_len(&p, end, &len) != 0)
      return;
    visit(tag, p, len);
    p += len;
  }
}

std::string format_ip(const ip_address &ip) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(ip.size == 4 ? AF_INET : AF_INET6, ip.bytes.data(), text, sizeof text);
  return text;
}

std::vector<std::string> certificate_dns_names(const mbedtls_x509_crt &crt) {
  std::vector<std::string> names;
  for_each_general_name(crt, [&](unsigned char tag, const unsigned char *p, std::size_t len) {
    if (tag == dns_name_tag)
      names.emplace_back(reinterpret_cast<const char *>(p), len);
  });
  return names;
}

std::string join(const std::vector<std::string> &items) {
  std::string text;
  for (const auto &item : items)
    text += (text.empty() ? "" : ", ") + item;
  return text.empty() ? "no names" : text;
}

// The certificate's DNS name that spells the address `ip`, if any: a certificate made for
// an address by someone who did not know that it needs an iPAddress entry.
std::optional<std::string> address_as_dns_name(const mbedtls_x509_crt &crt, const ip_address &ip) {
  for (const auto &name : certificate_dns_names(crt))
    if (parse_ip_literal(name) == ip)
      return name;
  return std::nullopt;
}

} // namespace

std::optional<ip_address> parse_ip_literal(std::string_view name) {
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']')
    name = name.substr(1, name.size() - 2);
  std::string text(name);
  ip_address ip;
  if (inet_pton(AF_INET, text.c_str(), ip.bytes.data()) == 1) {
    ip.size = 4;
    return ip;
  }
  if (inet_pton(AF_INET6, text.c_str(), ip.bytes.data()) == 1) {
    ip.size = 16;
    return ip;
  }
  return std::nullopt;
}

std::vector<ip_address> certificate_ip_addresses(const mbedtls_x509_crt &crt) {
  std::vector<ip_address> addresses;
  for_each_general_name(crt, [&](unsigned char tag, const unsigned char *p, std::size_t len) {
    if (tag == ip_address_tag && (len == 4 || len == 16)) {
      ip_address ip;
      std::memcpy(ip.bytes.data(), p, len);
      ip.size = len;
      addresses.push_back(ip);
    }
  });
  return addresses;
}

std::optional<std::string> normalize_server_name(std::string_view name) {
  if (!name.empty() && name.back() == '.')
    name.remove_suffix(1);
  bool empty_label = name.empty() || name.front() == '.' || name.back() == '.' ||
                     name.find("..") != std::string_view::npos;
  // Mbed TLS takes the name as a C string: "a.test\0.evil" would be verified as "a.test".
  if (empty_label || name.find('\0') != std::string_view::npos)
    return std::nullopt;
  return std::string(name);
}

checked_server_name check_server_name(std::string_view name) {
  auto normalized = normalize_server_name(name);
  checked_server_name checked{normalized ? *normalized : std::string(name), {}, {}};
  checked.ip = parse_ip_literal(checked.name);
  if (checked.name.size() > 255) // SNI's limit; a DNS name has at most 253
    checked.problem = "invalid server name: longer than the 255 bytes a host name may have";
  else if (!normalized)
    checked.problem =
        "invalid server name '" + std::string(name) +
        "': a host name has no empty label (no leading dot, no two dots in a row) and no NUL";
  return checked;
}

std::string distinguished_name(const mbedtls_x509_name &name) {
  char text[512];
  int n = mbedtls_x509_dn_gets(text, sizeof text, &name);
  return n < 0 ? std::string("?") : std::string(text, static_cast<std::size_t>(n));
}

bool has_subject_alt_name(const mbedtls_x509_crt &crt) {
  return (crt.ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME) != 0;
}

std::vector<std::string> certificate_names(const mbedtls_x509_crt &crt) {
  std::vector<std::string> names;
  for (const auto &dns : certificate_dns_names(crt))
    names.push_back("DNS:" + dns);
  for (const auto &ip : certificate_ip_addresses(crt))
    names.push_back("IP:" + format_ip(ip));
  return names;
}

std::string name_mismatch_reason(const mbedtls_x509_crt &crt, std::string_view expected,
                                 const std::optional<ip_address> &ip) {
  if (!has_subject_alt_name(crt))
    return "the certificate for '" + distinguished_name(crt.subject) +
           "' has no subjectAltName, and its Common Name is not used to match host names";
  auto expected_text = std::string(expected);
  if (auto as_dns = ip ? address_as_dns_name(crt, *ip) : std::nullopt)
    return "expected " + expected_text + ", but the certificate lists " + *as_dns +
           " as a DNS name (DNS:" + *as_dns +
           "), not as an IP address; connecting by address needs an iPAddress entry (IP:" +
           format_ip(*ip) + ") in its subjectAltName";
  return "expected " + expected_text + ", certificate is for " + join(certificate_names(crt));
}

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

} // namespace

bool virtual_host_matches(std::string_view pattern, std::string_view name) {
  if (pattern.size() > 2 && pattern.substr(0, 2) == "*.") {
    auto dot = name.find('.');
    return dot != std::string_view::npos && dot > 0 &&
           same_name(pattern.substr(1), name.substr(dot));
  }
  return same_name(pattern, name);
}

} // namespace tlsio::detail
