#include "peer_name.hpp"

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

std::vector<std::string> certificate_names(const mbedtls_x509_crt &crt) {
  std::vector<std::string> names;
  for_each_general_name(crt, [&](unsigned char tag, const unsigned char *p, std::size_t len) {
    if (tag == dns_name_tag)
      names.emplace_back(reinterpret_cast<const char *>(p), len);
  });
  for (const auto &ip : certificate_ip_addresses(crt))
    names.push_back(format_ip(ip));
  if (names.empty()) {
    for (const mbedtls_x509_name *n = &crt.subject; n != nullptr; n = n->next)
      if (n->oid.p && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0)
        names.emplace_back(reinterpret_cast<const char *>(n->val.p), n->val.len);
  }
  return names;
}

} // namespace tlsio::detail
