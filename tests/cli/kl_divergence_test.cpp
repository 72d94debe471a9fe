// The KL-divergence unit of `hearth perplexity` on its own: the base-record encoding, the per-position
// comparison against a direct double computation, llama.cpp's percentile and median, the report, and the base
// file reader's checks.
#include "cli/kl_divergence.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace hearth::cli::kld {
namespace {

// Logits with the spread of a real model's: some tokens more than 16 below the top (clamped by the encoding).
std::vector<float> random_logits(size_t n_vocab, uint32_t seed, float spread = 4.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, spread);
  std::vector<float> logits(n_vocab);
  for (float& l : logits) l = normal(rng);
  return logits;
}

// log softmax in double.
std::vector<double> log_probs(const std::vector<float>& logits) {
  double max_logit = logits[0];
  for (float l : logits) max_logit = std::max<double>(max_logit, l);
  double sum = 0;
  for (float l : logits) sum += std::exp(l - max_logit);
  std::vector<double> out;
  for (float l : logits) out.push_back(l - max_logit - std::log(sum));
  return out;
}

std::vector<uint16_t> encode(const std::vector<float>& logits) {
  std::vector<uint16_t> record(static_cast<size_t>(record_words(static_cast<int32_t>(logits.size()))), 0xffff);
  encode_record(logits, record);
  return record;
}

// A token whose log-probability lies above the encoding's clamp (clamped ones all decode to its bottom).
int32_t unclamped_token(const std::vector<float>& logits, uint32_t seed) {
  const float top = *std::max_element(logits.begin(), logits.end());
  for (size_t k = 0; k < logits.size(); ++k) {
    const size_t i = (seed * 37 + k) % logits.size();
    if (logits[i] > top - 12) return static_cast<int32_t>(i);
  }
  return 0;
}

// Float steps (the log-sum-exp, the subtraction, scale * q) each round at about 1e-6 for log-probs near -30.
constexpr float kFloatSlack = 1e-5f;

TEST(KlDivergence, RecordLayoutMatchesLlamaCpp) {
  EXPECT_EQ(record_words(32000), 32004);
  EXPECT_EQ(record_words(7), 12);  // rounded up to even, padding word zeroed
  EXPECT_EQ(first_scored(128), 64);
  EXPECT_EQ(scored_per_chunk(128), 63);
  EXPECT_EQ(scored_per_chunk(5), 2);
  EXPECT_EQ(base_file_size({128, 32000, 4}), 20u + 4u * 128 * 4 + 2u * 32004 * 63 * 4);
  EXPECT_EQ(encode(random_logits(7, 1))[11], 0);
}

TEST(KlDivergence, EncodingRoundTripsWithinHalfAStep) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    const std::vector<float> logits = random_logits(1001, seed);
    const std::vector<double> truth = log_probs(logits);
    const std::vector<uint16_t> record = encode(logits);
    const RecordView view(record, 1001);
    ASSERT_GT(view.scale(), 0);
    size_t clamped = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
      if (truth[i] > view.min_log_prob() + view.scale()) {
        EXPECT_LE(std::fabs(view.log_prob(i) - truth[i]), view.scale() / 2 + kFloatSlack) << "seed " << seed << " token " << i;
      } else if (truth[i] < view.min_log_prob() - kFloatSlack) {
        EXPECT_EQ(record[4 + i], 0) << "below the clamp";
        ++clamped;
      }
    }
    // The spread puts some tokens more than 16 below the top, and the top one at the largest step.
    EXPECT_NEAR(view.min_log_prob(), *std::max_element(truth.begin(), truth.end()) - 16, kFloatSlack);
    EXPECT_GT(clamped, 0u) << "seed " << seed << ": the spread should reach below the clamp";
  }
  // A flat row: scale 0, every value 0, decoded as the uniform log-probability.
  const std::vector<float> flat(10, 1.5f);
  const std::vector<uint16_t> record = encode(flat);
  const RecordView view(record, 10);
  EXPECT_EQ(view.scale(), 0.0f);
  EXPECT_NEAR(view.log_prob(3), -std::log(10.0), kFloatSlack);
}

TEST(KlDivergence, AgainstItselfOnlyTheRoundingRemains) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    const std::vector<float> logits = random_logits(2000, seed);
    const std::vector<uint16_t> record = encode(logits);
    const RecordView view(record, 2000);
    const auto result = compare_position(logits, view, unclamped_token(logits, seed));
    // Each decoded log-prob is off by at most scale/2, and the KLD is a p-weighted sum of those offsets.
    EXPECT_LE(std::fabs(result.kld), view.scale() / 2 + kFloatSlack) << seed;
    EXPECT_TRUE(result.same_top);
    EXPECT_LE(std::fabs(result.nll - result.nll_base), view.scale() / 2 + kFloatSlack);
    EXPECT_LE(std::fabs(result.p_diff), view.scale() / 2 + kFloatSlack);  // |p - p e^d| <= |d| for p <= 1
  }
}

TEST(KlDivergence, MatchesADirectComputationOnAPerturbedDistribution) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    const std::vector<float> base_logits = random_logits(2000, seed);
    std::vector<float> logits = base_logits;
    std::mt19937 rng(seed + 1000);
    std::normal_distribution<float> noise(0.0f, 1.0f);
    for (float& l : logits) l += noise(rng);
    const std::vector<uint16_t> record = encode(base_logits);
    const RecordView view(record, 2000);
    const int32_t target = unclamped_token(base_logits, seed);
    const auto result = compare_position(logits, view, target);

    const std::vector<double> p_log = log_probs(base_logits);
    const std::vector<double> q_log = log_probs(logits);
    double direct = 0;
    double offset_weight = 0;  // sum of p * (1 + |log p - log q|): how far half-step offsets can move the sum
    for (size_t i = 0; i < p_log.size(); ++i) {
      if (p_log[i] <= -16) continue;
      direct += std::exp(p_log[i]) * (p_log[i] - q_log[i]);
      offset_weight += std::exp(p_log[i]) * (1 + std::fabs(p_log[i] - q_log[i]));
    }
    ASSERT_GT(direct, 1e-3) << "the perturbation must stand well above the bound";
    // First order in the offsets d_i <= scale/2: sum p_i d_i (1 + log p_i - log q_i); tokens at the -16 border
    // that the rounding moves across it weigh under 1e-7 each; the float steps add about 1e-6.
    const double bound = 1.01 * view.scale() / 2 * offset_weight + 1e-5;
    EXPECT_NEAR(result.kld, direct, bound) << seed;
    EXPECT_NEAR(result.nll, -q_log[target], kFloatSlack);
    EXPECT_NEAR(result.nll_base, -p_log[target], view.scale() / 2 + kFloatSlack);
    EXPECT_NEAR(result.p_diff, std::exp(q_log[target]) - std::exp(p_log[target]), 1e-4);
    const auto top = [](const std::vector<double>& v) { return std::max_element(v.begin(), v.end()) - v.begin(); };
    EXPECT_EQ(result.same_top, top(p_log) == top(q_log));
  }
}

TEST(KlDivergence, PercentileInterpolatesBetweenRanksAndMedianTakesTheMiddle) {
  const std::vector<float> five = {1, 2, 3, 4, 5};
  EXPECT_FLOAT_EQ(percentile(five, 0.0f), 1);
  EXPECT_FLOAT_EQ(percentile(five, 1.0f), 5);
  EXPECT_FLOAT_EQ(percentile(five, 0.5f), 3);    // rank 2
  EXPECT_FLOAT_EQ(percentile(five, 0.9f), 4.6f);  // rank 3.6
  EXPECT_FLOAT_EQ(percentile(five, 0.1f), 1.4f);  // rank 0.4
  EXPECT_FLOAT_EQ(median(five), 3);
  const std::vector<float> four = {1, 2, 3, 10};
  EXPECT_FLOAT_EQ(median(four), 2.5f);
  EXPECT_FLOAT_EQ(percentile(four, 0.999f), 3 + 0.997f * 7);  // rank 2.997
  EXPECT_FLOAT_EQ(percentile(four, 0.25f), 1.75f);            // rank 0.75
}

TEST(KlDivergence, ReportNeedsAHundredPositionsAndSaysSo) {
  Statistics statistics;
  for (int i = 0; i < 99; ++i) statistics.add({.kld = 0.01, .p_diff = 0.0f, .nll = 2.0f, .nll_base = 2.0f, .same_top = true});
  EXPECT_NE(statistics.report().find("No statistics: only 99 positions"), std::string::npos) << statistics.report();

  statistics.add({.kld = 1.0, .p_diff = -0.5f, .nll = 3.0f, .nll_base = 2.0f, .same_top = false});
  const std::string report = statistics.report();
  size_t at = 0;
  for (const char* line :
       {"====== Perplexity statistics ======\n", "Mean PPL(Q)                   : ", "Mean PPL(base)                : ",
        "Cor(ln(PPL(Q)), ln(PPL(base))): ", "Mean ln(PPL(Q)/PPL(base))     : ", "Mean PPL(Q)/PPL(base)         : ",
        "Mean PPL(Q)-PPL(base)         : ", "====== KL divergence statistics ======\n",
        "Mean    KLD:   0.019900 ±   0.009900\n", "Maximum KLD:   1.000000\n", "95.0%   KLD:   0.010000\n",
        "Median  KLD:   0.010000\n", "Minimum KLD:   0.010000\n", "====== Token probability statistics ======\n",
        "Mean    Δp: -0.500 ± 0.500 %\n", "Maximum Δp:  0.000%\n", "Minimum Δp: -50.000%\n",
        "RMS Δp    :  5.000 ± 2.500 %\n", "Same top p: 99.000 ± 1.000 %\n"}) {
    const size_t found = report.find(line, at);
    ASSERT_NE(found, std::string::npos) << "missing or out of order: '" << line << "' in\n" << report;
    at = found;
  }
  EXPECT_EQ(Statistics::progress_header().rfind("chunk             PPL", 0), 0u);
  EXPECT_EQ(statistics.progress_line(3).rfind("   3    ", 0), 0u) << statistics.progress_line(3);
}

// A valid base file's bytes: header, tokens, records of random logits.
std::string valid_base(const BaseHeader& header, std::vector<int32_t>* tokens_out = nullptr,
                       std::vector<uint16_t>* records_out = nullptr) {
  const std::filesystem::path path = std::filesystem::path(::testing::TempDir()) / "kld-unit-base.bin";
  std::vector<int32_t> tokens(static_cast<size_t>(header.n_ctx) * header.n_chunk);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>((i * 7919) % header.n_vocab);
  std::vector<uint16_t> all;
  {
    BaseFileWriter writer(path, header, tokens);
    const auto words = static_cast<size_t>(record_words(header.n_vocab));
    for (int32_t c = 0; c < header.n_chunk; ++c) {
      std::vector<uint16_t> records(static_cast<size_t>(scored_per_chunk(header.n_ctx)) * words);
      for (int32_t p = 0; p < scored_per_chunk(header.n_ctx); ++p) {
        encode_record(random_logits(static_cast<size_t>(header.n_vocab), static_cast<uint32_t>(c * 100 + p)),
                      std::span(records).subspan(p * words, words));
      }
      writer.write_chunk(records);
      all.insert(all.end(), records.begin(), records.end());
    }
    EXPECT_FALSE(std::filesystem::exists(path)) << "written through a partial file";
    writer.commit();
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  std::filesystem::remove(path);
  if (tokens_out != nullptr) *tokens_out = tokens;
  if (records_out != nullptr) *records_out = all;
  return bytes.str();
}

BaseFileReader read(const std::string& bytes) {
  return BaseFileReader(std::make_unique<std::istringstream>(bytes), bytes.size(), "base.kld");
}

std::string error_of(const std::string& bytes) {
  try {
    BaseFileReader reader = read(bytes);
    std::vector<uint16_t> records;
    for (int32_t c = 0; c < reader.header().n_chunk; ++c) reader.read_chunk(records);
  } catch (const BaseFileError& e) {
    return e.what();
  }
  return "";
}

void put_int(std::string& bytes, size_t offset, int32_t value) { std::memcpy(bytes.data() + offset, &value, 4); }

TEST(KlDivergence, BaseFileRoundTrips) {
  std::vector<int32_t> tokens;
  std::vector<uint16_t> records;
  const std::string bytes = valid_base({8, 11, 3}, &tokens, &records);
  EXPECT_EQ(bytes.size(), base_file_size({8, 11, 3}));
  EXPECT_EQ(bytes.substr(0, 8), "_logits_");
  BaseFileReader reader = read(bytes);
  EXPECT_EQ(reader.header().n_ctx, 8);
  EXPECT_EQ(reader.header().n_vocab, 11);
  EXPECT_EQ(reader.header().n_chunk, 3);
  EXPECT_EQ(reader.tokens(), tokens);
  std::vector<uint16_t> read_back;
  std::vector<uint16_t> chunk;
  for (int c = 0; c < 3; ++c) {
    reader.read_chunk(chunk);
    read_back.insert(read_back.end(), chunk.begin(), chunk.end());
  }
  EXPECT_EQ(read_back, records);
  EXPECT_THROW(reader.read_chunk(chunk), BaseFileError);
}

TEST(KlDivergence, HostileBaseFilesAreClearErrors) {
  const std::string good = valid_base({8, 11, 3});
  ASSERT_EQ(error_of(good), "");
  const auto expect_error = [](const std::string& bytes, const std::string& what) {
    const std::string error = error_of(bytes);
    EXPECT_EQ(error.rfind("base.kld: ", 0), 0u) << error;
    EXPECT_NE(error.find(what), std::string::npos) << "'" << error << "' does not say '" << what << "'";
  };
  expect_error(good.substr(0, 10), "truncated: 10 bytes");
  expect_error(good.substr(0, good.size() - 1), "truncated");
  expect_error(good + "x", "too long");
  std::string bad = good;
  bad[0] = 'X';
  expect_error(bad, "does not start with \"_logits_\"");
  bad = good;
  put_int(bad, 8, 3);
  expect_error(bad, "n_ctx 3 is outside");
  bad = good;
  put_int(bad, 12, 0);
  expect_error(bad, "n_vocab 0 is outside");
  bad = good;
  put_int(bad, 16, -1);
  expect_error(bad, "n_chunk -1 is not positive");
  bad = good;
  put_int(bad, 8, kMaxCtx);
  put_int(bad, 12, kMaxVocab);
  put_int(bad, 16, INT32_MAX);
  expect_error(bad, "more than 2^64 bytes");
  bad = good;
  put_int(bad, 8, 1 << 20);  // fits 64 bits, but not the file
  expect_error(bad, "says");
  bad = good;
  put_int(bad, 20 + 4 * 5, 11);
  expect_error(bad, "token 11 at index 5 is outside the vocabulary of 11");
  bad = good;
  put_int(bad, 20 + 4 * 5, -2);
  expect_error(bad, "token -2 at index 5");
  // The second chunk's third record (position 4 + 2) gets a NaN scale.
  bad = good;
  const size_t record_bytes = 2 * static_cast<size_t>(record_words(11));
  const float nan = std::nanf("");
  std::memcpy(bad.data() + 20 + 4 * 24 + (3 + 2) * record_bytes, &nan, 4);
  expect_error(bad, "chunk 2 position 6 has scale nan");
}

}  // namespace
}  // namespace hearth::cli::kld
