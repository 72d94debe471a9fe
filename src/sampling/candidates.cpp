// The candidate set and the random source every stage and draw work on.
#include <algorithm>
#include <cmath>
#include <limits>

#include "hearth/sampling.h"

namespace hearth::sampling {

// A total order (ties broken by id) so that partial and full sorts give one result with any standard library.
bool higher_logit(const TokenData& a, const TokenData& b) {
  if (a.logit != b.logit) return a.logit > b.logit;
  return a.id < b.id;
}

Candidates Candidates::from_logits(std::span<const float> logits) {
  Candidates candidates(std::vector<TokenData>{});
  candidates.assign_logits(logits);
  return candidates;
}

void Candidates::assign_logits(std::span<const float> logits) {
  items_.resize(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const float logit = std::isnan(logits[i]) ? -std::numeric_limits<float>::infinity() : logits[i];
    items_[i] = TokenData{static_cast<TokenId>(i), logit, 0.0f};
  }
  sorted_prefix_ = 0;
}

Candidates::Candidates(std::vector<TokenData> items, bool sorted_by_logit) : items_(std::move(items)) {
  for (auto& item : items_) {
    if (std::isnan(item.logit)) item.logit = -std::numeric_limits<float>::infinity();
  }
  if (sorted_by_logit) {
    const bool ordered = std::is_sorted(items_.begin(), items_.end(), higher_logit);
    if (!ordered) throw SamplingError("candidates claimed to be sorted by logit are not");
    sorted_prefix_ = items_.size();
  }
}

void Candidates::sort_prefix_by_logit(std::size_t n) {
  n = std::min(n, items_.size());
  if (n <= sorted_prefix_) return;
  // Everything past the sorted prefix is no higher than the prefix, so only the rest needs ordering.
  const auto first = items_.begin() + static_cast<std::ptrdiff_t>(sorted_prefix_);
  const auto middle = items_.begin() + static_cast<std::ptrdiff_t>(n);
  const std::size_t remaining = items_.size() - sorted_prefix_;
  const std::size_t wanted = n - sorted_prefix_;
  if (wanted * 16 < remaining) {
    // A heap of a few dozen rejects most candidates with one comparison: the cheapest way to a short top-k.
    std::partial_sort(first, middle, items_.end(), higher_logit);
  } else {
    if (n < items_.size()) std::nth_element(first, middle, items_.end(), higher_logit);
    std::sort(first, middle, higher_logit);
  }
  sorted_prefix_ = n;
}

void Candidates::select_best(std::size_t n) {
  n = std::min(n, items_.size());
  if (n <= sorted_prefix_ || n == items_.size()) return;
  const auto first = items_.begin() + static_cast<std::ptrdiff_t>(sorted_prefix_);
  std::nth_element(first, items_.begin() + static_cast<std::ptrdiff_t>(n), items_.end(), higher_logit);
}

void Candidates::truncate(std::size_t n) {
  if (n >= items_.size()) return;
  items_.resize(n);
  sorted_prefix_ = std::min(sorted_prefix_, n);
}

void Candidates::compute_probabilities() {
  if (items_.empty()) throw SamplingError("no candidate tokens left to sample from");
  float max_logit = -std::numeric_limits<float>::infinity();
  for (const auto& item : items_) max_logit = std::max(max_logit, item.logit);
  if (max_logit == -std::numeric_limits<float>::infinity()) {
    throw SamplingError("every candidate token is banned (all logits are -inf)");
  }
  // Sum in double: with 150k candidates a float sum loses the small tail.
  double sum = 0.0;
  for (auto& item : items_) {
    // An infinite logit (a huge bias, a tiny temperature) takes all the mass, shared with its equals.
    if (std::isinf(max_logit)) {
      item.probability = item.logit == max_logit ? 1.0f : 0.0f;
    } else {
      item.probability = std::exp(item.logit - max_logit);
    }
    sum += item.probability;
  }
  for (auto& item : items_) item.probability = static_cast<float>(item.probability / sum);
}

double Rng::uniform() {
  // The top 53 bits of one 64-bit output, scaled exactly into [0, 1).
  return static_cast<double>(engine_() >> 11) * 0x1.0p-53;
}

TokenId pick_greedy(const Candidates& candidates) {
  if (candidates.size() == 0) throw SamplingError("no candidate tokens left to sample from");
  const auto items = candidates.items();
  const auto best = std::min_element(items.begin(), items.end(), higher_logit);  // the first in the order
  if (best->logit == -std::numeric_limits<float>::infinity()) {
    throw SamplingError("every candidate token is banned (all logits are -inf)");
  }
  return best->id;
}

TokenId pick_random(Candidates& candidates, Rng& rng) {
  candidates.compute_probabilities();
  const auto items = candidates.items();
  double total = 0.0;
  for (const auto& item : items) total += item.probability;
  // Walk the cumulative mass in the candidates' current order; the last token with any mass catches rounding.
  const double target = rng.uniform() * total;
  double cumulative = 0.0;
  TokenId last_with_mass = items.front().id;
  for (const auto& item : items) {
    if (item.probability <= 0.0f) continue;
    cumulative += item.probability;
    last_with_mass = item.id;
    if (target < cumulative) return item.id;
  }
  return last_with_mass;
}

}  // namespace hearth::sampling
