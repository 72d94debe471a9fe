// The configured chain, its determinism, and the shape of what it draws.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "hearth/sampling.h"

namespace hearth::sampling {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> log_of(const std::vector<double>& probabilities) {
  std::vector<float> logits;
  for (double p : probabilities) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

// Only a temperature-1 draw: every truncating stage off.
SamplingParams plain(std::uint64_t seed) {
  SamplingParams params;
  params.temperature = 1.0f;
  params.top_k = 0;
  params.top_p = 1.0f;
  params.min_p = 0.0f;
  params.seed = seed;
  return params;
}

// Pearson's chi-square statistic of observed counts against expected probabilities.
double chi_square(const std::vector<int>& counts, const std::vector<double>& expected, int draws) {
  double statistic = 0.0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const double e = expected[i] * draws;
    statistic += (counts[i] - e) * (counts[i] - e) / e;
  }
  return statistic;
}

std::vector<int> histogram(Sampler& sampler, const std::vector<float>& logits, int draws) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts[static_cast<std::size_t>(sampler.sample(logits))];
  return counts;
}

TEST(Rng, IsTheStandardMersenneTwisterWithExactScaling) {
  // The standard fixes mt19937_64's outputs: the first for the default seed 5489 is 14514284786278117030.
  Rng rng(5489);
  EXPECT_EQ(rng.uniform(), static_cast<double>(14514284786278117030ull >> 11) * 0x1.0p-53);
  std::mt19937_64 reference(5489);
  reference.discard(1);
  for (int i = 0; i < 1000; ++i) {
    const double u = rng.uniform();
    EXPECT_EQ(u, static_cast<double>(reference() >> 11) * 0x1.0p-53);
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

TEST(StageNames, LlamaCppSpellings) {
  EXPECT_EQ(stage_from_name("top_k"), Stage::top_k);
  EXPECT_EQ(stage_from_name("top-p"), Stage::top_p);
  EXPECT_EQ(stage_from_name("TYP_P"), Stage::typical_p);
  EXPECT_EQ(stage_from_name("temp"), Stage::temperature);
  EXPECT_EQ(stage_from_name("m"), Stage::min_p);
  EXPECT_EQ(stage_from_name("penalties"), Stage::penalties);
  EXPECT_EQ(stage_from_name("mirostat"), std::nullopt);
  for (Stage stage : default_stage_order()) EXPECT_EQ(stage_from_name(stage_name(stage)), stage);
}

TEST(Sampler, DefaultsAreLlamaCpps) {
  SamplingParams params;
  EXPECT_EQ(params.top_k, 40);
  EXPECT_FLOAT_EQ(params.top_p, 0.95f);
  EXPECT_FLOAT_EQ(params.min_p, 0.05f);
  EXPECT_FLOAT_EQ(params.temperature, 0.8f);
  EXPECT_EQ(params.penalty_last_n, 64);
  EXPECT_EQ(params.order, (std::vector<Stage>{Stage::penalties, Stage::top_k, Stage::typical_p, Stage::top_p,
                                              Stage::min_p, Stage::temperature}));
}

TEST(Sampler, ChainOrderMatters) {
  // {0.5, 0.25, 0.125, 0.125}. Top-p 0.7 first keeps {0, 1}; temperature 0.5 then squares the odds: 0.8 / 0.2.
  const auto logits = log_of({0.5, 0.25, 0.125, 0.125});
  SamplingParams params = plain(1);
  params.top_p = 0.7f;
  params.temperature = 0.5f;
  auto candidates = Sampler(params).candidates(logits);
  ASSERT_EQ(candidates.size(), 2u);
  EXPECT_NEAR(candidates[0].probability, 0.8, 1e-6);
  EXPECT_NEAR(candidates[1].probability, 0.2, 1e-6);
  // Temperature first: squared odds {0.727, 0.182, 0.045, 0.045}, so top-p 0.7 keeps the best alone.
  params.order = {Stage::temperature, Stage::top_p};
  candidates = Sampler(params).candidates(logits);
  ASSERT_EQ(candidates.size(), 1u);
  EXPECT_EQ(candidates[0].id, 0);
}

TEST(Sampler, DefaultChainOnAKnownRow) {
  // Top-k 40 keeps all 5; top-p 0.95 cuts the 0.03 tail after 0.97; min-p 0.05 (threshold 0.025) keeps the rest.
  const auto logits = log_of({0.6, 0.25, 0.12, 0.02, 0.01});
  SamplingParams params;
  params.seed = 3;
  const auto candidates = Sampler(params).candidates(logits);
  ASSERT_EQ(candidates.size(), 3u);
  // Temperature 0.8 over the kept three: p^(1/0.8) renormalized.
  const double a = std::pow(0.6, 1.25), b = std::pow(0.25, 1.25), c = std::pow(0.12, 1.25);
  EXPECT_NEAR(candidates[0].probability, a / (a + b + c), 1e-5);
  EXPECT_NEAR(candidates[1].probability, b / (a + b + c), 1e-5);
  EXPECT_NEAR(candidates[2].probability, c / (a + b + c), 1e-5);
}

TEST(Sampler, TemperatureZeroIsGreedyAfterPenaltiesAndBias) {
  const std::vector<float> logits{1.0f, 3.0f, 2.9f, 0.5f};
  SamplingParams params;
  params.temperature = 0.0f;
  params.seed = 9;
  Sampler greedy(params);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(greedy.sample(logits), 1);
  params.repeat_penalty = 1.1f;  // 3.0 / 1.1 = 2.73 < 2.9
  Sampler penalized(params);
  penalized.accept(1);
  EXPECT_EQ(penalized.sample(logits), 2);
  params.repeat_penalty = 1.0f;
  params.logit_bias = {{1, -kInf}, {2, -kInf}};
  EXPECT_EQ(Sampler(params).sample(logits), 0);
}

// Greedy sampling skips building candidates; it must pick what the whole chain would leave.
TEST(Sampler, GreedyShortcutAgreesWithTheWholeChain) {
  std::mt19937_64 rng(5);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<float> logits(500);
    for (auto& logit : logits) logit = std::round(normal(rng) * 4.0f) / 4.0f;  // coarse values: many ties
    if (trial % 7 == 0) logits[static_cast<std::size_t>(trial) % 500] = std::nanf("");
    SamplingParams params;
    params.temperature = trial % 2 == 0 ? 0.0f : -1.0f;
    params.seed = static_cast<std::uint64_t>(trial);
    params.repeat_penalty = 1.0f + static_cast<float>(trial % 5) * 0.2f;
    params.frequency_penalty = trial % 3 == 0 ? 0.5f : 0.0f;
    params.presence_penalty = trial % 4 == 0 ? 0.3f : 0.0f;
    params.penalty_last_n = trial % 11 == 0 ? 0 : 16;
    if (trial % 3 == 1) params.logit_bias = {{static_cast<TokenId>(trial), 3.0f}, {7, -kInf}, {499, 0.5f}};
    if (trial % 10 == 9) params.order = {Stage::temperature, Stage::penalties, Stage::top_k};
    if (trial % 10 == 8) params.typical_p = 0.5f;  // typical-p ahead of temperature: the whole chain runs
    Sampler sampler(params);
    for (int i = 0; i < 20; ++i) sampler.accept(static_cast<TokenId>((trial * 31 + i * 17) % 500));
    const auto chain = sampler.candidates(logits);
    ASSERT_EQ(chain.size(), 1u) << trial;
    EXPECT_EQ(sampler.sample(logits), chain[0].id) << "trial " << trial;
  }
}

TEST(Sampler, PenaltyWindowSlides) {
  const std::vector<float> logits{2.0f, 1.9f};
  SamplingParams params;
  params.temperature = 0.0f;
  params.penalty_last_n = 2;
  params.repeat_penalty = 2.0f;
  params.seed = 1;
  Sampler sampler(params);
  sampler.accept(0);
  EXPECT_EQ(sampler.sample(logits), 1);
  sampler.accept(1);
  sampler.accept(1);  // token 0 has left the window
  EXPECT_EQ(sampler.sample(logits), 0);
  sampler.reset();
  EXPECT_EQ(sampler.sample(logits), 0);
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferentTokens) {
  const auto logits = log_of({0.2, 0.2, 0.2, 0.2, 0.1, 0.1});
  auto run = [&](std::uint64_t seed) {
    Sampler sampler(plain(seed));
    std::vector<TokenId> tokens;
    for (int i = 0; i < 200; ++i) tokens.push_back(sampler.sample(logits));
    return tokens;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
  Sampler sampler(plain(42));
  const auto first = run(42);
  for (int i = 0; i < 50; ++i) sampler.sample(logits);
  sampler.reset();
  for (int i = 0; i < 200; ++i) EXPECT_EQ(sampler.sample(logits), first[static_cast<std::size_t>(i)]);
}

TEST(Sampler, PinnedDrawsForAFixedSeed) {
  // Hearth's own draw code over a standard-defined engine: this sequence must not change across platforms.
  const auto logits = log_of({0.4, 0.3, 0.2, 0.1});
  Sampler sampler(plain(1234));
  std::vector<TokenId> tokens;
  for (int i = 0; i < 16; ++i) tokens.push_back(sampler.sample(logits));
  // Each draw is the first token whose cumulative mass (0.4, 0.7, 0.9, 1.0) exceeds the uniform number.
  Rng rng(1234);
  for (int i = 0; i < 16; ++i) {
    const double u = rng.uniform();
    const TokenId expected = u < 0.4 ? 0 : u < 0.7 ? 1 : u < 0.9 ? 2 : 3;
    if (std::abs(u - 0.4) > 1e-6 && std::abs(u - 0.7) > 1e-6 && std::abs(u - 0.9) > 1e-6) {
      EXPECT_EQ(tokens[static_cast<std::size_t>(i)], expected) << i << " u=" << u;
    }
  }
}

TEST(Sampler, UnseededSamplersPickTheirOwnSeed) {
  SamplingParams params;
  const Sampler a(params), b(params);
  EXPECT_NE(a.seed(), b.seed());
}

// 10^4 draws against the expected probabilities; 18.47 is the chi-square 0.999 quantile for 4 degrees of freedom
// (the seeds are fixed, so this is deterministic; the bound says the draw is right, not lucky).
TEST(Distribution, PlainDrawMatchesTheSoftmax) {
  const std::vector<double> expected{0.5, 0.25, 0.125, 0.0625, 0.0625};
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    Sampler sampler(plain(seed));
    const auto counts = histogram(sampler, log_of(expected), 10000);
    EXPECT_LT(chi_square(counts, expected, 10000), 18.47) << "seed " << seed;
  }
}

TEST(Distribution, TemperatureTwoFlattensToTheSquareRoot) {
  const std::vector<double> base{0.5, 0.25, 0.125, 0.0625, 0.0625};
  std::vector<double> expected;
  double total = 0.0;
  for (double p : base) total += std::sqrt(p);
  for (double p : base) expected.push_back(std::sqrt(p) / total);
  SamplingParams params = plain(7);
  params.temperature = 2.0f;
  Sampler sampler(params);
  const auto counts = histogram(sampler, log_of(base), 10000);
  EXPECT_LT(chi_square(counts, expected, 10000), 18.47);
}

TEST(Distribution, TopKRenormalizesAndNeverDrawsTheRest) {
  const std::vector<double> base{0.5, 0.25, 0.125, 0.0625, 0.0625};
  SamplingParams params = plain(11);
  params.top_k = 2;
  Sampler sampler(params);
  const auto counts = histogram(sampler, log_of(base), 10000);
  EXPECT_EQ(counts[2] + counts[3] + counts[4], 0);
  // 1 degree of freedom: 10.83 is the 0.999 quantile.
  EXPECT_LT(chi_square({counts[0], counts[1]}, {2.0 / 3, 1.0 / 3}, 10000), 10.83);
}

TEST(Distribution, BannedTokensAreNeverDrawn) {
  const std::vector<float> logits(8, 0.0f);
  SamplingParams params = plain(5);
  ban_tokens(params, std::vector<TokenId>{0, 3, 7});
  Sampler sampler(params);
  const auto counts = histogram(sampler, logits, 2000);
  EXPECT_EQ(counts[0] + counts[3] + counts[7], 0);
  for (int token : {1, 2, 4, 5, 6}) EXPECT_GT(counts[static_cast<std::size_t>(token)], 300);
}

TEST(SamplerErrors, HostileParametersAndRows) {
  SamplingParams params = plain(1);
  params.logit_bias = {{10, 1.0f}};
  Sampler out_of_vocab(params);
  EXPECT_THROW(out_of_vocab.sample(std::vector<float>(10, 0.0f)), SamplingError);
  EXPECT_NO_THROW(out_of_vocab.sample(std::vector<float>(11, 0.0f)));

  params.logit_bias = {{-1, 1.0f}};
  EXPECT_THROW(Sampler{params}, SamplingError);
  params.logit_bias = {{1, std::nanf("")}};
  EXPECT_THROW(Sampler{params}, SamplingError);
  params.logit_bias.clear();
  params.top_p = std::nanf("");
  EXPECT_THROW(Sampler{params}, SamplingError);

  Sampler sampler(plain(1));
  EXPECT_THROW(sampler.sample(std::vector<float>{}), SamplingError);
  EXPECT_THROW(sampler.sample(std::vector<float>{-kInf, std::nanf("")}), SamplingError);
  EXPECT_EQ(sampler.sample(std::vector<float>{std::nanf(""), -kInf, 0.0f}), 2);
}

}  // namespace
}  // namespace hearth::sampling
