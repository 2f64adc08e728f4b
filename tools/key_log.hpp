// SSLKEYLOGFILE in the tools: what --help says about it, and honouring it.
#pragma once

#include <tlsio/context.hpp>

#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace tool {

/// What --help says about the environment.
inline constexpr std::string_view environment_help =
    "\nenvironment:\n"
    "  SSLKEYLOGFILE  append each connection's secrets to this file (a new file gets mode\n"
    "                 0600), so that Wireshark can decrypt a capture. Anyone who can read\n"
    "                 the file can read the traffic: for debugging only.\n";

/// The tools honour SSLKEYLOGFILE, as curl does, though the library never reads it: they are
/// debugging tools, and that variable is how their users ask for the key log. They say so
/// on standard error, and stop if the file cannot be opened, since it was asked for.
inline void honour_key_log_variable(tlsio::context &ctx, std::string_view tool_name) {
  auto path = tlsio::context::key_log_file_from_environment();
  if (!path)
    return;
  std::error_code ec;
  ctx.set_key_log_file(*path, ec);
  if (ec) {
    std::string what = "cannot open the key log file "; // no chain of +: GCC 12's -Wrestrict
    what += path->string();
    what += " (SSLKEYLOGFILE): ";
    what += ec.message();
    throw std::runtime_error(what);
  }
  std::cerr << tool_name << ": WARNING: SSLKEYLOGFILE is set: writing the secrets of this "
            << "program's connections to " << path->string() << "\n";
}

} // namespace tool
