// The configured chain: logit bias, the stages in the configured order, then the draw.
#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "hearth/sampling.h"

namespace hearth::sampling {
namespace {

std::uint64_t fresh_seed() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

struct StageName {
  Stage stage;
  std::string_view name;
};

// The first name of each stage is the canonical one; the rest are the spellings llama.cpp's --samplers and
// --sampling-seq accept.
constexpr std::array kStageNames{
    StageName{Stage::penalties, "penalties"}, StageName{Stage::penalties, "e"},
    StageName{Stage::top_k, "top_k"},         StageName{Stage::top_k, "k"},
    StageName{Stage::typical_p, "typ_p"},     StageName{Stage::typical_p, "typical_p"},
    StageName{Stage::typical_p, "typical"},   StageName{Stage::typical_p, "y"},
    StageName{Stage::top_p, "top_p"},         StageName{Stage::top_p, "nucleus"},
    StageName{Stage::top_p, "p"},             StageName{Stage::min_p, "min_p"},
    StageName{Stage::min_p, "m"},             StageName{Stage::temperature, "temperature"},
    StageName{Stage::temperature, "temp"},    StageName{Stage::temperature, "t"},
};

}  // namespace

std::vector<Stage> default_stage_order() {
  return {Stage::penalties, Stage::top_k, Stage::typical_p, Stage::top_p, Stage::min_p, Stage::temperature};
}

std::string_view stage_name(Stage stage) {
  for (const auto& entry : kStageNames) {
    if (entry.stage == stage) return entry.name;
  }
  throw SamplingError(fmt::format("unknown sampler stage {}", static_cast<int>(stage)));
}

std::optional<Stage> stage_from_name(std::string_view name) {
  std::string normalized;
  for (const char c : name) normalized += c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& entry : kStageNames) {
    if (entry.name == normalized) return entry.stage;
  }
  return std::nullopt;
}

Sampler::Sampler(SamplingParams params)
    : params_(std::move(params)),
      seed_(params_.seed ? *params_.seed : fresh_seed()),
      rng_(seed_),
      window_(params_.penalty_last_n) {
  for (const auto& [token, bias] : params_.logit_bias) {
    if (token < 0) throw SamplingError(fmt::format("logit bias names token {}, which is negative", token));
    if (std::isnan(bias)) throw SamplingError(fmt::format("logit bias for token {} is NaN", token));
  }
  if (std::isnan(params_.temperature) || std::isnan(params_.top_p) || std::isnan(params_.min_p) ||
      std::isnan(params_.typical_p) || std::isnan(params_.repeat_penalty) || std::isnan(params_.frequency_penalty) ||
      std::isnan(params_.presence_penalty)) {
    throw SamplingError("a sampling parameter is NaN");
  }
}

void Sampler::check_bias_tokens(std::size_t n_vocab) const {
  if (params_.logit_bias.empty()) return;
  const TokenId last = params_.logit_bias.rbegin()->first;
  if (static_cast<std::size_t>(last) >= n_vocab) {
    throw SamplingError(fmt::format("logit bias names token {}, but the vocabulary has {} tokens", last, n_vocab));
  }
}

void Sampler::run_chain(std::span<const float> logits, Candidates& candidates) const {
  if (logits.empty()) throw SamplingError("cannot sample from an empty row of logits");
  check_bias_tokens(logits.size());
  candidates.assign_logits(logits);
  apply_logit_bias(candidates, params_.logit_bias);
  for (const Stage stage : params_.order) {
    switch (stage) {
      case Stage::penalties:
        apply_penalties(candidates, window_, params_.repeat_penalty, params_.frequency_penalty,
                        params_.presence_penalty);
        break;
      case Stage::top_k:
        apply_top_k(candidates, params_.top_k);
        break;
      case Stage::typical_p:
        apply_typical_p(candidates, params_.typical_p, params_.min_keep);
        break;
      case Stage::top_p:
        apply_top_p(candidates, params_.top_p, params_.min_keep);
        break;
      case Stage::min_p:
        apply_min_p(candidates, params_.min_p, params_.min_keep);
        break;
      case Stage::temperature:
        apply_temperature(candidates, params_.temperature);
        break;
    }
  }
}

bool Sampler::greedy_shortcut() const {
  for (const Stage stage : params_.order) {
    if (stage == Stage::temperature) return params_.temperature <= 0.0f;
    if (stage == Stage::typical_p && params_.typical_p < 1.0f) return false;
  }
  return false;
}

TokenId Sampler::sample_greedy(std::span<const float> logits) const {
  if (logits.empty()) throw SamplingError("cannot sample from an empty row of logits");
  check_bias_tokens(logits.size());
  const auto position = [&](Stage stage) { return std::find(params_.order.begin(), params_.order.end(), stage); };
  const bool penalize = position(Stage::penalties) < position(Stage::temperature);

  // Tokens whose logit the bias or the penalties change, in ascending id order; every other logit is used as is.
  std::vector<TokenId> adjusted = penalize ? window_.distinct() : std::vector<TokenId>{};
  for (const auto& entry : params_.logit_bias) adjusted.push_back(entry.first);
  std::sort(adjusted.begin(), adjusted.end());
  adjusted.erase(std::unique(adjusted.begin(), adjusted.end()), adjusted.end());

  constexpr float kBanned = -std::numeric_limits<float>::infinity();
  const auto raw = [&](std::size_t i) { return std::isnan(logits[i]) ? kBanned : logits[i]; };
  std::size_t best = logits.size();
  float best_value = kBanned;
  const auto consider = [&](std::size_t i, float value) {
    if (best == logits.size() || value > best_value || (value == best_value && i < best)) {
      best = i;
      best_value = value;
    }
  };
  auto next_adjusted = adjusted.begin();
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (next_adjusted != adjusted.end() && static_cast<std::size_t>(*next_adjusted) == i) {
      ++next_adjusted;
      continue;
    }
    consider(i, raw(i));
  }
  for (const TokenId token : adjusted) {
    const auto i = static_cast<std::size_t>(token);
    if (i >= logits.size()) continue;  // a remembered token outside this row
    float value = raw(i);
    const auto bias = params_.logit_bias.find(token);
    if (bias != params_.logit_bias.end()) value += bias->second;
    if (penalize) {
      value = penalized_logit(value, window_.count(token), params_.repeat_penalty, params_.frequency_penalty,
                              params_.presence_penalty);
    }
    consider(i, value);
  }
  if (best_value == kBanned) throw SamplingError("every candidate token is banned (all logits are -inf)");
  return static_cast<TokenId>(best);
}

std::span<const float> Sampler::constrain(std::span<const float> logits, std::vector<float>& out) const {
  if (!grammar_) return logits;
  if (logits.size() != grammar_->vocabulary().size()) {
    throw SamplingError(fmt::format("the grammar's vocabulary has {} tokens, the row of logits {}",
                                    grammar_->vocabulary().size(), logits.size()));
  }
  const grammar::TokenMask& allowed = grammar_->allowed();
  constexpr float kBanned = -std::numeric_limits<float>::infinity();
  out.resize(logits.size());
  bool any = false;
  // A word at a time: masks are mostly runs of all-allowed or all-banned words (a string's characters, a literal).
  for (std::size_t word = 0; word * 64 < out.size(); ++word) {
    const std::size_t begin = word * 64, end = std::min(out.size(), begin + 64);
    const std::uint64_t bits = allowed[word];
    any = any || bits != 0;
    if (bits == 0) {
      std::fill(out.begin() + begin, out.begin() + end, kBanned);
    } else if (bits == ~std::uint64_t{0}) {
      std::copy(logits.begin() + begin, logits.begin() + end, out.begin() + begin);
    } else {
      for (std::size_t i = begin; i < end; ++i) out[i] = (bits >> (i - begin)) & 1u ? logits[i] : kBanned;
    }
  }
  if (!any) throw SamplingError("the grammar allows no token of this vocabulary here");
  return out;
}

TokenId Sampler::sample(std::span<const float> raw_logits) {
  const std::span<const float> logits = constrain(raw_logits, constrained_);
  if (greedy_shortcut()) return sample_greedy(logits);
  run_chain(logits, scratch_);
  return pick_random(scratch_, rng_);
}

Candidates Sampler::candidates(std::span<const float> raw_logits) const {
  std::vector<float> constrained;
  const std::span<const float> logits = constrain(raw_logits, constrained);
  Candidates candidates(std::vector<TokenData>{});
  run_chain(logits, candidates);
  candidates.compute_probabilities();
  return candidates;
}

void Sampler::accept(TokenId token) {
  window_.push(token);
  if (grammar_) grammar_->accept(token);
}

void Sampler::reset() {
  window_.clear();
  rng_ = Rng(seed_);
  if (grammar_) grammar_->reset();
}

void Sampler::set_grammar(grammar::TokenConstraint constraint) { grammar_ = std::move(constraint); }

void ban_tokens(SamplingParams& params, std::span<const TokenId> tokens) {
  for (const TokenId token : tokens) params.logit_bias[token] = -std::numeric_limits<float>::infinity();
}

}  // namespace hearth::sampling
