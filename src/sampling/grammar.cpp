// The pushdown recognizer. A parse stack lists element positions with the next element to match on top; after
// expansion every top is a character set (rule references are replaced by their alternatives), so one input
// character advances a stack by popping a matching top and expanding what is below. A position that ends its
// alternative is never pushed, so right recursion (x*, lists) runs in constant stack depth.
#include <algorithm>

#include <fmt/format.h>

#include "hearth/grammar.h"
#include "sampling/grammar_rules.h"

namespace hearth::grammar {
namespace {

using Stack = std::vector<std::uint32_t>;
using StackSet = std::vector<Stack>;

// Adds `stack`, expanded until its top is a character set (or it is empty), to `out`.
void expand(const CompiledRules& rules, Stack stack, StackSet& out) {
  if (stack.size() > kMaxStackDepth) {
    throw GrammarError(fmt::format("grammar: a parse stack grew deeper than {} (nesting too deep)", kMaxStackDepth));
  }
  if (stack.empty() || rules.elements[stack.back()].kind == Element::Kind::characters) {
    if (out.size() >= kMaxStacks) {
      throw GrammarError(fmt::format("grammar: more than {} parse stacks (the grammar is too ambiguous)", kMaxStacks));
    }
    out.push_back(std::move(stack));
    return;
  }
  const std::uint32_t position = stack.back();
  const Element& reference = rules.elements[position];
  stack.pop_back();
  if (rules.elements[position + 1].kind != Element::Kind::end_of_alternative) stack.push_back(position + 1);
  const auto& alternatives = rules.alternatives[reference.rule];
  for (std::size_t i = 0; i < alternatives.size(); ++i) {
    const std::uint32_t first = alternatives[i];
    Stack next = i + 1 == alternatives.size() ? std::move(stack) : stack;
    if (rules.elements[first].kind != Element::Kind::end_of_alternative) next.push_back(first);
    expand(rules, std::move(next), out);
  }
}

void normalize(StackSet& stacks) {
  std::sort(stacks.begin(), stacks.end());
  stacks.erase(std::unique(stacks.begin(), stacks.end()), stacks.end());
}

// Stacks after one complete character.
void advance(const CompiledRules& rules, const StackSet& stacks, char32_t code_point, StackSet& out) {
  out.clear();
  for (const Stack& stack : stacks) {
    if (stack.empty() || !rules.elements[stack.back()].matches(code_point)) continue;
    const std::uint32_t position = stack.back();
    Stack rest(stack.begin(), stack.end() - 1);
    if (rules.elements[position + 1].kind != Element::Kind::end_of_alternative) rest.push_back(position + 1);
    expand(rules, std::move(rest), out);
  }
  normalize(out);
}

}  // namespace

Matcher::Matcher(Grammar grammar) : grammar_(std::move(grammar)) {
  const CompiledRules& rules = grammar_.rules();
  for (const std::uint32_t first : rules.alternatives[rules.root]) {
    Stack stack;
    if (rules.elements[first].kind != Element::Kind::end_of_alternative) stack.push_back(first);
    expand(rules, std::move(stack), start_.stacks);
  }
  normalize(start_.stacks);
  state_ = start_;
}

bool Matcher::step(const MatchState& state, std::uint8_t byte, MatchState& next) const {
  const CompiledRules& rules = grammar_.rules();
  std::uint32_t value = 0;
  std::uint8_t left = 0;  // continuation bytes still missing after this one
  if (!utf8_step(state.partial_code_point, state.continuation_bytes_left, byte, value, left)) return false;
  if (left > 0) {
    // Inside a character: keep the stacks whose top admits some character that starts with these bits.
    const unsigned shift = 6u * left;
    // After a lead byte alone, the shortest form sets the smallest code point: 0x80, 0x800 or 0x10000.
    constexpr char32_t kSmallest[] = {0, 0x80, 0x800, 0x10000};
    const char32_t first = std::max<char32_t>(value << shift, state.continuation_bytes_left == 0 ? kSmallest[left] : char32_t{0});
    const char32_t last = (value << shift) | ((char32_t{1} << shift) - 1);
    next.stacks.clear();
    for (const Stack& stack : state.stacks) {
      if (!stack.empty() && rules.elements[stack.back()].matches_any(first, last)) next.stacks.push_back(stack);
    }
    next.partial_code_point = value;
    next.continuation_bytes_left = left;
    return !next.stacks.empty();
  }
  next.partial_code_point = 0;
  next.continuation_bytes_left = 0;
  advance(rules, state.stacks, value, next.stacks);
  return !next.stacks.empty();
}

bool Matcher::accept(std::string_view bytes) {
  MatchState current = state_;
  MatchState next;
  for (const char c : bytes) {
    if (!step(current, static_cast<std::uint8_t>(c), next)) return false;
    std::swap(current, next);
  }
  state_ = std::move(current);
  return true;
}

bool Matcher::can_end() const {
  return state_.continuation_bytes_left == 0 && !state_.stacks.empty() && state_.stacks.front().empty();
}

bool Matcher::must_end() const { return can_end() && state_.stacks.size() == 1; }

void Matcher::reset() { state_ = start_; }

}  // namespace hearth::grammar
