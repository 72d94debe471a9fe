// The comparison code of the conformance suite, on hand-made inputs (the suite itself needs the peer and is slow).
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "conformance/faults.h"
#include "conformance/metrics.h"
#include "conformance/peer.h"
#include "hearth/gguf.h"
#include "tensor/quant.h"

namespace hearth::conformance {
namespace {

namespace fs = std::filesystem;

std::vector<float> random_row(std::mt19937& rng, size_t n, float spread) {
  std::normal_distribution<float> normal(0.0f, spread);
  std::vector<float> row(n);
  for (float& v : row) v = normal(rng);
  return row;
}

TEST(ConformanceMetrics, LogSoftmaxNormalizes) {
  const std::vector<float> logits{0.0f, static_cast<float>(std::log(3.0))};
  const auto log_p = log_softmax(logits);
  EXPECT_NEAR(std::exp(log_p[0]), 0.25, 1e-7);
  EXPECT_NEAR(std::exp(log_p[1]), 0.75, 1e-7);
  // Large logits do not overflow.
  const auto big = log_softmax(std::vector<float>{1000.0f, 1000.0f});
  EXPECT_NEAR(big[0], std::log(0.5), 1e-12);
}

TEST(ConformanceMetrics, KlDivergenceOfKnownDistributions) {
  // P = (1/4, 3/4), Q = (1/2, 1/2): KL = 1/4 ln(1/2) + 3/4 ln(3/2).
  const std::vector<float> p{0.0f, static_cast<float>(std::log(3.0))};
  const std::vector<float> q{5.0f, 5.0f};
  EXPECT_NEAR(kl_divergence(p, q), 0.25 * std::log(0.5) + 0.75 * std::log(1.5), 1e-7);
  EXPECT_EQ(kl_divergence(p, p), 0.0);
  // Shifting every logit by a constant changes no probability.
  std::mt19937 rng(3);
  const auto row = random_row(rng, 1000, 2.0f);
  auto shifted = row;
  for (float& v : shifted) v += 7.0f;
  EXPECT_LT(kl_divergence(row, shifted), 1e-9);
  // A small perturbation: KL ~ Var_p(delta) / 2.
  auto perturbed = row;
  std::normal_distribution<float> noise(0.0f, 0.01f);
  for (float& v : perturbed) v += noise(rng);
  const double kld = kl_divergence(row, perturbed);
  EXPECT_GT(kld, 1e-5);
  EXPECT_LT(kld, 1e-4);
  EXPECT_THROW(kl_divergence(p, std::vector<float>{1.0f}), std::invalid_argument);
}

TEST(ConformanceMetrics, PrefixAndArgmax) {
  EXPECT_EQ(common_prefix(std::vector<int32_t>{1, 2, 3, 4}, std::vector<int32_t>{1, 2, 5, 4}), 2);
  EXPECT_EQ(common_prefix(std::vector<int32_t>{1, 2}, std::vector<int32_t>{1, 2, 3}), 2);
  EXPECT_EQ(argmax(std::vector<float>{1.0f, 3.0f, 3.0f}), 1);
}

TEST(ConformanceMetrics, ComparePromptMeasuresTheDivergenceGap) {
  PromptRun reference;
  reference.prompt_tokens = {1, 2};
  reference.greedy = {0, 1, 2};
  reference.forced = {{3.0f, 1.0f, 0.0f}, {0.0f, 2.0f, 1.9f}, {0.0f, 0.0f, 1.0f}};
  PromptRun candidate = reference;
  candidate.greedy = {0, 2, 2};  // parts at position 1, where the reference sees 2.0 vs 1.9
  candidate.forced[1] = {0.0f, 1.95f, 2.0f};  // and the candidate 2.0 vs 1.95
  const auto comparison = compare_prompt(reference, candidate);
  EXPECT_TRUE(comparison.tokens_equal);
  EXPECT_EQ(comparison.greedy_prefix, 1);
  ASSERT_TRUE(comparison.divergence_gap.has_value());
  EXPECT_NEAR(*comparison.divergence_gap, 0.1, 1e-6);
  EXPECT_EQ(comparison.same_top, 2);
  ASSERT_EQ(comparison.kld.size(), 3u);
  EXPECT_EQ(comparison.kld[0], 0.0);
  EXPECT_GT(comparison.kld[1], 0.0);

  const auto same = compare_prompt(reference, reference);
  EXPECT_FALSE(same.divergence_gap.has_value());
  const std::vector<PromptComparison> both{comparison, same};
  const auto statistics = summarize(both, 3);
  EXPECT_EQ(statistics.prompts, 2);
  EXPECT_EQ(statistics.identical_prompts, 1);
  EXPECT_EQ(statistics.min_greedy_prefix, 1);
  EXPECT_NEAR(statistics.same_top, 5.0 / 6.0, 1e-12);
  EXPECT_NEAR(statistics.mean_kld, comparison.kld[1] / 6.0, 1e-15);
  EXPECT_EQ(statistics.max_kld, comparison.kld[1]);
  EXPECT_NEAR(statistics.worst_gap, 0.1, 1e-6);

  PromptRun short_run = reference;
  short_run.forced.pop_back();
  EXPECT_THROW(compare_prompt(reference, short_run), std::invalid_argument);
}

TEST(ConformancePeer, ParsesEvaluateOutputAndItsLogits) {
  const auto work = fs::temp_directory_path() / fmt::format("hearth-peer-parse-{}", ::getpid());
  fs::create_directories(work);
  const auto logits_path = work / "logits-0.f32";
  const std::string line = fmt::format(R"({{"model":"a.gguf","peer":"node-llama-cpp 3.22.1","variant":"haswell",
    "library":"/x/libggml-cpu-haswell.so","features":["AVX2","FMA"],"n_vocab":3,"positions":2,"logits":"{}",
    "results":[{{"prompt":"hi","prompt_tokens":[1,2],"greedy":[5,6],"greedy_text":" x"}}]}})", logits_path.string());
  fs::path file;
  PeerModel model = parse_peer_model(line, file);
  EXPECT_EQ(file, logits_path);
  EXPECT_EQ(model.variant, "haswell");
  EXPECT_EQ(model.features, (std::vector<std::string>{"AVX2", "FMA"}));
  ASSERT_EQ(model.prompts.size(), 1u);
  EXPECT_EQ(model.prompts[0].prompt_tokens, (Tokens{1, 2}));
  EXPECT_EQ(model.prompts[0].greedy, (Tokens{5, 6}));
  EXPECT_EQ(model.greedy_texts[0], " x");

  const std::vector<float> rows{0.5f, 1.5f, -2.0f, 3.0f, 0.25f, 1.0f};
  std::ofstream(logits_path, std::ios::binary).write(reinterpret_cast<const char*>(rows.data()), sizeof(float) * 6);
  read_peer_logits(logits_path, 2, model);
  ASSERT_EQ(model.prompts[0].forced.size(), 2u);
  EXPECT_EQ(model.prompts[0].forced[1], (std::vector<float>{3.0f, 0.25f, 1.0f}));
  // A file of another size (a row missing) is an error, not a short read.
  std::ofstream(logits_path, std::ios::binary).write(reinterpret_cast<const char*>(rows.data()), sizeof(float) * 3);
  EXPECT_THROW(read_peer_logits(logits_path, 2, model), PeerError);

  EXPECT_THROW(parse_peer_model("{\"model\":1}", file), PeerError);
  EXPECT_THROW(parse_peer_model("not json", file), PeerError);
  fs::remove_all(work);
}

TEST(ConformancePeer, ShellQuoting) {
  EXPECT_EQ(shell_quote("a b"), "'a b'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(run_command("exit 3"), 3);
  EXPECT_EQ(run_command(shell_quote("printf") + " " + shell_quote("%s") + " " + shell_quote("it's") + " >/dev/null"), 0);
}

TEST(ConformancePeer, AFailingPeerIsAnErrorWithItsMessage) {
  const auto work = fs::temp_directory_path() / fmt::format("hearth-peer-test-{}", ::getpid());
  fs::create_directories(work);
  PeerLocation broken{work / "hearth-no-such-peer.mjs", "node"};
  PeerProcess process(broken, {PeerJob{"model.gguf", {"hi"}, {}}}, PeerSettings{}, work);
  try {
    process.next();
    FAIL() << "a peer that cannot start answered";
  } catch (const PeerError& error) {
    EXPECT_NE(std::string(error.what()).find("hearth-no-such-peer.mjs"), std::string::npos) << error.what();
  }
  fs::remove_all(work);
}

// The peer runs the CPU library it is asked for, and says which one it loaded from ggml's own report. The
// generic x64 library runs on every x86-64 CPU; a name the peer does not ship is a clear error.
TEST(ConformancePeer, RunsTheChosenCpuVariant) {
  const auto peer = find_peer(HEARTH_SOURCE_DIR);
  const auto work = fs::temp_directory_path() / fmt::format("hearth-peer-variant-{}", ::getpid());
  fs::create_directories(work);
  PeerSettings settings;
  settings.generate = 2;
  settings.positions = 2;
  settings.variant = "x64";
  const fs::path model = fs::path(HEARTH_SHARED_DIR) / "models" / "hearth-demo-13m-q8_0.gguf";
  PeerProcess process(peer, {PeerJob{model, {"The Python interpreter"}, {}}}, settings, work);
  const PeerModel answer = process.next();
  EXPECT_EQ(answer.variant, "x64");
  EXPECT_NE(answer.library.find("libggml-cpu-x64.so"), std::string::npos) << answer.library;
  EXPECT_EQ(answer.n_vocab, 32000);
  ASSERT_EQ(answer.prompts.size(), 1u);
  EXPECT_EQ(answer.prompts[0].forced.size(), 2u);

  settings.variant = "no-such-cpu";
  PeerProcess wrong(peer, {PeerJob{model, {"hi"}, {}}}, settings, work);
  try {
    wrong.next();
    FAIL() << "an unknown variant answered";
  } catch (const PeerError& error) {
    EXPECT_NE(std::string(error.what()).find("ships no CPU variant \"no-such-cpu\""), std::string::npos) << error.what();
  }
  fs::remove_all(work);
}

// The faulty copies change exactly what each fault says, in the named tensor only.
TEST(ConformanceFaults, FaultyCopiesReadAsTheFaultyKernelWould) {
  const auto work = fs::temp_directory_path() / fmt::format("hearth-fault-test-{}", ::getpid());
  fs::create_directories(work);
  constexpr int64_t kRow = 96;  // three Q8_0 blocks
  std::mt19937 rng(11);
  const auto values = random_row(rng, kRow * 2, 1.0f);
  std::vector<std::byte> quantized(2 * *row_bytes(TensorType::Q8_0, kRow));
  tensor::quantize_row(TensorType::Q8_0, values.data(), quantized.data(), kRow * 2);
  const std::vector<std::byte> untouched(quantized);
  gguf::Writer writer;
  writer.set("general.architecture", std::string("llama"));
  const std::vector<int64_t> shape{kRow, 2};
  writer.add_tensor("hit", TensorType::Q8_0, shape, quantized);
  writer.add_tensor("other", TensorType::Q8_0, shape, untouched);
  const auto source = work / "source.gguf";
  writer.write(source);

  const auto dequantized = [](const gguf::File& file, const std::string& name) {
    for (const auto& info : file.tensors()) {
      if (info.name != name) continue;
      std::vector<float> out(static_cast<size_t>(info.n_elements()));
      tensor::dequantize_row(info.type, info.data, out.data(), info.n_elements());
      return out;
    }
    throw std::runtime_error("no tensor " + name);
  };
  const auto original = dequantized(gguf::File::open(source), "hit");
  const auto block = [&](const std::vector<float>& row_values, int64_t row, int64_t b) {
    return std::vector<float>(row_values.begin() + row * kRow + b * 32, row_values.begin() + row * kRow + (b + 1) * 32);
  };

  const auto target = work / "faulty.gguf";
  write_faulty_copy(source, target, Fault::kSkippedLastBlock, "hit");
  {
    const auto file = gguf::File::open(target);
    const auto faulty = dequantized(file, "hit");
    for (int64_t row = 0; row < 2; ++row) {
      EXPECT_EQ(block(faulty, row, 0), block(original, row, 0));
      EXPECT_EQ(block(faulty, row, 2), std::vector<float>(32, 0.0f));
    }
    EXPECT_EQ(dequantized(file, "other"), original);
  }
  write_faulty_copy(source, target, Fault::kNeighbourBlock, "hit");
  {
    const auto faulty = dequantized(gguf::File::open(target), "hit");
    for (int64_t row = 0; row < 2; ++row) {
      EXPECT_EQ(block(faulty, row, 0), block(original, row, 1));
      EXPECT_EQ(block(faulty, row, 2), block(original, row, 0));
    }
  }
  write_faulty_copy(source, target, Fault::kDroppedScale, "hit");
  {
    const auto faulty = dequantized(gguf::File::open(target), "hit");
    // With d = 1 each value is its raw 8-bit integer: far larger than the original and in the same direction.
    for (size_t i = 0; i < original.size(); ++i) {
      EXPECT_EQ(faulty[i], std::nearbyint(faulty[i]));
      if (original[i] != 0.0f) EXPECT_EQ(std::signbit(faulty[i]), std::signbit(original[i]));
    }
  }
  EXPECT_THROW(write_faulty_copy(source, target, Fault::kNeighbourBlock, "missing"), std::runtime_error);
  fs::remove_all(work);
}

}  // namespace
}  // namespace hearth::conformance
