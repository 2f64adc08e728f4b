// --dtls: which engine it runs on. tlsio has DTLS on the Mbed TLS engine only, so --dtls
// picks an engine that has it, and an --engine that has not is a usage error.
#pragma once

#include "command_line.hpp"
#include "engine_option.hpp"

#include <tlsio/backend.hpp>

#include <string>

namespace tool {

/// "mbedtls (Mbed TLS 2.28.3)": the engines of this build that have DTLS.
inline std::string dtls_engines() {
  std::string list;
  for (const auto &b : tlsio::available_backends())
    if (b.dtls)
      list += (list.empty() ? "" : ", ") + std::string(engine_option_name(b.id)) + " (" + b.name +
              " " + b.version + ")";
  return list;
}

/// Makes `o` name an engine with DTLS: the one --engine named if it has DTLS, else (no
/// --engine) the first that has; throws usage_error if --engine named one without.
inline void choose_dtls_engine(engine_options &o) {
  for (const auto &b : tlsio::available_backends())
    if (b.id == o.engine && b.dtls)
      return;
  if (o.engine_given)
    throw usage_error("--dtls: the " + engine_description(o.engine) +
                      " engine has no DTLS in tlsio; engines that do: " + dtls_engines());
  for (const auto &b : tlsio::available_backends())
    if (b.dtls) {
      o.engine = b.id;
      return;
    }
  throw usage_error("--dtls: no engine of this build has DTLS");
}

} // namespace tool
