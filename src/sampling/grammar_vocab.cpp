// The per-vocabulary side: a byte trie of the token pieces, and the token mask of a matcher state computed by one
// depth-first walk of that trie (a prefix shared by many tokens is matched once; a subtree is pruned as soon as
// no parse stack survives its prefix), cached per state.
#include <algorithm>

#include <fmt/format.h>

#include "hearth/grammar.h"
#include "hearth/tokenizer.h"
#include "sampling/grammar_rules.h"
#include "sampling/grammar_stacks.h"

namespace hearth::grammar {
namespace {

constexpr std::size_t kMaxCachedMasks = 1024;

// A state as bytes: the cache key.
std::string serialize(const MatchState& state) {
  std::string key;
  key.push_back(static_cast<char>(state.continuation_bytes_left));
  key.append(reinterpret_cast<const char*>(&state.partial_code_point), sizeof state.partial_code_point);
  for (const auto& stack : state.stacks) {
    const auto size = static_cast<std::uint32_t>(stack.size());
    key.append(reinterpret_cast<const char*>(&size), sizeof size);
    key.append(reinterpret_cast<const char*>(stack.data()), stack.size() * sizeof(std::uint32_t));
  }
  return key;
}

void allow(TokenMask& mask, TokenId id) {
  mask[static_cast<std::size_t>(id) / 64] |= std::uint64_t{1} << (static_cast<std::size_t>(id) % 64);
}

}  // namespace

struct MaskWalk {
  explicit MaskWalk(const CompiledRules& rules) : stepper(rules) {}
  StackStepper stepper;
  std::vector<FlatStacks> levels;  // levels[d]: the stacks after the first d bytes of the trie path being walked
};

MaskWalkBuffers::MaskWalkBuffers() = default;
MaskWalkBuffers::~MaskWalkBuffers() = default;
MaskWalkBuffers::MaskWalkBuffers(const MaskWalkBuffers&) {}
MaskWalkBuffers& MaskWalkBuffers::operator=(const MaskWalkBuffers&) {
  walk.reset();
  return *this;
}
MaskWalkBuffers::MaskWalkBuffers(MaskWalkBuffers&&) noexcept = default;
MaskWalkBuffers& MaskWalkBuffers::operator=(MaskWalkBuffers&&) noexcept = default;

namespace {

// Allows every token under trie node `node` that the stacks at walk.levels[depth] let follow.
void walk_trie(const Vocabulary& vocabulary, MaskWalk& walk, std::uint32_t node, std::size_t depth, TokenMask& mask) {
  if (walk.levels.size() < depth + 2) walk.levels.resize(depth + 2);
  for (const auto& [byte, child] : vocabulary.trie()[node].children) {
    if (!walk.stepper.step(walk.levels[depth], byte, walk.levels[depth + 1])) continue;
    for (const TokenId id : vocabulary.trie()[child].tokens) allow(mask, id);
    if (!vocabulary.trie()[child].children.empty()) walk_trie(vocabulary, walk, child, depth + 1, mask);
  }
}

}  // namespace

Vocabulary::Vocabulary(std::vector<std::string> pieces, std::vector<bool> end_of_generation)
    : pieces_(std::move(pieces)), end_of_generation_(std::move(end_of_generation)) {
  if (end_of_generation_.size() != pieces_.size()) {
    throw GrammarError(fmt::format("vocabulary: {} pieces but {} end-of-generation flags", pieces_.size(),
                                   end_of_generation_.size()));
  }
  trie_.emplace_back();
  for (std::size_t id = 0; id < pieces_.size(); ++id) {
    if (end_of_generation_[id]) {
      end_tokens_.push_back(static_cast<TokenId>(id));
      continue;  // allowed by acceptance, never by its text
    }
    if (pieces_[id].empty()) continue;  // a token that shows nothing could repeat forever without progress
    std::uint32_t node = 0;
    for (const char c : pieces_[id]) {
      const auto byte = static_cast<std::uint8_t>(c);
      auto& children = trie_[node].children;
      const auto it = std::lower_bound(children.begin(), children.end(), byte,
                                       [](const auto& child, std::uint8_t b) { return child.first < b; });
      if (it != children.end() && it->first == byte) {
        node = it->second;
      } else {
        const auto child = static_cast<std::uint32_t>(trie_.size());
        children.insert(it, {byte, child});
        trie_.emplace_back();  // invalidates `children`; it is not used again
        node = child;
      }
    }
    trie_[node].tokens.push_back(static_cast<TokenId>(id));
  }
}

std::shared_ptr<const Vocabulary> Vocabulary::from_tokenizer(const tokenizer::Tokenizer& tokenizer) {
  std::vector<std::string> pieces(tokenizer.vocab_size());
  std::vector<bool> end_of_generation(tokenizer.vocab_size());
  for (std::size_t id = 0; id < pieces.size(); ++id) {
    pieces[id] = tokenizer.token_to_piece(static_cast<std::int32_t>(id), false);
    end_of_generation[id] = tokenizer.is_eog(static_cast<std::int32_t>(id));
  }
  return std::make_shared<const Vocabulary>(std::move(pieces), std::move(end_of_generation));
}

TokenConstraint::TokenConstraint(Grammar grammar, std::shared_ptr<const Vocabulary> vocabulary)
    : matcher_(std::move(grammar)), vocabulary_(std::move(vocabulary)) {}

void TokenConstraint::reference_walk(std::uint32_t node, const MatchState& state, TokenMask& mask) const {
  MatchState next;
  for (const auto& [byte, child] : vocabulary_->trie()[node].children) {
    if (!matcher_.step(state, byte, next)) continue;
    for (const TokenId id : vocabulary_->trie()[child].tokens) allow(mask, id);
    if (!vocabulary_->trie()[child].children.empty()) reference_walk(child, next, mask);
  }
}

TokenMask TokenConstraint::reference_allowed() const {
  TokenMask mask((vocabulary_->size() + 63) / 64, 0);
  if (!matcher_.must_end()) reference_walk(0, matcher_.state(), mask);
  if (matcher_.can_end()) {
    for (const TokenId id : vocabulary_->end_of_generation_tokens()) allow(mask, id);
  }
  return mask;
}

TokenMask TokenConstraint::compute_mask() const {
  TokenMask mask((vocabulary_->size() + 63) / 64, 0);
  // Where nothing may follow, only ending is allowed; the walk would find no token anyway.
  if (!matcher_.must_end()) {
    if (!buffers_.walk) buffers_.walk = std::make_unique<MaskWalk>(matcher_.grammar().rules());
    MaskWalk& walk = *buffers_.walk;
    if (walk.levels.empty()) walk.levels.resize(1);
    walk.levels[0].assign(matcher_.state());
    walk_trie(*vocabulary_, walk, 0, 0, mask);
  }
  if (matcher_.can_end()) {
    for (const TokenId id : vocabulary_->end_of_generation_tokens()) allow(mask, id);
  }
  return mask;
}

const TokenMask& TokenConstraint::allowed() const {
  if (current_) return *current_;
  std::string key = serialize(matcher_.state());
  if (const auto it = cache_.find(key); it != cache_.end()) {
    current_ = it->second;
    return *current_;
  }
  if (cache_.size() >= kMaxCachedMasks) cache_.clear();
  current_ = std::make_shared<const TokenMask>(compute_mask());
  ++walks_;
  cache_.emplace(std::move(key), current_);
  return *current_;
}

void TokenConstraint::accept(TokenId token) {
  if (token < 0 || static_cast<std::size_t>(token) >= vocabulary_->size()) {
    throw GrammarError(fmt::format("grammar: token {} is outside the vocabulary", token));
  }
  if (vocabulary_->is_end_of_generation(token)) {
    if (!matcher_.can_end()) throw GrammarError("grammar: the generation ended before the grammar accepts");
    return;
  }
  if (!matcher_.accept(vocabulary_->piece(token))) {
    throw GrammarError(fmt::format("grammar: token {} does not continue the grammar", token));
  }
  current_.reset();
}

void TokenConstraint::reset() {
  matcher_.reset();
  current_.reset();
}

}  // namespace hearth::grammar
