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

void apply_penalties(Candidates& candidates, const TokenWindow& window, float repeat, float frequency,
                     float presence) {
  if (window.size() == 0 || (repeat == 1.0f && frequency == 0.0f && presence == 0.0f)) return;
  for (auto& item : candidates.items()) {
    const std::int32_t count = window.count(item.id);
    if (count == 0) continue;
    // Dividing a negative logit would raise it, so the repeat penalty multiplies those instead: both make the
    // token less likely. The repeat penalty applies once per distinct token, the frequency penalty per occurrence.
    if (item.logit <= 0.0f) {
      item.logit *= repeat;
    } else {
      item.logit /= repeat;
    }
    item.logit -= static_cast<float>(count) * frequency + presence;
  }
  candidates.mark_unsorted();
}

void apply_top_k(Candidates& candidates, std::int32_t k) {
  if (k <= 0 || static_cast<std::size_t>(k) >= candidates.size()) return;
  candidates.sort_prefix_by_logit(static_cast<std::size_t>(k));
  candidates.truncate(static_cast<std::size_t>(k));
}

void apply_top_p(Candidates& candidates, float p, std::size_t min_keep) {
  if (p >= 1.0f || candidates.size() == 0) return;
  candidates.compute_probabilities();
  // Sort only as far as the mass needs: a peaked distribution reaches p within a few tokens of a large vocabulary.
  std::size_t sorted = std::min<std::size_t>(candidates.size(), 64);
  candidates.sort_prefix_by_logit(sorted);
  float cumulative = 0.0f;
  std::size_t keep = candidates.size();
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (i == sorted) {
      sorted = std::min(candidates.size(), sorted * 2);
      candidates.sort_prefix_by_logit(sorted);
    }
    cumulative += candidates[i].probability;
    if (cumulative >= p && i + 1 >= min_keep) {
      keep = i + 1;
      break;
    }
  }
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
  // The passing tokens are the highest ones, so sorting them to the front and cutting keeps exactly them.
  candidates.sort_prefix_by_logit(passing);
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
