// The per-vocabulary side: a byte trie of the token pieces, and the token mask of a matcher state, cached per
// state. A mask is one depth-first walk of the trie (a prefix shared by many tokens is matched once; a subtree is
// pruned as soon as no parse stack survives its prefix), except inside a loop over a large character set (the
// characters of a JSON string), where a walk would visit nearly the whole trie: there the state comes back after
// every character of the set, so the tokens made only of such characters are allowed from a per-vocabulary
// table, and only what follows each token's run of them is walked, in small tries of those remainders.
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

// Adds `bytes` (not empty) to `trie` as token `id`'s piece.
void insert(std::vector<Vocabulary::Node>& trie, std::string_view bytes, TokenId id) {
  std::uint32_t node = 0;
  for (const char c : bytes) {
    const auto byte = static_cast<std::uint8_t>(c);
    auto& children = trie[node].children;
    const auto it = std::lower_bound(children.begin(), children.end(), byte,
                                     [](const auto& child, std::uint8_t b) { return child.first < b; });
    if (it != children.end() && it->first == byte) {
      node = it->second;
    } else {
      const auto child = static_cast<std::uint32_t>(trie.size());
      children.insert(it, {byte, child});
      trie.emplace_back();  // invalidates `children`; it is not used again
      node = child;
    }
  }
  trie[node].tokens.push_back(id);
}

// How many whole characters of `set` begin `piece`, and the byte offset where they stop. A character the Matcher
// would refuse as UTF-8 stops the run, and so does one the piece cuts short.
std::pair<std::size_t, std::size_t> leading_run(std::string_view piece, const std::vector<CodePointRange>& set) {
  std::size_t count = 0;
  std::size_t offset = 0;
  while (offset < piece.size()) {
    const auto lead = static_cast<std::uint8_t>(piece[offset]);
    const std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
    if (length == 0 || offset + length > piece.size()) break;
    char32_t value = length == 1 ? lead : lead & (0x7F >> length);
    if ((length == 2 && value < 2) || (length == 4 && value > 4)) break;
    bool valid = true;
    for (std::size_t i = 1; i < length && valid; ++i) {
      const auto byte = static_cast<std::uint8_t>(piece[offset + i]);
      valid = (byte & 0xC0) == 0x80;
      if (i == 1 && length == 3) valid = valid && !((value == 0 && byte < 0xA0) || (value == 0xD && byte >= 0xA0));
      if (i == 1 && length == 4) valid = valid && !((value == 0 && byte < 0x90) || (value == 4 && byte >= 0x90));
      value = (value << 6) | (byte & 0x3F);
    }
    if (!valid || !contains(set, value)) break;
    offset += length;
    ++count;
  }
  return {count, offset};
}

}  // namespace

// The tokens of a vocabulary by their leading run of characters of one set: `whole_within[k]` holds the tokens
// made of 1 to k such characters and nothing else; `remainders[m]` is a trie of what follows the run in the other
// tokens whose run is m characters long (m = 0: the whole piece). A token whose run is longer than kMaxRun is
// filed under m = 0, so every token is in exactly one place.
struct CharacterClassTokens {
  static constexpr std::size_t kMaxRun = 64;
  std::vector<TokenMask> whole_within;                      // [0 ..= kMaxRun]
  std::vector<std::vector<Vocabulary::Node>> remainders;    // [0 ..= kMaxRun]
};

struct MaskWalk {
  explicit MaskWalk(const CompiledRules& rules) : stepper(rules) {}
  StackStepper stepper;
  std::vector<FlatStacks> levels;  // levels[d]: the stacks after the first d bytes of the trie path being walked
  std::vector<FlatStacks> run_states;  // run_states[m]: the stacks after m characters of a loop's set
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

// A set smaller than this leaves the walk small anyway: few tokens can follow.
constexpr std::size_t kLargeSet = 64;

std::size_t size_of(const std::vector<CodePointRange>& set) {
  std::size_t size = 0;
  for (const CodePointRange& range : set) size += range.last - range.first + 1;
  return size;
}

// Whether `inner` lies inside `outer` (both sorted, disjoint, not adjacent: a range of `inner` lies in one of `outer`).
bool includes(const std::vector<CodePointRange>& outer, const std::vector<CodePointRange>& inner) {
  return std::all_of(inner.begin(), inner.end(), [&](const CodePointRange& range) {
    const auto it = std::upper_bound(outer.begin(), outer.end(), range.first,
                                     [](char32_t c, const CodePointRange& r) { return c < r.first; });
    return it != outer.begin() && range.last <= std::prev(it)->last;
  });
}

bool disjoint(const std::vector<CodePointRange>& a, const std::vector<CodePointRange>& b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i].last < b[j].first) ++i;
    else if (b[j].last < a[i].first) ++j;
    else return false;
  }
  return true;
}

// Allows every token under node `node` of `trie` that the stacks at walk.levels[depth] let follow.
void walk_trie(const std::vector<Vocabulary::Node>& trie, MaskWalk& walk, std::uint32_t node, std::size_t depth,
               TokenMask& mask) {
  if (walk.levels.size() < depth + 2) walk.levels.resize(depth + 2);
  for (const auto& [byte, child] : trie[node].children) {
    if (!walk.stepper.step(walk.levels[depth], byte, walk.levels[depth + 1])) continue;
    for (const TokenId id : trie[child].tokens) allow(mask, id);
    if (!trie[child].children.empty()) walk_trie(trie, walk, child, depth + 1, mask);
  }
}

// The mask of the stacks at walk.levels[0] (no character begun) when they loop over a large set: every top
// either matches all of the set or none of it, so each character of the set moves the stacks alike, and the
// states after 0, 1, 2, ... such characters form a chain that ends or comes back (a string's characters come
// back at once; a bounded repetition runs out). A token is then decided by the state after its leading run
// (CharacterClassTokens): allowed if that state is alive and the run is the whole token, else by walking the rest
// of it from there. False, leaving `mask` and walk.levels[0] alone, where the stacks are no such loop.
bool mask_in_loop(const CompiledRules& rules, const Vocabulary& vocabulary, MaskWalk& walk, TokenMask& mask) {
  const FlatStacks& state = walk.levels[0];
  if (state.continuation_bytes_left != 0) return false;
  const std::vector<CodePointRange>* set = nullptr;
  std::size_t largest = 0;
  for (std::size_t i = 0; i < state.size(); ++i) {
    if (state.stack(i).empty()) continue;
    const auto& top_set = rules.code_points[state.stack(i).back()];
    if (const std::size_t size = size_of(top_set); size > largest) set = &top_set, largest = size;
  }
  if (largest < kLargeSet) return false;

  constexpr std::size_t kMaxRun = CharacterClassTokens::kMaxRun;
  auto& runs = walk.run_states;
  if (runs.size() < kMaxRun + 1) runs.resize(kMaxRun + 1);
  runs[0] = state;
  walk.stepper.canonicalize(runs[0]);
  std::size_t known = 1;                        // runs[0 .. known) are the states after that many characters
  std::size_t comes_back_to = kMaxRun + 1;      // where the state after `known` characters is runs[comes_back_to]
  bool ends = false;                            // or: after `known` characters nothing is alive
  while (known <= kMaxRun) {
    FlatStacks& next = runs[known];
    next.clear();
    const FlatStacks& last = runs[known - 1];
    for (std::size_t i = 0; i < last.size(); ++i) {
      const auto stack = last.stack(i);
      if (stack.empty()) continue;
      const auto& top_set = rules.code_points[stack.back()];
      if (includes(top_set, *set)) walk.stepper.advance(stack, next);
      else if (!disjoint(top_set, *set)) return false;
    }
    if (next.size() == 0) {
      ends = true;
      break;
    }
    walk.stepper.canonicalize(next);
    for (std::size_t j = 0; j < known && comes_back_to > kMaxRun; ++j) {
      if (runs[j].positions == next.positions && runs[j].ends == next.ends) comes_back_to = j;
    }
    if (comes_back_to <= kMaxRun) break;
    ++known;
  }
  // Runs of up to kMaxRun characters are all the tables hold; beyond `known` the chain repeats or is dead.
  const std::size_t alive = ends ? known - 1 : kMaxRun;  // the longest run after which something is alive
  const auto state_after = [&](std::size_t run) -> const FlatStacks& {
    if (run < known) return runs[run];
    return runs[comes_back_to + (run - comes_back_to) % (known - comes_back_to)];
  };
  const std::shared_ptr<const CharacterClassTokens> tokens = vocabulary.class_tokens(*set);
  const TokenMask& whole = tokens->whole_within[alive];
  for (std::size_t word = 0; word < mask.size(); ++word) mask[word] |= whole[word];
  for (std::size_t run = 0; run <= alive; ++run) {
    const auto& remainders = tokens->remainders[run];
    if (remainders[0].children.empty()) continue;
    walk.levels[0] = state_after(run);
    walk_trie(remainders, walk, 0, 0, mask);
  }
  return true;
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
    insert(trie_, pieces_[id], static_cast<TokenId>(id));
  }
}

std::shared_ptr<const CharacterClassTokens> Vocabulary::class_tokens(const std::vector<CodePointRange>& code_points) const {
  constexpr std::size_t kMaxSets = 64;
  std::u32string key;
  for (const CodePointRange& range : code_points) key += {range.first, range.last};
  std::lock_guard lock(class_tokens_mutex_);
  if (const auto it = class_tokens_.find(key); it != class_tokens_.end()) return it->second;
  auto tokens = std::make_shared<CharacterClassTokens>();
  constexpr std::size_t kLevels = CharacterClassTokens::kMaxRun + 1;
  tokens->whole_within.assign(kLevels, TokenMask((size() + 63) / 64, 0));
  tokens->remainders.assign(kLevels, std::vector<Node>(1));
  for (std::size_t id = 0; id < size(); ++id) {
    // The same tokens as the trie holds.
    if (end_of_generation_[id] || pieces_[id].empty()) continue;
    const std::string& piece = pieces_[id];
    auto [run, offset] = leading_run(piece, code_points);
    if (run > CharacterClassTokens::kMaxRun) run = 0, offset = 0;
    if (offset == piece.size()) {
      allow(tokens->whole_within[run], static_cast<TokenId>(id));
    } else {
      insert(tokens->remainders[run], std::string_view(piece).substr(offset), static_cast<TokenId>(id));
    }
  }
  for (std::size_t k = 1; k < kLevels; ++k) {
    for (std::size_t word = 0; word < tokens->whole_within[k].size(); ++word) {
      tokens->whole_within[k][word] |= tokens->whole_within[k - 1][word];
    }
  }
  if (class_tokens_.size() >= kMaxSets) class_tokens_.clear();
  class_tokens_.emplace(std::move(key), tokens);
  return tokens;
}

std::shared_ptr<const Vocabulary> Vocabulary::from_tokenizer(const tokenizer::Tokenizer& tokenizer, bool show_special) {
  std::vector<std::string> pieces(tokenizer.vocab_size());
  std::vector<bool> end_of_generation(tokenizer.vocab_size());
  for (std::size_t id = 0; id < pieces.size(); ++id) {
    pieces[id] = tokenizer.token_to_piece(static_cast<std::int32_t>(id), show_special);
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
    if (!mask_in_loop(matcher_.grammar().rules(), *vocabulary_, walk, mask)) walk_trie(vocabulary_->trie(), walk, 0, 0, mask);
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

bool TokenConstraint::accept_text(std::string_view bytes) {
  if (!matcher_.accept(bytes)) return false;
  current_.reset();
  return true;
}

}  // namespace hearth::grammar
