// The per-vocabulary side: a byte trie of the token pieces, and the token mask of a matcher state computed by one
// depth-first walk of that trie (a prefix shared by many tokens is matched once; a subtree is pruned as soon as
// no parse stack survives its prefix), cached per state.
#include <algorithm>

#include <fmt/format.h>

#include "hearth/grammar.h"
#include "hearth/tokenizer.h"

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

void TokenConstraint::walk(std::uint32_t node, const MatchState& state, TokenMask& mask) const {
  MatchState next;
  for (const auto& [byte, child] : vocabulary_->trie()[node].children) {
    if (!matcher_.step(state, byte, next)) continue;
    for (const TokenId id : vocabulary_->trie()[child].tokens) allow(mask, id);
    if (!vocabulary_->trie()[child].children.empty()) walk(child, next, mask);
  }
}

TokenMask TokenConstraint::compute_mask() const {
  TokenMask mask((vocabulary_->size() + 63) / 64, 0);
  // Where nothing may follow, only ending is allowed; the walk would find no token anyway.
  if (!matcher_.must_end()) walk(0, matcher_.state(), mask);
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

bool TokenConstraint::accept_text(std::string_view bytes) {
  if (!matcher_.accept(bytes)) return false;
  current_.reset();
  return true;
}

}  // namespace hearth::grammar
