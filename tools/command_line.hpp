// Reading the tools' command lines: options, their values, and positional arguments.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tool {

/// A command line that cannot be understood; main prints it with the usage (exit status 2).
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Walks the arguments: "--name value", "--name=value", "-k" and positional ones.
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

/// `flag` anywhere on the command line: --help and --version win over everything else, so
/// that a user can ask for them whatever else the line holds.
inline bool has_flag(int argc, char **argv, std::string_view flag,
                     std::string_view short_flag = {}) {
  for (int i = 1; i < argc; ++i)
    if (argv[i] == flag || (!short_flag.empty() && argv[i] == short_flag))
      return true;
  return false;
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

} // namespace tool
