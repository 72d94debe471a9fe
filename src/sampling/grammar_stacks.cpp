#include "sampling/grammar_stacks.h"

#include <algorithm>

#include <fmt/format.h>

namespace hearth::grammar {

void FlatStacks::assign(const MatchState& state) {
  clear();
  for (const auto& stack : state.stacks) add(stack);
  partial_code_point = state.partial_code_point;
  continuation_bytes_left = state.continuation_bytes_left;
}

void StackStepper::expand(FlatStacks& out) {
  if (work_.size() > kMaxStackDepth) {
    throw GrammarError(fmt::format("grammar: a parse stack grew deeper than {} (nesting too deep)", kMaxStackDepth));
  }
  if (work_.empty() || rules_.elements[work_.back()].kind == Element::Kind::characters) {
    if (out.size() >= kMaxStacks) {
      throw GrammarError(fmt::format("grammar: more than {} parse stacks (the grammar is too ambiguous)", kMaxStacks));
    }
    out.add(work_);
    return;
  }
  const std::uint32_t position = work_.back();
  work_.pop_back();
  const bool continues = rules_.elements[position + 1].kind != Element::Kind::end_of_alternative;
  if (continues) work_.push_back(position + 1);
  for (const std::uint32_t first : rules_.alternatives[rules_.elements[position].rule]) {
    const bool pushes = rules_.elements[first].kind != Element::Kind::end_of_alternative;
    if (pushes) work_.push_back(first);
    expand(out);
    if (pushes) work_.pop_back();
  }
  if (continues) work_.pop_back();
  work_.push_back(position);
}

void StackStepper::deduplicate(FlatStacks& stacks) {
  if (stacks.size() < 2) return;
  order_.resize(stacks.size());
  for (std::uint32_t i = 0; i < order_.size(); ++i) order_[i] = i;
  const auto less = [&](std::uint32_t a, std::uint32_t b) {
    const auto x = stacks.stack(a), y = stacks.stack(b);
    return std::lexicographical_compare(x.begin(), x.end(), y.begin(), y.end());
  };
  const auto same = [&](std::uint32_t a, std::uint32_t b) {
    const auto x = stacks.stack(a), y = stacks.stack(b);
    return std::equal(x.begin(), x.end(), y.begin(), y.end());
  };
  std::sort(order_.begin(), order_.end(), less);
  bool duplicates = false;
  for (std::size_t i = 1; i < order_.size() && !duplicates; ++i) duplicates = same(order_[i - 1], order_[i]);
  if (!duplicates) return;
  unique_.clear();
  for (std::size_t i = 0; i < order_.size(); ++i) {
    if (i == 0 || !same(order_[i - 1], order_[i])) unique_.add(stacks.stack(order_[i]));
  }
  unique_.partial_code_point = stacks.partial_code_point;
  unique_.continuation_bytes_left = stacks.continuation_bytes_left;
  std::swap(stacks, unique_);
}

void StackStepper::advance(std::span<const std::uint32_t> stack, FlatStacks& out) {
  const std::uint32_t top = stack.back();
  work_.assign(stack.begin(), stack.end() - 1);
  if (rules_.elements[top + 1].kind != Element::Kind::end_of_alternative) work_.push_back(top + 1);
  expand(out);
}

void StackStepper::canonicalize(FlatStacks& stacks) {
  order_.resize(stacks.size());
  for (std::uint32_t i = 0; i < order_.size(); ++i) order_[i] = i;
  std::sort(order_.begin(), order_.end(), [&](std::uint32_t a, std::uint32_t b) {
    const auto x = stacks.stack(a), y = stacks.stack(b);
    return std::lexicographical_compare(x.begin(), x.end(), y.begin(), y.end());
  });
  unique_.clear();
  for (std::size_t i = 0; i < order_.size(); ++i) {
    const auto stack = stacks.stack(order_[i]);
    if (i > 0 && std::ranges::equal(stack, stacks.stack(order_[i - 1]))) continue;
    unique_.add(stack);
  }
  unique_.partial_code_point = stacks.partial_code_point;
  unique_.continuation_bytes_left = stacks.continuation_bytes_left;
  std::swap(stacks, unique_);
}

bool StackStepper::step(const FlatStacks& state, std::uint8_t byte, FlatStacks& next) {
  next.clear();
  std::uint32_t value = 0;
  std::uint8_t left = 0;  // continuation bytes still missing after this one
  if (!utf8_step(state.partial_code_point, state.continuation_bytes_left, byte, value, left)) return false;
  // A byte that starts a character (ASCII or a lead) is one lookup; a continuation byte asks the element.
  const bool starts = state.continuation_bytes_left == 0;
  if (left > 0) {
    const unsigned shift = 6u * left;
    const char32_t first = value << shift;
    const char32_t last = (value << shift) | ((char32_t{1} << shift) - 1);
    for (std::size_t i = 0; i < state.size(); ++i) {
      const auto stack = state.stack(i);
      if (stack.empty()) continue;
      const std::uint32_t top = stack.back();
      if (starts ? rules_.starting_bytes[top][byte] : rules_.elements[top].matches_any(first, last)) next.add(stack);
    }
    next.partial_code_point = value;
    next.continuation_bytes_left = left;
    return next.size() > 0;
  }
  for (std::size_t i = 0; i < state.size(); ++i) {
    const auto stack = state.stack(i);
    if (stack.empty()) continue;
    const std::uint32_t top = stack.back();
    if (starts ? rules_.starting_bytes[top][byte] : rules_.elements[top].matches(value)) advance(stack, next);
  }
  deduplicate(next);
  return next.size() > 0;
}

}  // namespace hearth::grammar
