// Grammar-constrained sampling: llama.cpp's GBNF syntax (so existing .gbnf files work), compiled once into rules
// of alternative element sequences, recognized by a pushdown matcher whose state is a deduplicated set of parse
// stacks, and applied to a whole vocabulary at once through a byte trie of the token pieces, so that a walk over
// the trie visits each shared prefix once. Inside a loop over a large character set (a string's characters),
// where that walk would visit nearly every token, per-vocabulary tables of the tokens by their leading run of the
// set's characters decide most tokens at once, and only the rest of each token is walked. Masks are cached per
// matcher state, since generations revisit states (inside a string, between list items) again and again.
//
// Hostile grammars are errors (GrammarError, with line:column for syntax), never unbounded work: undefined rules,
// left recursion, more than kMaxExpandedElements elements after repetitions are expanded, nesting deeper than
// kMaxNesting, invalid UTF-8, an empty grammar; at run time more than kMaxStacks parse stacks or a stack deeper than
// kMaxStackDepth.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace hearth::tokenizer {
class Tokenizer;
}

namespace hearth::grammar {

using TokenId = std::int32_t;

inline constexpr std::size_t kMaxExpandedElements = 10000;
inline constexpr std::size_t kMaxNesting = 64;
inline constexpr std::size_t kMaxStacks = 4096;
inline constexpr std::size_t kMaxStackDepth = 4096;

class GrammarError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CompiledRules;   // src/sampling/grammar_rules.h
struct CodePointRange;  // src/sampling/grammar_rules.h
struct CharacterClassTokens;  // src/sampling/grammar_vocab.cpp

// A compiled grammar; immutable and cheap to copy (copies share the rules).
class Grammar {
 public:
  // GBNF text to rules; `root` is the start rule. Throws GrammarError ("line L, column C: ...").
  static Grammar parse(std::string_view text);
  const CompiledRules& rules() const { return *rules_; }

 private:
  explicit Grammar(std::shared_ptr<const CompiledRules> rules) : rules_(std::move(rules)) {}
  std::shared_ptr<const CompiledRules> rules_;
};

// Where the recognizer is: the parse stacks still alive (each a list of element positions, the next element to
// match on top) and the bytes of a UTF-8 character begun but not finished.
struct MatchState {
  std::vector<std::vector<std::uint32_t>> stacks;  // sorted, unique; an empty stack means the input may end here
  std::uint32_t partial_code_point = 0;            // bits decoded so far of an unfinished character
  std::uint8_t continuation_bytes_left = 0;

  bool operator==(const MatchState&) const = default;
};

// Recognizes a byte stream against a grammar, byte by byte.
class Matcher {
 public:
  explicit Matcher(Grammar grammar);

  // Advances over `bytes` when every byte keeps the input a prefix of the language; returns false and leaves the
  // state unchanged otherwise.
  bool accept(std::string_view bytes);
  // The input so far is a whole sentence of the language.
  bool can_end() const;
  // The input so far is a whole sentence and nothing may follow it.
  bool must_end() const;
  void reset();

  const MatchState& state() const { return state_; }
  const Grammar& grammar() const { return grammar_; }
  // One byte from `state`; false (and `next` unspecified) when the byte leaves the language.
  bool step(const MatchState& state, std::uint8_t byte, MatchState& next) const;

 private:
  Grammar grammar_;
  MatchState start_;
  MatchState state_;
};

// The token pieces of one vocabulary as a byte trie, built once and shared by every constraint over it.
class Vocabulary {
 public:
  // pieces[id]: the bytes token id stands for; end_of_generation[id]: the token ends a generation.
  Vocabulary(std::vector<std::string> pieces, std::vector<bool> end_of_generation);
  // Pieces as Tokenizer::token_to_piece(id, show_special), end of generation as Tokenizer::is_eog. With
  // show_special, control tokens stand for their text (a grammar can then write a marker such as
  // "<|tool_call_begin|>" as the one token the model knows it by).
  static std::shared_ptr<const Vocabulary> from_tokenizer(const tokenizer::Tokenizer& tokenizer, bool show_special = false);

  std::size_t size() const { return pieces_.size(); }
  const std::string& piece(TokenId id) const { return pieces_[static_cast<std::size_t>(id)]; }
  bool is_end_of_generation(TokenId id) const { return end_of_generation_[static_cast<std::size_t>(id)]; }

  struct Node {
    std::vector<std::pair<std::uint8_t, std::uint32_t>> children;  // (byte, node index), ascending byte
    std::vector<TokenId> tokens;                                   // tokens whose piece ends at this node
  };
  const std::vector<Node>& trie() const { return trie_; }  // trie()[0] is the root (the empty prefix)
  const std::vector<TokenId>& end_of_generation_tokens() const { return end_tokens_; }
  // The tokens sorted by how they begin with characters of a set (`code_points`: sorted, disjoint ranges), for
  // masks inside loops over that set; built on first use and kept (a bounded number of sets), shared by every
  // constraint over this vocabulary. Thread-safe.
  std::shared_ptr<const CharacterClassTokens> class_tokens(const std::vector<CodePointRange>& code_points) const;

 private:
  std::vector<std::string> pieces_;
  std::vector<bool> end_of_generation_;
  std::vector<TokenId> end_tokens_;
  std::vector<Node> trie_;
  mutable std::mutex class_tokens_mutex_;
  mutable std::map<std::u32string, std::shared_ptr<const CharacterClassTokens>> class_tokens_;
};

struct MaskWalk;  // src/sampling/grammar_vocab.cpp

// The buffers the mask walks reuse from token to token. They hold no state: a copy starts without any.
class MaskWalkBuffers {
 public:
  MaskWalkBuffers();
  ~MaskWalkBuffers();
  MaskWalkBuffers(const MaskWalkBuffers&);
  MaskWalkBuffers& operator=(const MaskWalkBuffers&);
  MaskWalkBuffers(MaskWalkBuffers&&) noexcept;
  MaskWalkBuffers& operator=(MaskWalkBuffers&&) noexcept;
  std::unique_ptr<MaskWalk> walk;
};

// One bit per token, bit (id % 64) of word (id / 64).
using TokenMask = std::vector<std::uint64_t>;
inline bool mask_allows(const TokenMask& mask, TokenId id) {
  return (mask[static_cast<std::size_t>(id) / 64] >> (static_cast<std::size_t>(id) % 64)) & 1u;
}

// A grammar applied to a vocabulary during a generation: which tokens may come next, and advancing by the chosen
// one. End-of-generation tokens are allowed exactly where the grammar accepts; where nothing can follow, they are
// the only tokens allowed.
class TokenConstraint {
 public:
  TokenConstraint(Grammar grammar, std::shared_ptr<const Vocabulary> vocabulary);

  // The tokens allowed now. Cached per state, so the reference stays valid until the next accept() or reset().
  const TokenMask& allowed() const;
  // Advances by a token; throws GrammarError if the grammar does not allow it.
  void accept(TokenId token);
  // Advances by raw bytes (text that came before the constraint applied); false, and unchanged, where the grammar
  // does not allow them.
  bool accept_text(std::string_view bytes);
  void reset();
  const Matcher& matcher() const { return matcher_; }
  const Vocabulary& vocabulary() const { return *vocabulary_; }
  // Masks computed so far (each distinct state once, until the bounded cache is cleared).
  std::size_t cached_states() const { return walks_; }
  // The mask allowed() gives, computed the plain way, uncached: one walk of the whole trie stepping the Matcher.
  // Slow; the reference tests hold allowed() to.
  TokenMask reference_allowed() const;

 private:
  TokenMask compute_mask() const;
  void reference_walk(std::uint32_t node, const MatchState& state, TokenMask& mask) const;

  Matcher matcher_;
  std::shared_ptr<const Vocabulary> vocabulary_;
  // Masks by serialized state; bounded (cleared when full) so a long generation cannot grow it without limit.
  mutable std::unordered_map<std::string, std::shared_ptr<const TokenMask>> cache_;
  mutable std::shared_ptr<const TokenMask> current_;
  mutable std::size_t walks_ = 0;
  mutable MaskWalkBuffers buffers_;
};

}  // namespace hearth::grammar
