// Random sentences of a grammar, byte by byte: at each step one of the bytes the recognizer allows, uniformly,
// ending with probability 1/8 wherever the grammar may end. Tests use them to check what a grammar generates
// without a model or a vocabulary in the way.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "hearth/grammar.h"

namespace hearth::test {

// nullopt when the walk runs past max_bytes (or reaches a state with no way on, which a grammar should not have).
inline std::optional<std::string> random_sentence(const grammar::Grammar& grammar, std::mt19937_64& random,
                                                  std::size_t max_bytes) {
  grammar::Matcher matcher(grammar);
  std::string text;
  grammar::MatchState next;
  std::vector<std::uint8_t> allowed;
  while (text.size() <= max_bytes) {
    if (matcher.must_end() || (matcher.can_end() && random() % 8 == 0)) return text;
    allowed.clear();
    for (int byte = 0; byte < 256; ++byte) {
      if (matcher.step(matcher.state(), static_cast<std::uint8_t>(byte), next)) allowed.push_back(static_cast<std::uint8_t>(byte));
    }
    if (allowed.empty()) return matcher.can_end() ? std::optional(text) : std::nullopt;
    const char chosen = static_cast<char>(allowed[random() % allowed.size()]);
    matcher.accept(std::string_view(&chosen, 1));
    text += chosen;
  }
  return std::nullopt;
}

}  // namespace hearth::test
