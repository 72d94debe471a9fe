// How two engines' next-token distributions and greedy continuations are compared.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace hearth::conformance {

using TopTokens = std::vector<std::pair<int32_t, double>>;  // (token, probability), most probable first

// softmax(logits / temperature) in double.
std::vector<double> softmax(std::span<const float> logits, double temperature);
// The k most probable tokens (ties: lower id first).
TopTokens top_tokens(std::span<const double> probabilities, int k);

struct PositionDifference {
  int overlap = 0;          // tokens in both top-k sets
  double max_abs_dp = 0.0;  // over the peer's top-k tokens: |p_hearth - p_peer|
};
// `hearth` is Hearth's whole distribution; `peer_top` the peer's top-k.
PositionDifference compare_position(std::span<const double> hearth, const TopTokens& peer_top);

// Tokens equal from the start.
int common_prefix(std::span<const int32_t> a, std::span<const int32_t> b);
// Highest logit, lowest id on ties.
int32_t argmax(std::span<const float> logits);
// Standard deviation of a row of logits.
double logit_std(std::span<const float> logits);

}  // namespace hearth::conformance
