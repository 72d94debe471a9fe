// How two engines' answers for the same model and prompts are compared: the statistics llama.cpp's own quality
// tool (llama-perplexity --kl-divergence) reports, over positions along one token path, plus greedy agreement.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace hearth::conformance {

using Tokens = std::vector<int32_t>;

// One engine's answers for one prompt.
struct PromptRun {
  Tokens prompt_tokens;
  Tokens greedy;                           // free-running greedy continuation
  std::vector<std::vector<float>> forced;  // next-token logits along the reference's path, one row per position
};

// log softmax(logits), in double.
std::vector<double> log_softmax(std::span<const float> logits);
// KL(P || Q) = sum_i p_i (log p_i - log q_i) over the whole vocabulary, P = softmax(reference), Q = softmax(other):
// what llama.cpp's perplexity tool reports as KLD, computed in double from the full rows (no tail cut-off).
double kl_divergence(std::span<const float> reference, std::span<const float> other);

// Tokens equal from the start.
int common_prefix(std::span<const int32_t> a, std::span<const int32_t> b);
// Highest logit, lowest id on ties.
int32_t argmax(std::span<const float> logits);

// A candidate engine's answers against a reference's, for one prompt.
struct PromptComparison {
  bool tokens_equal = false;  // the prompt tokenized alike
  std::vector<double> kld;    // per forced position
  int same_top = 0;           // forced positions whose argmaxes agree
  int greedy_prefix = 0;      // greedy tokens equal from the start
  // Where the greedy continuations first differ (inside the forced positions): how close the two choices are,
  // as the larger of the two engines' log-probability gaps between their own choice and the other's. A near tie
  // that other summation orders can tip is a few hundredths of a nat; a wrong kernel is not.
  std::optional<double> divergence_gap;
};
// `candidate.forced` must follow `reference`'s path (the reference's greedy tokens) and have as many rows.
PromptComparison compare_prompt(const PromptRun& reference, const PromptRun& candidate);

// The statistics of one (model, engine pair) over all its prompts.
struct CaseStatistics {
  bool tokens_equal = true;
  double mean_kld = 0.0;
  double max_kld = 0.0;
  double same_top = 1.0;         // share of positions
  int min_greedy_prefix = 0;     // worst prompt
  int identical_prompts = 0;     // prompts whose greedy continuations are equal throughout
  int prompts = 0;
  double worst_gap = 0.0;        // largest divergence gap (0 when nothing diverged)
};
CaseStatistics summarize(std::span<const PromptComparison> prompts, int generated);

}  // namespace hearth::conformance
