#include "conformance/metrics.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace hearth::conformance {

std::vector<double> log_softmax(std::span<const float> logits) {
  if (logits.empty()) throw std::invalid_argument("log_softmax of no logits");
  const double max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (const float l : logits) sum += std::exp(l - max_logit);
  const double log_sum = max_logit + std::log(sum);
  std::vector<double> result(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) result[i] = logits[i] - log_sum;
  return result;
}

double kl_divergence(std::span<const float> reference, std::span<const float> other) {
  if (reference.size() != other.size()) throw std::invalid_argument("KL divergence of rows of different lengths");
  const auto log_p = log_softmax(reference);
  const auto log_q = log_softmax(other);
  double sum = 0.0;
  for (size_t i = 0; i < log_p.size(); ++i) sum += std::exp(log_p[i]) * (log_p[i] - log_q[i]);
  return std::max(sum, 0.0);  // a sum of tiny terms of both signs can land a rounding below zero
}

int common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  const auto mismatch = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  return static_cast<int>(mismatch.first - a.begin());
}

int32_t argmax(std::span<const float> logits) {
  if (logits.empty()) throw std::invalid_argument("argmax of no logits");
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

namespace {

// log p(mine) - log p(theirs) under softmax(logits); the shared normalizer cancels.
double log_probability_gap(std::span<const float> logits, int32_t mine, int32_t theirs) {
  const auto at = [&](int32_t token) {
    if (token < 0 || static_cast<size_t>(token) >= logits.size()) throw std::out_of_range("token outside the vocabulary");
    return static_cast<double>(logits[static_cast<size_t>(token)]);
  };
  return at(mine) - at(theirs);
}

}  // namespace

PromptComparison compare_prompt(const PromptRun& reference, const PromptRun& candidate) {
  if (reference.forced.size() != candidate.forced.size()) {
    throw std::invalid_argument("the two engines answered for different numbers of positions");
  }
  PromptComparison comparison;
  comparison.tokens_equal = reference.prompt_tokens == candidate.prompt_tokens;
  for (size_t i = 0; i < reference.forced.size(); ++i) {
    comparison.kld.push_back(kl_divergence(reference.forced[i], candidate.forced[i]));
    comparison.same_top += argmax(reference.forced[i]) == argmax(candidate.forced[i]) ? 1 : 0;
  }
  comparison.greedy_prefix = common_prefix(reference.greedy, candidate.greedy);
  const auto at = static_cast<size_t>(comparison.greedy_prefix);
  if (at < reference.greedy.size() && at < candidate.greedy.size() && at < reference.forced.size()) {
    const int32_t theirs = reference.greedy[at];
    const int32_t mine = candidate.greedy[at];
    comparison.divergence_gap = std::max(std::abs(log_probability_gap(reference.forced[at], theirs, mine)),
                                         std::abs(log_probability_gap(candidate.forced[at], mine, theirs)));
  }
  return comparison;
}

CaseStatistics summarize(std::span<const PromptComparison> prompts, int generated) {
  CaseStatistics statistics;
  statistics.min_greedy_prefix = generated;
  double kld_sum = 0.0;
  size_t positions = 0;
  int same_top = 0;
  for (const auto& prompt : prompts) {
    statistics.tokens_equal = statistics.tokens_equal && prompt.tokens_equal;
    for (const double value : prompt.kld) {
      kld_sum += value;
      statistics.max_kld = std::max(statistics.max_kld, value);
    }
    positions += prompt.kld.size();
    same_top += prompt.same_top;
    statistics.min_greedy_prefix = std::min(statistics.min_greedy_prefix, prompt.greedy_prefix);
    statistics.identical_prompts += prompt.greedy_prefix >= generated ? 1 : 0;
    if (prompt.divergence_gap) statistics.worst_gap = std::max(statistics.worst_gap, *prompt.divergence_gap);
    ++statistics.prompts;
  }
  if (positions > 0) {
    statistics.mean_kld = kld_sum / static_cast<double>(positions);
    statistics.same_top = static_cast<double>(same_top) / static_cast<double>(positions);
  }
  return statistics;
}

}  // namespace hearth::conformance
