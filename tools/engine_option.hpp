// --engine and --tls1.2 / --tls1.3: which TLS backend a tool runs on and which TLS version it
// requires. Both tools take them the same way, so they are read and applied here.
#pragma once

#include "command_line.hpp"

#include <tlsio/backend.hpp>
#include <tlsio/context.hpp>
#include <tlsio/error.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace tool {

/// What --help says about --engine, --tls1.2 and --tls1.3; `column` is where the tool's
/// help puts the explanations.
inline std::string engine_help(std::size_t column) {
  auto line = [column](std::string_view flag, std::string_view text) {
    auto out = "  " + std::string(flag);
    out.resize(column, ' ');
    return out + std::string(text) + "\n";
  };
  return line("--engine NAME", "the TLS engine: mbedtls or openssl, as this build has them") +
         line("", "(default: " +
                      std::string(tlsio::default_backend() == tlsio::backend::openssl ? "openssl"
                                                                                      : "mbedtls") +
                      ")") +
         line("--tls1.2, --tls1.3", "speak only this TLS version; TLS 1.3 needs --engine openssl") +
         line("", "(default: TLS 1.2 up to the engine's newest)");
}

/// The name --engine takes for a backend.
inline std::string_view engine_option_name(tlsio::backend b) {
  switch (b) {
  case tlsio::backend::openssl:
    return "openssl";
  case tlsio::backend::mbedtls:
  default:
    return "mbedtls";
  }
}

/// "mbedtls (Mbed TLS 2.28.3), openssl (OpenSSL 3.0.17)": the engines of this build (those
/// that speak TLS 1.3 if `tls1_3_only`).
inline std::string available_engines(bool tls1_3_only = false) {
  std::string list;
  for (const auto &b : tlsio::available_backends())
    if (b.tls1_3 || !tls1_3_only)
      list += (list.empty() ? "" : ", ") + std::string(engine_option_name(b.id)) + " (" + b.name +
              " " + b.version + ")";
  return list;
}

/// --engine's value: a backend this build has; a usage error naming those it has otherwise.
inline tlsio::backend parse_engine(std::string_view name) {
  for (const auto &b : tlsio::available_backends())
    if (engine_option_name(b.id) == name)
      return b.id;
  throw usage_error("--engine " + std::string(name) +
                    ": no such TLS engine in this build; it has " + available_engines());
}

/// Whether this build has an engine that speaks TLS 1.3.
inline bool has_tls1_3_engine() { return !available_engines(true).empty(); }

/// "OpenSSL 3.0.17": the engine's name and the version linked, for logs and -v.
inline std::string engine_description(tlsio::backend id) {
  for (const auto &b : tlsio::available_backends())
    if (b.id == id)
      return b.name + " " + b.version;
  return tlsio::backend_name(id);
}

/// "TLS 1.3"
inline std::string_view version_name(tlsio::tls_version v) {
  return v == tlsio::tls_version::tls1_3 ? "TLS 1.3" : "TLS 1.2";
}

/// The engine and version options as given on the command line.
struct engine_options {
  tlsio::backend engine = tlsio::default_backend();
  std::optional<tlsio::tls_version> version; // none: the engine's range
  bool engine_given = false;                 // --engine was on the command line
};

/// One of --engine, --tls1.2 or --tls1.3 into `o`; false if `arg` is none of them.
inline bool parse_engine_option(engine_options &o, const std::string &arg, command_line &args) {
  if (arg == "--engine") {
    o.engine = parse_engine(args.value());
    o.engine_given = true;
  } else if (arg == "--tls1.2") {
    o.version = tlsio::tls_version::tls1_2;
  } else if (arg == "--tls1.3") {
    o.version = tlsio::tls_version::tls1_3;
  } else {
    return false;
  }
  return true;
}

/// A context on the chosen engine that speaks only the required version, if one is. A
/// version the engine does not speak (the library says so: error::unsupported_version) is a
/// usage error, since only the command line can change it.
inline tlsio::context make_engine_context(tlsio::role r, const engine_options &o) {
  tlsio::context ctx{r, o.engine};
  if (!o.version)
    return ctx;
  std::error_code ec;
  // Max first: raising the minimum above the engine's default maximum would be refused.
  ctx.set_max_version(*o.version, ec);
  if (!ec)
    ctx.set_min_version(*o.version, ec);
  if (ec == tlsio::error::unsupported_version)
    throw usage_error(
        "--" + std::string(*o.version == tlsio::tls_version::tls1_3 ? "tls1.3" : "tls1.2") +
        ": the " + engine_description(o.engine) + " engine does not speak " +
        std::string(version_name(*o.version)) + "; engines that do: " + available_engines(true));
  if (ec)
    throw std::system_error(ec, "cannot set the TLS version");
  return ctx;
}

} // namespace tool
