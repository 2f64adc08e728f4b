// What tlsio-client and tlsio-server share: reading the command line, and describing a failure
// in one line.
#pragma once

#include <tlsio/stream.hpp>

#include <asio/ip/tcp.hpp>

#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace tool {

/// A command line that cannot be understood; main prints it with the usage (exit status 2).
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Walks the arguments: "--name value", "--name=value" and positional ones.
class command_line {
public:
  command_line(int argc, char **argv) : args_(argv + 1, argv + argc) {}

  /// The next option's name or positional argument; nullopt at the end.
  std::optional<std::string> next() {
    if (inline_value_)
      throw usage_error(current_ + " takes no value");
    if (index_ == args_.size())
      return std::nullopt;
    current_ = args_[index_++];
    if (auto equals = current_.find('='); current_.starts_with("--") && equals != npos) {
      inline_value_ = current_.substr(equals + 1);
      current_.resize(equals);
    }
    return current_;
  }

  /// The value of the option next() just returned.
  std::string value() {
    if (inline_value_)
      return *std::exchange(inline_value_, std::nullopt);
    if (index_ == args_.size())
      throw usage_error(current_ + " needs a value");
    return args_[index_++];
  }

private:
  static constexpr auto npos = std::string::npos;
  std::vector<std::string> args_;
  std::size_t index_ = 0;
  std::string current_;
  std::optional<std::string> inline_value_;
};

/// --help or -h anywhere on the command line.
inline bool wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--help" || std::string_view(argv[i]) == "-h")
      return true;
  return false;
}

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

/// "h2,http/1.1" -> {"h2", "http/1.1"}
inline std::vector<std::string> split_list(std::string_view list) {
  std::vector<std::string> items;
  while (!list.empty()) {
    auto comma = list.find(',');
    if (auto item = list.substr(0, comma); !item.empty())
      items.emplace_back(item);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return items;
}

/// A TLS failure in one sentence: the stream's detail when it has one, else the code's message.
inline std::string describe(const std::error_code &ec, const tlsio::stream<> &s) {
  auto detail = s.failure_detail();
  return detail.empty() ? ec.message() : detail;
}

/// "127.0.0.1:443", "[::1]:443"; an IPv4 client of a dual-stack socket shows as IPv4.
inline std::string to_string(const asio::ip::tcp::endpoint &endpoint) {
  auto address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  auto text = address.to_string();
  if (address.is_v6())
    text = "[" + text + "]";
  return text + ":" + std::to_string(endpoint.port());
}

} // namespace tool
