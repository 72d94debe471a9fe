// The one way every numeric flag of every `hearth` command is declared: the flag states its range in --help and
// parses its value strictly (decimal only, the whole text, no wrap-around, no NaN or infinity), so an out-of-range
// or malformed value is a usage error naming the flag and the range instead of being clamped, wrapped or taken as
// some other setting.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include <CLI/CLI.hpp>

namespace hearth::cli {

// The values a numeric flag accepts: min..max, min itself left out when `above_min` (a divisor, where 0 is
// meaningless). For a float, a bound left at the type's limit is "no bound" in --help.
template <typename T>
struct NumericRange {
  T min = std::numeric_limits<T>::lowest();
  T max = std::numeric_limits<T>::max();
  bool above_min = false;
};

// "from 0 to 1", "at least 0", "more than 0", "any finite number": the range as --help and errors state it.
template <typename T>
std::string describe_range(const NumericRange<T>& range);

// `text` as a T within `range`; otherwise a CLI::ValidationError "NAME must be an integer (from MIN to MAX), not
// 'TEXT'". `name` is the flag as the user knows it ("--top-p").
template <typename T>
T parse_numeric_flag(std::string_view name, std::string_view text, const NumericRange<T>& range);

// Adds option `names` ("-t,--threads") to `cmd`, writing the parsed value to `variable` (which must outlive the
// parse); `description` gets the range appended for --help.
template <typename T>
CLI::Option* add_numeric_flag(CLI::App& cmd, const std::string& names, T& variable, const std::string& description,
                              NumericRange<T> range) {
  static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>);
  const std::string name = names.substr(names.rfind(',') + 1);  // the long name, the last of `names`
  CLI::Option* option = cmd.add_option_function<std::string>(
      names, [&variable, name, range](const std::string& text) { variable = parse_numeric_flag(name, text, range); },
      description + " [" + describe_range(range) + "]");
  option->type_name(std::is_integral_v<T> ? "INT" : "NUMBER");
  option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // as llama.cpp: the last one given counts
  return option;
}

// Worker threads (-t, --threads): 0 means one per hardware thread; more than four per hardware thread only slows
// a run down (and a million would hang it creating them), so the range stops there.
NumericRange<int32_t> thread_count_range();

}  // namespace hearth::cli
