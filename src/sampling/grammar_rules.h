// The compiled form of a grammar, shared by the parser that builds it and the matcher that runs it.
#pragma once

#include <algorithm>
#include <bitset>
#include <cstdint>
#include <string>
#include <vector>

namespace hearth::grammar {

struct CodePointRange {
  char32_t first;
  char32_t last;  // inclusive
};

struct Element {
  enum class Kind : std::uint8_t { characters, rule, end_of_alternative };
  Kind kind = Kind::end_of_alternative;
  bool negated = false;                 // characters: matches code points outside `ranges`
  std::uint32_t rule = 0;               // rule: the rule referred to
  std::vector<CodePointRange> ranges;   // characters: the set (negated with no ranges: any character)

  bool matches(char32_t code_point) const {
    bool inside = false;
    for (const CodePointRange& range : ranges) inside = inside || (code_point >= range.first && code_point <= range.last);
    return inside != negated;
  }
  // Whether some code point in [first, last] matches (for a UTF-8 character not yet complete).
  bool matches_any(char32_t first, char32_t last) const {
    if (!negated) {
      for (const CodePointRange& range : ranges) {
        if (range.first <= last && first <= range.last) return true;
      }
      return false;
    }
    // Negated: some code point of [first, last] lies outside every range.
    char32_t candidate = first;
    bool moved = true;
    while (moved && candidate <= last) {
      moved = false;
      for (const CodePointRange& range : ranges) {
        if (candidate >= range.first && candidate <= range.last) {
          if (range.last >= last) return false;
          candidate = range.last + 1;
          moved = true;
        }
      }
    }
    return candidate <= last;
  }
};

// Every alternative of every rule, laid end to end in `elements`, each closed by an end_of_alternative element;
// a parse stack holds positions into `elements`.
struct CompiledRules {
  std::vector<Element> elements;
  std::vector<std::vector<std::uint32_t>> alternatives;  // per rule: the position where each alternative starts
  std::vector<std::string> names;                        // per rule (repetitions and groups get generated names)
  std::uint32_t root = 0;
  // Per position of a characters element, the bytes that can begin a character it matches: an ASCII byte when
  // the element matches that character, a lead byte when it matches some character that byte begins (as
  // Matcher::step decides it for a lone lead byte). The mask walks test a byte with one lookup.
  std::vector<std::bitset<256>> starting_bytes;
  // Per position of a characters element, the code points it matches: sorted, disjoint, not adjacent, with the
  // negation applied (so sets compare by their ranges).
  std::vector<std::vector<CodePointRange>> code_points;
};

// Fills `rules.starting_bytes` and `rules.code_points` from the elements.
void index_characters(CompiledRules& rules);

inline bool contains(const std::vector<CodePointRange>& set, char32_t code_point) {
  const auto it = std::upper_bound(set.begin(), set.end(), code_point,
                                   [](char32_t c, const CodePointRange& range) { return c < range.first; });
  return it != set.begin() && code_point <= std::prev(it)->last;
}

// One byte of UTF-8 on top of a character begun (`partial` bits, `missing` continuation bytes, 0 for none):
// false for a byte no valid UTF-8 has there (overlong forms, surrogates, code points above U+10FFFF); else the
// bits so far in `value` and the continuation bytes still missing after this one in `left`.
inline bool utf8_step(std::uint32_t partial, std::uint8_t missing, std::uint8_t byte, std::uint32_t& value,
                      std::uint8_t& left) {
  if (missing == 0) {
    const std::uint8_t length = byte < 0x80 ? 1 : (byte >> 5) == 0x6 ? 2 : (byte >> 4) == 0xE ? 3 : (byte >> 3) == 0x1E ? 4 : 0;
    if (length == 0) return false;  // a continuation byte or 0xF8..0xFF cannot start a character
    value = length == 1 ? byte : byte & (0x7F >> length);
    left = static_cast<std::uint8_t>(length - 1);
    return !((length == 2 && value < 2) || (length == 4 && value > 4));  // overlong, or above U+10FFFF
  }
  if ((byte & 0xC0) != 0x80) return false;
  // The second byte decides what the lead alone cannot: overlong forms, surrogates, code points above U+10FFFF.
  if (missing == 2 && ((partial == 0 && byte < 0xA0) || (partial == 0xD && byte >= 0xA0))) return false;
  if (missing == 3 && ((partial == 0 && byte < 0x90) || (partial == 4 && byte >= 0x90))) return false;
  value = (partial << 6) | (byte & 0x3F);
  left = static_cast<std::uint8_t>(missing - 1);
  return true;
}

}  // namespace hearth::grammar
