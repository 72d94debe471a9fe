// Each stage on small hand-computed cases.
#include <cmath>
#include <algorithm>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "hearth/sampling.h"

namespace hearth::sampling {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<TokenId> ids(const Candidates& candidates) {
  std::vector<TokenId> out;
  for (const auto& item : candidates.items()) out.push_back(item.id);
  return out;
}

// Logits whose softmax is exactly {0.5, 0.25, 0.125, 0.125}.
Candidates halving() {
  return Candidates::from_logits(std::vector<float>{std::log(0.5f), std::log(0.25f), std::log(0.125f),
                                                    std::log(0.125f)});
}

TEST(Candidates, SoftmaxOfLogOddsGivesTheOdds) {
  auto candidates = Candidates::from_logits(std::vector<float>{0.0f, std::log(2.0f), std::log(4.0f)});
  candidates.compute_probabilities();
  EXPECT_NEAR(candidates[0].probability, 1.0 / 7, 1e-6);
  EXPECT_NEAR(candidates[1].probability, 2.0 / 7, 1e-6);
  EXPECT_NEAR(candidates[2].probability, 4.0 / 7, 1e-6);
}

TEST(Candidates, SoftmaxIsShiftInvariantAndSurvivesHugeLogits) {
  auto candidates = Candidates::from_logits(std::vector<float>{1000.0f, 1000.0f, -kInf});
  candidates.compute_probabilities();
  EXPECT_FLOAT_EQ(candidates[0].probability, 0.5f);
  EXPECT_FLOAT_EQ(candidates[1].probability, 0.5f);
  EXPECT_EQ(candidates[2].probability, 0.0f);
}

TEST(Candidates, InfiniteLogitsShareAllTheMass) {
  auto candidates = Candidates::from_logits(std::vector<float>{kInf, 3.0f, kInf});
  candidates.compute_probabilities();
  EXPECT_EQ(candidates[0].probability, 0.5f);
  EXPECT_EQ(candidates[1].probability, 0.0f);
  EXPECT_EQ(candidates[2].probability, 0.5f);
}

TEST(Candidates, NanLogitsCountAsBanned) {
  auto candidates = Candidates::from_logits(std::vector<float>{std::nanf(""), 1.0f});
  EXPECT_EQ(candidates[0].logit, -kInf);
  EXPECT_EQ(pick_greedy(candidates), 1);
}

TEST(Candidates, AllBannedIsAnError) {
  auto candidates = Candidates::from_logits(std::vector<float>{-kInf, -kInf});
  EXPECT_THROW(candidates.compute_probabilities(), SamplingError);
  EXPECT_THROW(pick_greedy(candidates), SamplingError);
  Candidates empty(std::vector<TokenData>{});
  EXPECT_THROW(pick_greedy(empty), SamplingError);
}

TEST(Candidates, PartialSortsExtendToAFullOrder) {
  auto candidates = Candidates::from_logits(std::vector<float>{3, 9, 1, 7, 9, 5, 2, 8});
  candidates.sort_prefix_by_logit(2);
  EXPECT_EQ(candidates[0].id, 1);  // 9 and 9 tie: lower id first
  EXPECT_EQ(candidates[1].id, 4);
  EXPECT_FALSE(candidates.sorted_by_logit());
  candidates.sort_prefix_by_logit(5);
  candidates.sort_by_logit();
  EXPECT_TRUE(candidates.sorted_by_logit());
  EXPECT_EQ(ids(candidates), (std::vector<TokenId>{1, 4, 7, 3, 5, 0, 6, 2}));
}

TEST(Candidates, RejectsAFalseSortedClaim) {
  EXPECT_THROW(Candidates({{0, 1.0f, 0}, {1, 2.0f, 0}}, true), SamplingError);
  EXPECT_NO_THROW(Candidates({{1, 2.0f, 0}, {0, 1.0f, 0}}, true));
}

TEST(Greedy, HighestLogitLowestIdOnTies) {
  auto candidates = Candidates::from_logits(std::vector<float>{1.0f, 4.0f, -2.0f, 4.0f});
  EXPECT_EQ(pick_greedy(candidates), 1);
}

TEST(LogitBias, AddsAndBans) {
  auto candidates = Candidates::from_logits(std::vector<float>{5.0f, 1.0f, 2.0f});
  apply_logit_bias(candidates, {{0, -kInf}, {2, 1.5f}});
  EXPECT_EQ(candidates[0].logit, -kInf);
  EXPECT_EQ(candidates[1].logit, 1.0f);
  EXPECT_EQ(candidates[2].logit, 3.5f);
  EXPECT_EQ(pick_greedy(candidates), 2);
}

TEST(Penalties, RepeatDividesPositiveMultipliesNegativeThenFrequencyAndPresence) {
  auto candidates = Candidates::from_logits(std::vector<float>{2.0f, -2.0f, 1.0f, 4.0f, 0.5f});
  TokenWindow window(64);
  for (TokenId token : {1, 3, 3}) window.push(token);
  apply_penalties(candidates, window, 2.0f, 0.5f, 0.25f);
  EXPECT_EQ(candidates[0].logit, 2.0f);
  EXPECT_EQ(candidates[1].logit, -2.0f * 2.0f - 1 * 0.5f - 0.25f);  // -4.75
  EXPECT_EQ(candidates[2].logit, 1.0f);
  EXPECT_EQ(candidates[3].logit, 4.0f / 2.0f - 2 * 0.5f - 0.25f);  // 0.75: repeat once, frequency per occurrence
  EXPECT_EQ(candidates[4].logit, 0.5f);
}

TEST(Penalties, ZeroLogitIsMultipliedSoItStaysZero) {
  auto candidates = Candidates::from_logits(std::vector<float>{0.0f});
  TokenWindow window(4);
  window.push(0);
  apply_penalties(candidates, window, 1.3f, 0.0f, 0.0f);
  EXPECT_EQ(candidates[0].logit, 0.0f);
}

TEST(Penalties, OnlyTheWindowCounts) {
  TokenWindow window(2);
  for (TokenId token : {1, 3, 3}) window.push(token);
  EXPECT_EQ(window.size(), 2u);
  EXPECT_EQ(window.count(1), 0);
  EXPECT_EQ(window.count(3), 2);
  auto candidates = Candidates::from_logits(std::vector<float>{2.0f, -2.0f, 1.0f, 4.0f});
  apply_penalties(candidates, window, 2.0f, 0.0f, 0.0f);
  EXPECT_EQ(candidates[1].logit, -2.0f);
  EXPECT_EQ(candidates[3].logit, 2.0f);

  TokenWindow off(0);
  off.push(1);
  EXPECT_EQ(off.count(1), 0);
  TokenWindow unbounded(-1);
  for (int i = 0; i < 1000; ++i) unbounded.push(7);
  EXPECT_EQ(unbounded.count(7), 1000);
  unbounded.clear();
  EXPECT_EQ(unbounded.count(7), 0);
}

TEST(TopK, KeepsTheKHighestInOrder) {
  auto candidates = Candidates::from_logits(std::vector<float>{1.0f, 5.0f, 3.0f, 5.0f, 2.0f});
  apply_top_k(candidates, 3);
  EXPECT_EQ(ids(candidates), (std::vector<TokenId>{1, 3, 2}));
}

TEST(TopK, NonPositiveOrLargeKIsANoOp) {
  for (int k : {0, -1, 5, 100}) {
    auto candidates = Candidates::from_logits(std::vector<float>{1.0f, 5.0f, 3.0f, 5.0f, 2.0f});
    apply_top_k(candidates, k);
    EXPECT_EQ(candidates.size(), 5u) << k;
  }
}

TEST(TopP, KeepsTheSmallestPrefixReachingP) {
  auto candidates = halving();
  apply_top_p(candidates, 0.7f, 0);  // 0.5 + 0.25 = 0.75 >= 0.7
  EXPECT_EQ(ids(candidates), (std::vector<TokenId>{0, 1}));
  candidates = halving();
  apply_top_p(candidates, 0.76f, 0);
  EXPECT_EQ(ids(candidates), (std::vector<TokenId>{0, 1, 2}));
  candidates = halving();
  apply_top_p(candidates, 0.4f, 0);
  EXPECT_EQ(ids(candidates), (std::vector<TokenId>{0}));
  candidates = halving();
  apply_top_p(candidates, 0.4f, 3);  // min_keep wins
  EXPECT_EQ(ids(candidates), (std::vector<TokenId>{0, 1, 2}));
  candidates = halving();
  apply_top_p(candidates, 1.0f, 0);
  EXPECT_EQ(candidates.size(), 4u);
}

TEST(TopP, LargeFlatVocabularyKeepsTheRightCount) {
  // 1000 equal tokens: p = 0.5 needs 500 of them, which takes the incremental sort past several extensions.
  std::vector<float> logits(1000, 0.0f);
  auto candidates = Candidates::from_logits(logits);
  apply_top_p(candidates, 0.5f, 0);
  EXPECT_NEAR(static_cast<double>(candidates.size()), 500.0, 1.0);
  for (std::size_t i = 0; i < candidates.size(); ++i) EXPECT_EQ(candidates[i].id, static_cast<TokenId>(i));
}

// Large sets take the bucketed path; it must keep exactly the prefix a full sort and walk would.
TEST(TopP, LargeSetsKeepWhatAFullSortKeeps) {
  std::mt19937_64 rng(99);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int trial = 0; trial < 40; ++trial) {
    const std::size_t n = 3000 + static_cast<std::size_t>(trial) * 97;
    const float spread = trial % 4 == 0 ? 0.05f : trial % 4 == 1 ? 1.0f : trial % 4 == 2 ? 5.0f : 40.0f;
    std::vector<float> logits(n);
    for (auto& logit : logits) logit = normal(rng) * spread;
    if (trial % 5 == 0) {
      for (std::size_t i = 0; i < n; i += 7) logits[i] = logits[i / 2];  // ties
      logits[3] = -kInf;
    }
    const float p = trial % 3 == 0 ? 0.5f : trial % 3 == 1 ? 0.9f : 0.999f;
    const std::size_t min_keep = trial % 6 == 0 ? 50 : 0;

    auto reference = Candidates::from_logits(logits);
    reference.compute_probabilities();
    reference.sort_by_logit();
    double cumulative = 0.0;
    std::size_t keep = n;
    for (std::size_t i = 0; i < n; ++i) {
      cumulative += reference[i].probability;
      if (cumulative >= p) {
        keep = i + 1;
        break;
      }
    }
    keep = std::max(keep, min_keep);
    std::vector<TokenId> expected;
    for (std::size_t i = 0; i < keep; ++i) expected.push_back(reference[i].id);

    auto candidates = Candidates::from_logits(logits);
    apply_top_p(candidates, p, min_keep);
    auto kept = ids(candidates);
    std::sort(kept.begin(), kept.end());
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(kept, expected) << "trial " << trial;
  }
}

TEST(MinP, KeepsTokensAtLeastPTimesTheBest) {
  auto candidates = halving();
  apply_min_p(candidates, 0.3f, 0);  // threshold 0.15
  EXPECT_EQ(ids(candidates), (std::vector<TokenId>{0, 1}));
  candidates = halving();
  apply_min_p(candidates, 0.2f, 0);  // threshold 0.1
  EXPECT_EQ(ids(candidates), (std::vector<TokenId>{0, 1, 2, 3}));
  candidates = halving();
  apply_min_p(candidates, 0.9f, 2);  // only the best passes, min_keep adds the next
  EXPECT_EQ(ids(candidates), (std::vector<TokenId>{0, 1}));
  candidates = halving();
  apply_min_p(candidates, 0.0f, 0);
  EXPECT_EQ(candidates.size(), 4u);
}

TEST(TypicalP, OrdersBySurpriseDistanceFromEntropy) {
  // H = 1.75 ln 2; surprises are {1, 2, 3, 3} ln 2, distances {0.75, 0.25, 1.25, 1.25} ln 2: order 1, 0, 2, 3.
  auto candidates = halving();
  apply_typical_p(candidates, 0.5f, 0);  // 0.25, then 0.75 > 0.5
  EXPECT_EQ(ids(candidates), (std::vector<TokenId>{1, 0}));
  candidates = halving();
  apply_typical_p(candidates, 0.2f, 0);  // 0.25 > 0.2
  EXPECT_EQ(ids(candidates), (std::vector<TokenId>{1}));
  candidates = halving();
  apply_typical_p(candidates, 0.8f, 0);  // 0.25, 0.75, 0.875 > 0.8
  EXPECT_EQ(ids(candidates), (std::vector<TokenId>{1, 0, 2}));
  candidates = halving();
  apply_typical_p(candidates, 0.2f, 2);
  EXPECT_EQ(ids(candidates), (std::vector<TokenId>{1, 0}));
  candidates = halving();
  apply_typical_p(candidates, 1.0f, 0);
  EXPECT_EQ(candidates.size(), 4u);
}

TEST(TypicalP, ZeroProbabilityTokensComeLast) {
  auto candidates = Candidates::from_logits(std::vector<float>{0.0f, -kInf, 0.0f});
  apply_typical_p(candidates, 0.99f, 0);
  EXPECT_EQ(ids(candidates), (std::vector<TokenId>{0, 2}));
}

TEST(Temperature, DividesLogits) {
  auto candidates = Candidates::from_logits(std::vector<float>{1.0f, -2.0f});
  apply_temperature(candidates, 0.5f);
  EXPECT_EQ(candidates[0].logit, 2.0f);
  EXPECT_EQ(candidates[1].logit, -4.0f);
}

TEST(Temperature, ZeroOrNegativeKeepsOnlyTheBest) {
  for (float t : {0.0f, -1.0f}) {
    auto candidates = Candidates::from_logits(std::vector<float>{1.0f, 3.0f, 3.0f, 2.0f});
    apply_temperature(candidates, t);
    EXPECT_EQ(ids(candidates), (std::vector<TokenId>{1}));
  }
}

}  // namespace
}  // namespace hearth::sampling
