// Matcher::step over parse stacks laid end to end in two flat buffers: the form the token-mask walks use, where
// one step is taken for every trie node visited. Buffers are reused from step to step, so once warm a step
// allocates nothing; a character is tested by one lookup in the rules' starting_bytes where it is one byte.
// Matcher::step stays the plain reference these steps are tested against (through whole token masks).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "hearth/grammar.h"
#include "sampling/grammar_rules.h"

namespace hearth::grammar {

// A set of parse stacks and an unfinished character, as in MatchState.
struct FlatStacks {
  std::vector<std::uint32_t> positions;  // every stack, bottom first, end to end
  std::vector<std::uint32_t> ends;       // one past each stack's last position in `positions`
  std::uint32_t partial_code_point = 0;
  std::uint8_t continuation_bytes_left = 0;

  std::size_t size() const { return ends.size(); }
  std::span<const std::uint32_t> stack(std::size_t i) const {
    const std::uint32_t begin = i == 0 ? 0 : ends[i - 1];
    return {positions.data() + begin, ends[i] - begin};
  }
  void clear() {
    positions.clear();
    ends.clear();
    partial_code_point = 0;
    continuation_bytes_left = 0;
  }
  void add(std::span<const std::uint32_t> stack) {
    positions.insert(positions.end(), stack.begin(), stack.end());
    ends.push_back(static_cast<std::uint32_t>(positions.size()));
  }
  void assign(const MatchState& state);
};

class StackStepper {
 public:
  explicit StackStepper(const CompiledRules& rules) : rules_(rules) {}
  // Matcher::step: false (and `next` unspecified) when the byte leaves the language. Stacks are deduplicated,
  // not sorted. Throws GrammarError past kMaxStacks or kMaxStackDepth, as the Matcher does.
  bool step(const FlatStacks& state, std::uint8_t byte, FlatStacks& next);
  // Adds to `out` what `stack` becomes once its top has matched a whole character (the same for every
  // character it matches).
  void advance(std::span<const std::uint32_t> stack, FlatStacks& out);
  // Sorts and deduplicates, so that equal sets have equal buffers.
  void canonicalize(FlatStacks& stacks);

 private:
  // Adds work_, expanded until its top is a character set (or it is empty), to `out`; leaves work_ as it was.
  void expand(FlatStacks& out);
  void deduplicate(FlatStacks& stacks);

  const CompiledRules& rules_;
  std::vector<std::uint32_t> work_;
  std::vector<std::uint32_t> order_;
  FlatStacks unique_;
};

}  // namespace hearth::grammar
