#include "cli/numeric_flags.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <thread>

#include <fmt/format.h>

namespace hearth::cli {
namespace {

// Values are echoed in errors; a 300-digit number or a pasted paragraph is cut so the error stays a short line.
// (Control bytes are escaped where the line is printed, cli/command_line.cpp.)
constexpr size_t kEchoedValueBytes = 40;

std::string echoed(std::string_view text) {
  if (text.size() <= kEchoedValueBytes) return std::string(text);
  return std::string(text.substr(0, kEchoedValueBytes)) + "...";
}

// std::from_chars over the whole text: decimal only (CLI11's own conversion takes "010" as octal and lets
// strtoull wrap "-2" around), and for floats no "nan" or "inf".
template <typename T>
bool parse_whole(std::string_view text, T& value) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  std::from_chars_result result{};
  if constexpr (std::is_integral_v<T>) {
    result = std::from_chars(text.data(), end, value, 10);
  } else {
    result = std::from_chars(text.data(), end, value, std::chars_format::general);
    if (result.ec == std::errc{} && !std::isfinite(value)) return false;
  }
  return result.ec == std::errc{} && result.ptr == end;
}

}  // namespace

template <typename T>
std::string describe_range(const NumericRange<T>& range) {
  // An integer's bounds are stated even at the type's limits (they are what -n 2147483648 runs into); a float's
  // limits are 39-digit numbers that say less than "at least 0".
  const bool bounded_below = std::is_integral_v<T> || range.min != std::numeric_limits<T>::lowest();
  const bool bounded_above = std::is_integral_v<T> || range.max != std::numeric_limits<T>::max();
  const char* lower = range.above_min ? "more than" : "at least";
  if (bounded_below && bounded_above) {
    return fmt::format("{} {} to {}", range.above_min ? "more than" : "from", range.min, range.max);
  }
  if (bounded_below) return fmt::format("{} {}", lower, range.min);
  if (bounded_above) return fmt::format("at most {}", range.max);
  return "any finite number";
}

template <typename T>
T parse_numeric_flag(std::string_view name, std::string_view text, const NumericRange<T>& range) {
  T value{};
  const bool in_range = parse_whole(text, value) && (range.above_min ? value > range.min : value >= range.min) &&
                        value <= range.max;
  if (!in_range) {
    throw CLI::ValidationError(fmt::format("{} must be {} ({}), not '{}'", name,
                                           std::is_integral_v<T> ? "an integer" : "a number", describe_range(range),
                                           echoed(text)));
  }
  return value;
}

NumericRange<int32_t> thread_count_range() {
  const auto hardware = static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
  return {.min = 0, .max = 4 * hardware};
}

template std::string describe_range(const NumericRange<int32_t>&);
template std::string describe_range(const NumericRange<uint64_t>&);
template std::string describe_range(const NumericRange<float>&);
template int32_t parse_numeric_flag(std::string_view, std::string_view, const NumericRange<int32_t>&);
template uint64_t parse_numeric_flag(std::string_view, std::string_view, const NumericRange<uint64_t>&);
template float parse_numeric_flag(std::string_view, std::string_view, const NumericRange<float>&);

}  // namespace hearth::cli
