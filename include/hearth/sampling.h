// Sampling: from a row of logits to the next token, plus the rules that end a generation.
//
// The sampler chain follows llama.cpp's semantics stage by stage (logit bias, repetition penalties, top-k,
// typical-p, top-p, min-p, temperature, then a draw), so that the same parameters mean the same thing in both
// engines. Every draw comes from a seeded std::mt19937_64 (whose output sequence the C++ standard fixes) turned into
// numbers by Hearth's own code, so a seed reproduces the same tokens with any standard library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hearth/grammar.h"

namespace hearth::sampling {

using TokenId = std::int32_t;

// Misuse of the sampling API with values a caller (possibly a remote one) supplied: a bias for a token outside the
// vocabulary, an empty stop string, every candidate banned.
class SamplingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TokenData {
  TokenId id;
  float logit;
  float probability;  // valid only after Candidates::compute_probabilities()
};

// The order of candidates everywhere: higher logit first, lower id first among equal logits. A total order, so every
// sort and selection gives one result with any standard library.
bool higher_logit(const TokenData& a, const TokenData& b);

// The working set the stages narrow down: one entry per token still in the running.
class Candidates {
 public:
  // One candidate per vocabulary entry; a NaN logit counts as -inf (a broken row must not break the ordering).
  static Candidates from_logits(std::span<const float> logits);
  // The same, reusing this set's memory (a sampler keeps one set for every token it draws).
  void assign_logits(std::span<const float> logits);
  explicit Candidates(std::vector<TokenData> items, bool sorted_by_logit = false);

  std::span<TokenData> items() { return items_; }
  std::span<const TokenData> items() const { return items_; }
  std::size_t size() const { return items_.size(); }
  const TokenData& operator[](std::size_t i) const { return items_[i]; }

  // True when items() is in descending logit order (ties: ascending id, see higher_logit).
  bool sorted_by_logit() const { return sorted_prefix_ == items_.size(); }
  // Sorts so that the first `n` items are the `n` highest logits in order; cheaper than a full sort for small n.
  void sort_prefix_by_logit(std::size_t n);
  void sort_by_logit() { sort_prefix_by_logit(items_.size()); }
  // Moves the `n` highest logits to the front, in no particular order (linear time).
  void select_best(std::size_t n);
  // Stages that rewrite logits or reorder items call this.
  void mark_unsorted() { sorted_prefix_ = 0; }
  // Keeps the first `n` items.
  void truncate(std::size_t n);
  // Softmax of the current logits into each item's probability.
  void compute_probabilities();

 private:
  std::vector<TokenData> items_;
  std::size_t sorted_prefix_ = 0;  // items_[0, sorted_prefix_) are the highest logits in order
};

// The recent tokens the repetition penalties look at.
class TokenWindow {
 public:
  // capacity < 0: unbounded (every accepted token counts); 0: nothing is remembered.
  explicit TokenWindow(std::int32_t capacity);
  void push(TokenId token);
  void clear();
  // How often `token` occurs in the window.
  std::int32_t count(TokenId token) const;
  std::size_t size() const { return tokens_.size(); }
  // Each token in the window once, in ascending id order.
  std::vector<TokenId> distinct() const;

 private:
  std::int32_t capacity_;
  std::deque<TokenId> tokens_;
  std::unordered_map<TokenId, std::int32_t> counts_;
};

// The individual stages, usable on their own. `min_keep` is the fewest candidates a truncating stage leaves.
void apply_logit_bias(Candidates& candidates, const std::map<TokenId, float>& bias);
// A token seen in the window: its logit is divided by `repeat` when positive and multiplied by it otherwise, then
// lowered by count * `frequency` + `presence`.
void apply_penalties(Candidates& candidates, const TokenWindow& window, float repeat, float frequency, float presence);
// The same for one logit of a token seen `count` times.
float penalized_logit(float logit, std::int32_t count, float repeat, float frequency, float presence);
// k <= 0: no-op.
void apply_top_k(Candidates& candidates, std::int32_t k);
// Keeps the most probable tokens until their mass reaches p (p >= 1: no-op).
void apply_top_p(Candidates& candidates, float p, std::size_t min_keep);
// Keeps tokens with probability >= p * (the highest probability) (p <= 0: no-op).
void apply_min_p(Candidates& candidates, float p, std::size_t min_keep);
// Locally typical sampling: keeps the tokens whose surprise is closest to the entropy until their mass exceeds p
// (p >= 1: no-op). Leaves the candidates in that order.
void apply_typical_p(Candidates& candidates, float p, std::size_t min_keep);
// t > 0 divides every logit by t; t <= 0 keeps only the highest logit (greedy).
void apply_temperature(Candidates& candidates, float t);

// The well-defined random source of a sampler.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}
  // Uniform in [0, 1) with 53 random bits.
  double uniform();

 private:
  std::mt19937_64 engine_;
};

// The highest logit (ties: lowest id).
TokenId pick_greedy(const Candidates& candidates);
// Draws one candidate in proportion to the softmax of its logit.
TokenId pick_random(Candidates& candidates, Rng& rng);

enum class Stage { penalties, top_k, typical_p, top_p, min_p, temperature };

// llama.cpp's default order: penalties, top-k, typical-p, top-p, min-p, temperature. The draw always comes last and
// logit bias always first.
std::vector<Stage> default_stage_order();
std::string_view stage_name(Stage stage);
// "top_k" / "top-k" / "k" style names as llama.cpp's --samplers takes them; nullopt if unknown.
std::optional<Stage> stage_from_name(std::string_view name);

// Defaults are llama.cpp's (common_params_sampling).
struct SamplingParams {
  float temperature = 0.8f;  // <= 0: greedy
  std::int32_t top_k = 40;   // <= 0: off
  float top_p = 0.95f;       // >= 1: off
  float min_p = 0.05f;       // <= 0: off
  float typical_p = 1.0f;    // >= 1: off
  std::size_t min_keep = 0;
  std::int32_t penalty_last_n = 64;  // window of recent tokens; 0: off; < 0: every accepted token
  float repeat_penalty = 1.0f;       // 1: off
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  std::map<TokenId, float> logit_bias;  // added to the logit; -infinity bans the token
  std::optional<std::uint64_t> seed;    // nullopt: a fresh random seed
  std::vector<Stage> order = default_stage_order();
};

// A sampler chain with its state (the penalty window and the random source).
class Sampler {
 public:
  explicit Sampler(SamplingParams params);

  // Runs the chain over one row of logits (one per vocabulary entry) and draws the next token. Does not accept it.
  TokenId sample(std::span<const float> logits);
  // Runs the chain without drawing: the candidates the draw would choose from, their probabilities computed.
  Candidates candidates(std::span<const float> logits) const;
  // Records a token (prompt or generated) in the penalty window.
  void accept(TokenId token);
  // Forgets the accepted tokens and restarts the random source from the seed (and the grammar from its start).
  void reset();
  // Constrains every later draw to the grammar: a stage before the chain gives -inf to each token that cannot
  // continue it (end-of-generation tokens only where it accepts), and accept() advances it. Set it after the
  // prompt's tokens were accepted: the grammar describes the generated text only.
  void set_grammar(grammar::TokenConstraint constraint);
  void clear_grammar() { grammar_.reset(); }
  const std::optional<grammar::TokenConstraint>& grammar() const { return grammar_; }

  const SamplingParams& params() const { return params_; }
  std::uint64_t seed() const { return seed_; }

 private:
  // Runs logit bias and the stages over `logits` into `candidates`.
  void run_chain(std::span<const float> logits, Candidates& candidates) const;
  // True when the chain ends in a greedy pick that no stage before it can change: temperature <= 0 and no
  // typical-p ahead of it (typical-p may drop the most probable token; the other stages never do).
  bool greedy_shortcut() const;
  TokenId sample_greedy(std::span<const float> logits) const;
  void check_bias_tokens(std::size_t n_vocab) const;
  // `logits` with the grammar's banned tokens at -inf, in `out`; `logits` itself without a grammar.
  std::span<const float> constrain(std::span<const float> logits, std::vector<float>& out) const;

  SamplingParams params_;
  std::uint64_t seed_;
  Rng rng_;
  TokenWindow window_;
  Candidates scratch_{std::vector<TokenData>{}};  // reused by sample() so that no token allocates
  std::optional<grammar::TokenConstraint> grammar_;
  std::vector<float> constrained_;  // reused by sample() under a grammar
};

// Finds stop strings in streamed text. Text that could be the start of a stop string is held back until the next
// piece shows whether it is; what feed() returns is safe to show.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stop_strings);

  struct Result {
    std::string text;                     // safe to emit now (on a stop: everything before the stop string)
    std::optional<std::size_t> stop;      // index of the stop string found, if any
    std::size_t cut_offset = 0;           // on a stop: where it starts, in bytes from the start of the stream
  };
  // Adds streamed text. After a stop is found, further text is ignored.
  Result feed(std::string_view text);
  // The held-back text, when the stream ends without a stop.
  std::string flush();
  bool stopped() const { return stopped_; }
  // Bytes currently held back.
  std::size_t held() const { return pending_.size(); }

 private:
  std::vector<std::string> stop_strings_;
  std::string pending_;
  std::size_t emitted_ = 0;  // bytes returned so far
  bool stopped_ = false;
};

enum class StopReason { none, end_of_generation, stop_string, max_tokens };
std::string_view stop_reason_name(StopReason reason);

// Decides when a generation ends: an end-of-generation token (the tokenizer's is_eog: EOS, EOT, ...), a stop string
// in the text, or a token limit. Turns each token's text piece into the text to emit.
class GenerationStop {
 public:
  // max_tokens 0: no limit.
  GenerationStop(std::function<bool(TokenId)> is_end_of_generation, std::vector<std::string> stop_strings,
                 std::size_t max_tokens);

  struct Step {
    std::string text;  // to emit for this token (held-back text is released when the generation ends)
    StopReason reason = StopReason::none;
  };
  // Feeds one generated token and its detokenized text. An end-of-generation token's text is never emitted.
  Step on_token(TokenId token, std::string_view piece);
  StopReason reason() const { return reason_; }
  bool done() const { return reason_ != StopReason::none; }

 private:
  std::function<bool(TokenId)> is_end_of_generation_;
  StopMatcher matcher_;
  std::size_t max_tokens_;
  std::size_t generated_ = 0;
  StopReason reason_ = StopReason::none;
};

// llama.cpp's --ignore-eos: bans every end-of-generation token through the logit bias.
void ban_tokens(SamplingParams& params, std::span<const TokenId> tokens);

}  // namespace hearth::sampling
