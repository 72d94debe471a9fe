// The stages of the sampler chain, each with llama.cpp's semantics (the comments say where a choice matters).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "hearth/sampling.h"

namespace hearth::sampling {

TokenWindow::TokenWindow(std::int32_t capacity) : capacity_(capacity) {}

void TokenWindow::push(TokenId token) {
  if (capacity_ == 0) return;
  tokens_.push_back(token);
  ++counts_[token];
  if (capacity_ > 0 && tokens_.size() > static_cast<std::size_t>(capacity_)) {
    const TokenId oldest = tokens_.front();
    tokens_.pop_front();
    if (--counts_[oldest] == 0) counts_.erase(oldest);
  }
}

void TokenWindow::clear() {
  tokens_.clear();
  counts_.clear();
}

std::vector<TokenId> TokenWindow::distinct() const {
  std::vector<TokenId> tokens;
  tokens.reserve(counts_.size());
  for (const auto& entry : counts_) tokens.push_back(entry.first);
  std::sort(tokens.begin(), tokens.end());
  return tokens;
}

std::int32_t TokenWindow::count(TokenId token) const {
  const auto found = counts_.find(token);
  return found == counts_.end() ? 0 : found->second;
}

void apply_logit_bias(Candidates& candidates, const std::map<TokenId, float>& bias) {
  if (bias.empty()) return;
  for (auto& item : candidates.items()) {
    const auto found = bias.find(item.id);
    if (found != bias.end()) item.logit += found->second;
  }
  candidates.mark_unsorted();
}

float penalized_logit(float logit, std::int32_t count, float repeat, float frequency, float presence) {
  if (count == 0) return logit;
  // Dividing a negative logit would raise it, so the repeat penalty multiplies those instead: both make the token
  // less likely. The repeat penalty applies once per distinct token, the frequency penalty per occurrence.
  const float repeated = logit <= 0.0f ? logit * repeat : logit / repeat;
  return repeated - (static_cast<float>(count) * frequency + presence);
}

void apply_penalties(Candidates& candidates, const TokenWindow& window, float repeat, float frequency,
                     float presence) {
  if (window.size() == 0 || (repeat == 1.0f && frequency == 0.0f && presence == 0.0f)) return;
  for (auto& item : candidates.items()) {
    item.logit = penalized_logit(item.logit, window.count(item.id), repeat, frequency, presence);
  }
  candidates.mark_unsorted();
}

void apply_top_k(Candidates& candidates, std::int32_t k) {
  if (k <= 0 || static_cast<std::size_t>(k) >= candidates.size()) return;
  candidates.sort_prefix_by_logit(static_cast<std::size_t>(k));
  candidates.truncate(static_cast<std::size_t>(k));
}

namespace {

// The smallest number of best candidates whose probabilities sum to at least p (all of them if rounding keeps the
// sum below p). Sorting 150k candidates for every token would cost milliseconds, so the candidates are first counted
// into buckets of logit distance from the best; only the bucket where the sum crosses p is sorted.
std::size_t top_p_count(Candidates& candidates, double p) {
  const std::size_t n = candidates.size();
  auto walk_sorted = [&](std::size_t from, double mass_before, std::span<const TokenData> ordered) -> std::size_t {
    double cumulative = mass_before;
    for (std::size_t i = 0; i < ordered.size(); ++i) {
      cumulative += ordered[i].probability;
      if (cumulative >= p) return from + i + 1;
    }
    return n;
  };
  if (n <= 1024 || candidates.sorted_by_logit()) {
    candidates.sort_by_logit();
    return walk_sorted(0, 0.0, candidates.items());
  }

  // Beyond 32 logits below the best a token's probability is under 1e-13 of the best one's: one bucket holds them.
  constexpr int kBuckets = 512;
  constexpr float kRange = 32.0f;
  const auto items = candidates.items();
  float max_logit = -std::numeric_limits<float>::infinity();
  for (const auto& item : items) max_logit = std::max(max_logit, item.logit);
  auto bucket_of = [&](float logit) {
    const float distance = (max_logit - logit) * (kBuckets / kRange);
    return distance < static_cast<float>(kBuckets - 1) ? static_cast<int>(distance) : kBuckets - 1;
  };
  std::vector<double> mass(kBuckets, 0.0);
  std::vector<std::size_t> count(kBuckets, 0);
  for (const auto& item : items) {
    const int bucket = bucket_of(item.logit);
    mass[static_cast<std::size_t>(bucket)] += item.probability;
    ++count[static_cast<std::size_t>(bucket)];
  }
  double mass_before = 0.0;
  std::size_t count_before = 0;
  for (int bucket = 0; bucket < kBuckets; ++bucket) {
    const auto b = static_cast<std::size_t>(bucket);
    if (mass_before + mass[b] >= p) {
      // Every candidate of a nearer bucket is kept; order this bucket's own to find where the sum reaches p.
      std::vector<TokenData> crossing;
      crossing.reserve(count[b]);
      for (const auto& item : items) {
        if (bucket_of(item.logit) == bucket) crossing.push_back(item);
      }
      std::sort(crossing.begin(), crossing.end(), higher_logit);
      return walk_sorted(count_before, mass_before, crossing);
    }
    mass_before += mass[b];
    count_before += count[b];
  }
  return n;
}

}  // namespace

void apply_top_p(Candidates& candidates, float p, std::size_t min_keep) {
  if (p >= 1.0f || candidates.size() == 0) return;
  candidates.compute_probabilities();
  const std::size_t keep = std::max(top_p_count(candidates, p), std::min(min_keep, candidates.size()));
  candidates.select_best(keep);
  candidates.truncate(keep);
}

void apply_min_p(Candidates& candidates, float p, std::size_t min_keep) {
  if (p <= 0.0f || candidates.size() == 0) return;
  float max_logit = -std::numeric_limits<float>::infinity();
  for (const auto& item : candidates.items()) max_logit = std::max(max_logit, item.logit);
  // prob >= p * max_prob is logit >= max_logit + log(p): no softmax needed.
  const float threshold = max_logit + std::log(p);
  std::size_t passing = 0;
  for (const auto& item : candidates.items()) passing += item.logit >= threshold ? 1 : 0;
  if (passing < min_keep) {
    candidates.sort_prefix_by_logit(min_keep);
    candidates.truncate(min_keep);
    return;
  }
  // The passing tokens are the highest ones, so moving them to the front and cutting keeps exactly them.
  candidates.select_best(passing);
  candidates.truncate(passing);
}

void apply_typical_p(Candidates& candidates, float p, std::size_t min_keep) {
  if (p >= 1.0f || candidates.size() == 0) return;
  candidates.compute_probabilities();
  const auto items = candidates.items();
  double entropy = 0.0;
  for (const auto& item : items) {
    if (item.probability > 0.0f) entropy -= item.probability * std::log(static_cast<double>(item.probability));
  }
  // How far each token's surprise (-log p) is from the expected surprise; a zero probability is infinitely far.
  std::vector<double> distance(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const double probability = items[i].probability;
    distance[i] = probability > 0.0 ? std::abs(-std::log(probability) - entropy)
                                    : std::numeric_limits<double>::infinity();
  }
  std::vector<std::size_t> order(items.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (distance[a] != distance[b]) return distance[a] < distance[b];
    return items[a].id < items[b].id;
  });
  float cumulative = 0.0f;
  std::size_t keep = order.size();
  for (std::size_t i = 0; i < order.size(); ++i) {
    cumulative += items[order[i]].probability;
    if (cumulative > p && i + 1 >= min_keep) {
      keep = i + 1;
      break;
    }
  }
  std::vector<TokenData> kept(keep);
  for (std::size_t i = 0; i < keep; ++i) kept[i] = items[order[i]];
  candidates = Candidates(std::move(kept));
}

void apply_temperature(Candidates& candidates, float t) {
  if (candidates.size() == 0) return;
  if (t <= 0.0f) {
    candidates.sort_prefix_by_logit(1);
    candidates.truncate(1);
    return;
  }
  for (auto& item : candidates.items()) item.logit /= t;
}

}  // namespace hearth::sampling
