#include "conformance/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace hearth::conformance {

std::vector<double> softmax(std::span<const float> logits, double temperature) {
  if (logits.empty() || !(temperature > 0.0)) throw std::invalid_argument("softmax needs logits and temperature > 0");
  const double max_logit = *std::max_element(logits.begin(), logits.end());
  std::vector<double> probabilities(logits.size());
  double sum = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    probabilities[i] = std::exp((logits[i] - max_logit) / temperature);
    sum += probabilities[i];
  }
  for (double& p : probabilities) p /= sum;
  return probabilities;
}

TopTokens top_tokens(std::span<const double> probabilities, int k) {
  std::vector<int32_t> order(probabilities.size());
  std::iota(order.begin(), order.end(), 0);
  const auto count = std::min<size_t>(static_cast<size_t>(std::max(k, 0)), order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(count), order.end(),
                    [&](int32_t a, int32_t b) {
                      const double pa = probabilities[static_cast<size_t>(a)];
                      const double pb = probabilities[static_cast<size_t>(b)];
                      return pa != pb ? pa > pb : a < b;
                    });
  TopTokens top;
  for (size_t i = 0; i < count; ++i) top.emplace_back(order[i], probabilities[static_cast<size_t>(order[i])]);
  return top;
}

PositionDifference compare_position(std::span<const double> hearth, const TopTokens& peer_top) {
  PositionDifference difference;
  const TopTokens hearth_top = top_tokens(hearth, static_cast<int>(peer_top.size()));
  for (const auto& [token, peer_p] : peer_top) {
    if (token < 0 || static_cast<size_t>(token) >= hearth.size()) {
      throw std::out_of_range("the peer named a token outside Hearth's vocabulary");
    }
    difference.max_abs_dp = std::max(difference.max_abs_dp, std::abs(hearth[static_cast<size_t>(token)] - peer_p));
    const bool shared = std::any_of(hearth_top.begin(), hearth_top.end(),
                                    [token = token](const auto& entry) { return entry.first == token; });
    difference.overlap += shared ? 1 : 0;
  }
  return difference;
}

int common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  const auto mismatch = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  return static_cast<int>(mismatch.first - a.begin());
}

int32_t argmax(std::span<const float> logits) {
  if (logits.empty()) throw std::invalid_argument("argmax of no logits");
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

double logit_std(std::span<const float> logits) {
  if (logits.empty()) return 0.0;
  double mean = 0.0;
  for (float v : logits) mean += v;
  mean /= static_cast<double>(logits.size());
  double variance = 0.0;
  for (float v : logits) variance += (v - mean) * (v - mean);
  return std::sqrt(variance / static_cast<double>(logits.size()));
}

}  // namespace hearth::conformance
