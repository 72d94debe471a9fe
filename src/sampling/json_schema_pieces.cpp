#include "sampling/json_schema_pieces.h"

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace hearth::grammar::json_schema {
namespace {

constexpr int kMaxDigits = 18;  // integers up to 10^18 - 1 fit int64 with room for the arithmetic below
constexpr std::int64_t kLargest = 999'999'999'999'999'999;
constexpr std::size_t kMaxRepetition = 10000;  // as the GBNF parser's own bound on a repetition count

std::string utf8(char32_t code_point) {
  std::string out;
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
  return out;
}

// ---- integer ranges ----

std::string digit_class(char from, char to) {
  if (from == to) return fmt::format("\"{}\"", from);
  return fmt::format("[{}-{}]", from, to);
}

// The digit strings of length lo.size() from lo to hi (lo <= hi), leading zeros allowed.
std::string same_length_range(std::string_view lo, std::string_view hi) {
  if (lo.empty()) return "";
  if (lo == hi) return gbnf_literal(lo);
  if (lo[0] == hi[0]) {
    const std::string rest = same_length_range(lo.substr(1), hi.substr(1));
    return fmt::format("\"{}\"{}{}", lo[0], rest.empty() ? "" : " ", rest);
  }
  const std::size_t tail = lo.size() - 1;
  const bool lo_tail_is_least = lo.substr(1).find_first_not_of('0') == std::string_view::npos;
  const bool hi_tail_is_most = hi.substr(1).find_first_not_of('9') == std::string_view::npos;
  const std::string any_tail = tail == 0 ? "" : tail == 1 ? " [0-9]" : fmt::format(" [0-9]{{{}}}", tail);
  std::vector<std::string> alternatives;
  if (!lo_tail_is_least) {
    alternatives.push_back(fmt::format("\"{}\" {}", lo[0], same_length_range(lo.substr(1), std::string(tail, '9'))));
  }
  const char first = lo_tail_is_least ? lo[0] : static_cast<char>(lo[0] + 1);
  const char last = hi_tail_is_most ? hi[0] : static_cast<char>(hi[0] - 1);
  if (first <= last) alternatives.push_back(digit_class(first, last) + any_tail);
  if (!hi_tail_is_most) {
    alternatives.push_back(fmt::format("\"{}\" {}", hi[0], same_length_range(std::string(tail, '0'), hi.substr(1))));
  }
  std::string joined;
  for (const std::string& alternative : alternatives) joined += (joined.empty() ? "" : " | ") + alternative;
  return "(" + joined + ")";
}

std::int64_t power_of_ten(int exponent) {
  std::int64_t value = 1;
  for (int i = 0; i < exponent; ++i) value *= 10;
  return value;
}

// The integers in [lo, hi], 0 <= lo <= hi <= kLargest, without leading zeros.
std::vector<std::string> non_negative_range(std::int64_t lo, std::int64_t hi) {
  std::vector<std::string> alternatives;
  const int lo_digits = static_cast<int>(std::to_string(lo).size());
  const int hi_digits = static_cast<int>(std::to_string(hi).size());
  for (int digits = lo_digits; digits <= hi_digits; ++digits) {
    const std::int64_t from = std::max(lo, digits == 1 ? 0 : power_of_ten(digits - 1));
    const std::int64_t to = std::min(hi, power_of_ten(digits) - 1);
    alternatives.push_back(same_length_range(std::to_string(from), std::to_string(to)));
  }
  return alternatives;
}

// ---- patterns ----

using Ranges = std::vector<std::pair<char32_t, char32_t>>;  // inclusive code point ranges

Ranges normalized(Ranges ranges) {
  std::sort(ranges.begin(), ranges.end());
  Ranges merged;
  for (const auto& [lo, hi] : ranges) {
    if (!merged.empty() && lo <= merged.back().second + 1) {
      merged.back().second = std::max(merged.back().second, hi);
    } else {
      merged.emplace_back(lo, hi);
    }
  }
  return merged;
}

Ranges complement(const Ranges& ranges) {
  Ranges out;
  char32_t next = 0;
  for (const auto& [lo, hi] : normalized(ranges)) {
    if (lo > next) out.emplace_back(next, lo - 1);
    next = hi + 1;
  }
  if (next <= 0x10FFFF) out.emplace_back(next, 0x10FFFF);
  return out;
}

Ranges without(const Ranges& ranges, char32_t lo, char32_t hi) {
  Ranges out;
  for (const auto& [from, to] : ranges) {
    if (to < lo || from > hi) {
      out.emplace_back(from, to);
      continue;
    }
    if (from < lo) out.emplace_back(from, lo - 1);
    if (to > hi) out.emplace_back(hi + 1, to);
  }
  return out;
}

bool contains(const Ranges& ranges, char32_t c) {
  return std::any_of(ranges.begin(), ranges.end(), [c](const auto& range) { return range.first <= c && c <= range.second; });
}

// How JSON writes a character inside a string, as a GBNF literal.
std::string json_char_literal(char32_t c) {
  switch (c) {
    case U'"': return gbnf_literal("\\\"");
    case U'\\': return gbnf_literal("\\\\");
    case U'\n': return gbnf_literal("\\n");
    case U'\t': return gbnf_literal("\\t");
    case U'\r': return gbnf_literal("\\r");
    case U'\b': return gbnf_literal("\\b");
    case U'\f': return gbnf_literal("\\f");
    default:
      if (c < 0x20) return gbnf_literal(fmt::format("\\u{:04x}", static_cast<unsigned>(c)));
      return gbnf_literal(utf8(c));
  }
}

// A set of characters as JSON writes them: a class for the plain ones, escapes for quote, backslash and controls.
std::string json_char_set(Ranges ranges) {
  ranges = without(normalized(std::move(ranges)), 0xD800, 0xDFFF);
  std::vector<std::string> alternatives;
  for (char32_t special = 0; special < 0x20; ++special) {
    if (contains(ranges, special)) alternatives.push_back(json_char_literal(special));
  }
  for (const char32_t special : {U'"', U'\\'}) {
    if (contains(ranges, special)) alternatives.push_back(json_char_literal(special));
  }
  Ranges plain = without(without(without(ranges, 0, 0x1F), U'"', U'"'), U'\\', U'\\');
  if (!plain.empty()) {
    std::string set = "[";
    for (const auto& [lo, hi] : plain) {
      set += gbnf_char(lo);
      if (hi != lo) {
        set += '-';
        set += gbnf_char(hi);
      }
    }
    alternatives.insert(alternatives.begin(), set + "]");
  }
  if (alternatives.empty()) throw Unsupported("a character class that matches nothing");
  if (alternatives.size() == 1) return alternatives[0];
  std::string joined;
  for (const std::string& alternative : alternatives) joined += (joined.empty() ? "" : " | ") + alternative;
  return "(" + joined + ")";
}

const Ranges kDigits = {{U'0', U'9'}};
const Ranges kWord = {{U'0', U'9'}, {U'A', U'Z'}, {U'_', U'_'}, {U'a', U'z'}};
// Whitespace as ECMA 262 and Python's re both count it (a validator may use either).
const Ranges kSpace = {{U'\t', U'\r'}, {0x1C, U' '}, {0x85, 0x85}, {0xA0, 0xA0}, {0x1680, 0x1680}, {0x2000, 0x200A},
                       {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};

// The complement of a set named by \d, \w or \s, in ASCII only: validators differ on which other characters
// are digits, word characters or spaces (Python's re counts Unicode ones), and ASCII is outside every such doubt.
Ranges ascii_complement(const Ranges& ranges) { return without(complement(ranges), 0x80, 0x10FFFF); }

// A recursive-descent reader of the pattern's code points.
class PatternReader {
 public:
  explicit PatternReader(std::string_view pattern) {
    for (std::size_t i = 0; i < pattern.size();) {
      const auto lead = static_cast<unsigned char>(pattern[i]);
      const std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : 4;
      char32_t c = length == 1 ? lead : lead & (0x7F >> length);
      for (std::size_t k = 1; k < length && i + k < pattern.size(); ++k) {
        c = (c << 6) | (static_cast<unsigned char>(pattern[i + k]) & 0x3F);
      }
      text_.push_back(c);
      i += length;
    }
  }

  std::string read() {
    if (!text_.empty() && text_.front() == U'^') ++pos_;
    std::size_t end = text_.size();
    if (end > pos_ && text_.back() == U'$' && !(end >= 2 && text_[end - 2] == U'\\')) --end;
    text_.resize(end);
    std::string expression = alternation();
    if (pos_ < text_.size()) throw Unsupported("an unmatched ')' in the pattern");
    return expression;
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  char32_t peek(std::size_t ahead = 0) const { return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : 0; }

  std::string alternation() {
    std::vector<std::string> alternatives = {sequence()};
    while (!at_end() && peek() == U'|') {
      ++pos_;
      alternatives.push_back(sequence());
    }
    if (alternatives.size() == 1) return alternatives[0];
    std::string joined;
    for (std::size_t i = 0; i < alternatives.size(); ++i) joined += (i == 0 ? "" : " | ") + alternatives[i];
    return "(" + joined + ")";
  }

  std::string sequence() {
    std::string out;
    while (!at_end() && peek() != U'|' && peek() != U')') {
      std::string item = atom();
      item = quantified(std::move(item));
      if (!item.empty()) out += (out.empty() ? "" : " ") + item;
    }
    return out.empty() ? "\"\"" : out;
  }

  std::string quantified(std::string item) {
    if (at_end()) return item;
    std::string op;
    const char32_t c = peek();
    if (c == U'*' || c == U'+' || c == U'?') {
      ++pos_;
      op = std::string(1, static_cast<char>(c));
    } else if (c == U'{') {
      const std::size_t save = pos_;
      ++pos_;
      const auto lo = count();
      std::optional<std::size_t> hi = lo;
      if (lo && peek() == U',') {
        ++pos_;
        hi = peek() == U'}' ? std::nullopt : count();
        if (!hi && peek() != U'}') hi = lo;  // not a count after all; caught below
      }
      if (!lo || peek() != U'}') {
        pos_ = save;  // a literal '{'
        return item;
      }
      ++pos_;
      if (*lo > kMaxRepetition || (hi && *hi > kMaxRepetition)) {
        throw Unsupported(fmt::format("a repetition count above {} in the pattern", kMaxRepetition));
      }
      if (hi && *hi < *lo) throw Unsupported("a repetition {m,n} with n below m in the pattern");
      op = hi ? (*hi == *lo ? fmt::format("{{{}}}", *lo) : fmt::format("{{{},{}}}", *lo, *hi)) : fmt::format("{{{},}}", *lo);
    } else {
      return item;
    }
    if (peek() == U'?') ++pos_;  // lazy: the same language
    if (peek() == U'+') throw Unsupported("a possessive quantifier in the pattern");
    if (peek() == U'*' || peek() == U'{' || peek() == U'?') throw Unsupported("a quantifier of a quantifier in the pattern");
    return "(" + item + ")" + op;
  }

  std::optional<std::size_t> count() {
    const std::size_t start = pos_;
    std::size_t value = 0;
    while (!at_end() && peek() >= U'0' && peek() <= U'9') {
      value = std::min<std::size_t>(value * 10 + (peek() - U'0'), kMaxRepetition + 1);
      ++pos_;
    }
    if (pos_ == start) return std::nullopt;
    return value;
  }

  std::string atom() {
    const char32_t c = peek();
    ++pos_;
    switch (c) {
      case U'(': return group();
      case U'[': return json_char_set(char_class());
      case U'.': return json_char_set(complement({{U'\n', U'\n'}, {U'\r', U'\r'}, {0x2028, 0x2029}}));
      case U'\\': return escape_atom();
      case U'^':
      case U'$': throw Unsupported("an anchor (^ or $) inside the pattern (only at its ends)");
      case U'*':
      case U'+':
      case U'?': throw Unsupported("a quantifier with nothing before it in the pattern");
      default: return json_char_literal(c);
    }
  }

  std::string group() {
    if (peek() == U'?') {
      const char32_t kind = peek(1);
      if (kind == U':') {
        pos_ += 2;
      } else if ((kind == U'<' && peek(2) != U'=' && peek(2) != U'!') || (kind == U'P' && peek(2) == U'<')) {
        while (!at_end() && peek() != U'>') ++pos_;  // a named group: the name does not matter here
        ++pos_;
      } else {
        throw Unsupported("a lookaround or inline flag group (?...) in the pattern");
      }
    }
    std::string inner = alternation();
    if (at_end() || peek() != U')') throw Unsupported("an unclosed '(' in the pattern");
    ++pos_;
    return "(" + inner + ")";
  }

  // After a backslash outside a class.
  std::string escape_atom() {
    if (at_end()) throw Unsupported("a pattern ending in a backslash");
    const char32_t c = peek();
    if (c == U'b' || c == U'B') throw Unsupported("a word boundary (\\b, \\B) in the pattern");
    if (c >= U'1' && c <= U'9') throw Unsupported("a back-reference in the pattern");
    if (c == U'p' || c == U'P') throw Unsupported("a Unicode property class (\\p) in the pattern");
    if (const std::optional<Ranges> set = class_escape()) return json_char_set(*set);
    return json_char_literal(escaped_char());
  }

  // \d \D \w \W \s \S, consumed; nullopt (nothing consumed) otherwise.
  std::optional<Ranges> class_escape() {
    const char32_t c = peek();
    const Ranges* base = c == U'd' || c == U'D' ? &kDigits : c == U'w' || c == U'W' ? &kWord : c == U's' || c == U'S' ? &kSpace : nullptr;
    if (base == nullptr) return std::nullopt;
    ++pos_;
    return (c == U'D' || c == U'W' || c == U'S') ? ascii_complement(*base) : *base;
  }

  // One escaped character after the backslash, consumed.
  char32_t escaped_char() {
    const char32_t c = peek();
    ++pos_;
    switch (c) {
      case U'n': return U'\n';
      case U't': return U'\t';
      case U'r': return U'\r';
      case U'f': return U'\f';
      case U'v': return U'\v';
      case U'0': return 0;
      case U'x': return hex(2);
      case U'u': return hex(4);
      default:
        if ((c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z') || (c >= U'0' && c <= U'9')) {
          throw Unsupported(fmt::format("the escape '\\{}' in the pattern", utf8(c)));
        }
        return c;  // an escaped punctuation character stands for itself
    }
  }

  char32_t hex(int digits) {
    char32_t value = 0;
    for (int i = 0; i < digits; ++i) {
      const char32_t c = peek();
      const int digit = c >= U'0' && c <= U'9' ? static_cast<int>(c - U'0')
                        : c >= U'a' && c <= U'f' ? static_cast<int>(c - U'a' + 10)
                        : c >= U'A' && c <= U'F' ? static_cast<int>(c - U'A' + 10)
                                                 : -1;
      if (digit < 0) throw Unsupported("a malformed \\x or \\u escape in the pattern");
      value = value * 16 + static_cast<char32_t>(digit);
      ++pos_;
    }
    return value;
  }

  // After '[': the class's characters (its complement for [^...]), through the closing ']'.
  Ranges char_class() {
    const bool negated = peek() == U'^';
    if (negated) ++pos_;
    Ranges ranges;
    bool named_sets = false;  // \d, \w or \s inside: a negation stays in ASCII (see ascii_complement)
    bool first = true;
    while (true) {
      if (at_end()) throw Unsupported("an unclosed '[' in the pattern");
      if (peek() == U']' && !first) break;
      first = false;
      char32_t lo;
      if (peek() == U'\\') {
        ++pos_;
        if (at_end()) throw Unsupported("a pattern ending in a backslash");
        if (peek() == U'b') {
          ++pos_;
          lo = U'\b';
        } else if (const std::optional<Ranges> set = class_escape()) {
          ranges.insert(ranges.end(), set->begin(), set->end());
          named_sets = true;
          continue;
        } else {
          lo = escaped_char();
        }
      } else {
        lo = peek();
        ++pos_;
      }
      char32_t hi = lo;
      if (peek() == U'-' && peek(1) != U']' && pos_ + 1 < text_.size()) {
        ++pos_;
        if (peek() == U'\\') {
          ++pos_;
          if (class_escape()) throw Unsupported("a range ending in a class escape in the pattern");
          hi = escaped_char();
        } else {
          hi = peek();
          ++pos_;
        }
        if (hi < lo) throw Unsupported("a character range out of order in the pattern");
      }
      ranges.emplace_back(lo, hi);
    }
    ++pos_;  // ']'
    if (!negated) return ranges;
    return named_sets ? ascii_complement(ranges) : complement(ranges);
  }

  std::vector<char32_t> text_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string gbnf_char(char32_t code_point) {
  if ((code_point >= U'a' && code_point <= U'z') || (code_point >= U'A' && code_point <= U'Z') ||
      (code_point >= U'0' && code_point <= U'9')) {
    return std::string(1, static_cast<char>(code_point));
  }
  if (code_point < 0x100) return fmt::format("\\x{:02X}", static_cast<unsigned>(code_point));
  if (code_point < 0x10000) return fmt::format("\\u{:04X}", static_cast<unsigned>(code_point));
  return fmt::format("\\U{:08X}", static_cast<unsigned>(code_point));
}

std::string gbnf_literal(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7F) {
      out += fmt::format("\\x{:02X}", static_cast<unsigned>(byte));
    } else {
      out += c;  // UTF-8 as is: the text comes from a parsed JSON document, so it is valid
    }
  }
  return out + "\"";
}

std::string integer_range(std::optional<std::int64_t> minimum, std::optional<std::int64_t> maximum) {
  const std::int64_t lo = minimum.value_or(-kLargest);
  const std::int64_t hi = maximum.value_or(kLargest);
  if (lo < -kLargest || hi > kLargest) {
    throw Unsupported(fmt::format("an integer bound beyond {} digits", kMaxDigits));
  }
  if (lo > hi) throw Unsupported(fmt::format("no integer lies between {} and {}", lo, hi));
  std::vector<std::string> alternatives;
  if (lo < 0) {
    // -x for x in [max(1, -hi), -lo]
    for (const std::string& part : non_negative_range(std::max<std::int64_t>(1, -hi), -lo)) {
      alternatives.push_back("\"-\" " + part);
    }
  }
  if (hi >= 0) {
    for (const std::string& part : non_negative_range(std::max<std::int64_t>(0, lo), hi)) alternatives.push_back(part);
  }
  if (alternatives.size() == 1) return alternatives[0];
  std::string joined;
  for (const std::string& alternative : alternatives) joined += (joined.empty() ? "" : " | ") + alternative;
  return "(" + joined + ")";
}

std::string string_format(std::string_view format) {
  // Subsets of RFC 3339 (never February 29, never year 0), RFC 4122, RFC 5321 and RFC 3986 that every validator
  // accepts.
  static const std::string kDate =
      "[1-9] [0-9]{3} \"-\" ((\"0\" [13578] | \"1\" [02]) \"-\" (\"0\" [1-9] | [12] [0-9] | \"3\" [01]) | "
      "(\"0\" [469] | \"11\") \"-\" (\"0\" [1-9] | [12] [0-9] | \"30\") | \"02-\" (\"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8]))";
  static const std::string kTime =
      "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{1,6})? "
      "(\"Z\" | [+\\-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])";
  if (format == "date") return kDate;
  if (format == "time") return kTime;
  if (format == "date-time") return kDate + " \"T\" " + kTime;
  if (format == "uuid") {
    return "[0-9a-f]{8} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{4} \"-\" [0-9a-f]{12}";
  }
  if (format == "email") {
    return "[a-z0-9]{1,20} (\".\" [a-z0-9]{1,20}){0,3} \"@\" [a-z0-9]{1,20} (\".\" [a-z0-9]{1,20}){0,3} \".\" [a-z]{2,6}";
  }
  if (format == "uri") {
    return "[a-z] [a-z0-9+.\\-]{0,15} \"://\" [a-z0-9]{1,20} (\".\" [a-z0-9]{1,20}){0,3} "
           "(\"/\" [a-zA-Z0-9._~\\-]{0,20}){0,8}";
  }
  throw Unsupported(fmt::format("the format '{}' (supported: date, time, date-time, uuid, email, uri)", format));
}

std::string string_pattern(std::string_view pattern) { return PatternReader(pattern).read(); }

}  // namespace hearth::grammar::json_schema
