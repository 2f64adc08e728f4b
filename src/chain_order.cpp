#include "chain_order.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace tlsio::detail {
namespace {

bool same_der(const mbedtls_x509_buf &a, const mbedtls_x509_buf &b) {
  return a.len == b.len && (a.len == 0 || std::memcmp(a.p, b.p, a.len) == 0);
}

// The certificates of `sent` in issuer order, each once.
std::vector<const mbedtls_x509_crt *> issuer_order(const mbedtls_x509_crt &sent) {
  std::vector<const mbedtls_x509_crt *> left;
  for (const mbedtls_x509_crt *c = &sent; c != nullptr && c->raw.p != nullptr; c = c->next)
    left.push_back(c);
  std::vector<const mbedtls_x509_crt *> order;
  if (left.empty())
    return order;
  order.push_back(left.front());
  left.erase(left.begin());
  for (;;) {
    auto issuer = std::find_if(left.begin(), left.end(), [&](const mbedtls_x509_crt *c) {
      return same_der(c->subject_raw, order.back()->issuer_raw);
    });
    if (issuer == left.end())
      break;
    order.push_back(*issuer);
    left.erase(issuer);
  }
  order.insert(order.end(), left.begin(), left.end());
  return order;
}

} // namespace

int copy_in_issuer_order(const mbedtls_x509_crt &sent, mbedtls_x509_crt &ordered) {
  for (const mbedtls_x509_crt *c : issuer_order(sent))
    if (int ret = mbedtls_x509_crt_parse_der(&ordered, c->raw.p, c->raw.len); ret != 0)
      return ret;
  return 0;
}

} // namespace tlsio::detail
