// Synthetic models: structure, metadata, determinism and weight statistics.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <set>
#include <vector>

#include "hearth/gguf.h"
#include "model/synth.h"
#include "temp_dir.h"
#include "support/shared_data.h"
#include "tensor/quant.h"

namespace hearth::model {
namespace {

std::filesystem::path vocab(const std::string& name) {
  return test::shared_dir() / "vocab" / ("ggml-vocab-" + name + ".gguf");
}

SynthSummary synth(const std::string& shape, FileType type, uint64_t seed, int threads, const std::filesystem::path& out) {
  SynthOptions options;
  options.shape = &synth_shape(shape);
  options.vocab = vocab(std::string(options.shape->vocab));
  options.file_type = type;
  options.seed = seed;
  options.output = out;
  options.convert.threads = threads;
  return write_synth_model(options);
}

std::vector<char> bytes_of(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<float> values_of(const gguf::TensorInfo& t) {
  std::vector<float> values(static_cast<size_t>(t.n_elements()));
  const uint64_t row = *row_bytes(t.type, t.ne[0]);
  for (int64_t r = 0; r < t.n_rows(); ++r) {
    tensor::dequantize_row(t.type, t.data + static_cast<uint64_t>(r) * row, values.data() + r * t.ne[0], t.ne[0]);
  }
  return values;
}

TEST(Synth, TinyLlamaHasTheLayoutLlamaCppExpects) {
  test::TempDir dir("synth");
  const SynthSummary summary = synth("tiny-llama", FileType::F16, 7, 2, dir / "m.gguf");
  const gguf::File file = gguf::File::open(dir / "m.gguf");
  EXPECT_EQ(summary.vocab_size, 32000);
  EXPECT_EQ(summary.bytes, file.file_size());
  EXPECT_EQ(file.get<std::string_view>("general.architecture"), "llama");
  EXPECT_EQ(file.get<uint32_t>("general.file_type"), 1u);
  EXPECT_FALSE(file.contains("general.quantization_version"));
  EXPECT_EQ(file.get<uint32_t>("llama.embedding_length"), 256u);
  EXPECT_EQ(file.get<uint32_t>("llama.block_count"), 4u);
  EXPECT_EQ(file.get<uint32_t>("llama.feed_forward_length"), 768u);
  EXPECT_EQ(file.get<uint32_t>("llama.attention.head_count"), 4u);
  EXPECT_EQ(file.get<uint32_t>("llama.attention.head_count_kv"), 2u);
  EXPECT_EQ(file.get<uint32_t>("llama.context_length"), 512u);
  EXPECT_EQ(file.get<uint32_t>("llama.vocab_size"), 32000u);
  EXPECT_EQ(file.get<uint32_t>("llama.rope.dimension_count"), 64u);
  EXPECT_FLOAT_EQ(file.get<float>("llama.attention.layer_norm_rms_epsilon"), 1e-5f);
  EXPECT_FLOAT_EQ(file.get<float>("llama.rope.freq_base"), 10000.0f);
  // The tokenizer comes whole from the vocab file.
  const gguf::File source = gguf::File::open(vocab("llama-spm"));
  for (const gguf::KeyValue& kv : source.metadata()) {
    if (!kv.key.starts_with("tokenizer.")) continue;
    ASSERT_TRUE(file.contains(kv.key)) << kv.key;
    EXPECT_EQ(file.at(kv.key).to_display(3), kv.value.to_display(3)) << kv.key;
  }
  EXPECT_EQ(file.at("tokenizer.ggml.tokens").size(), 32000u);

  const std::vector<PlannedTensor> expected = synth_tensors(synth_shape("tiny-llama"), 32000);
  ASSERT_EQ(file.tensors().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const gguf::TensorInfo& t = file.tensors()[i];
    EXPECT_EQ(t.name, expected[i].name);
    EXPECT_EQ(t.ne, expected[i].ne) << t.name;
    EXPECT_EQ(t.type, t.n_dims == 1 ? TensorType::F32 : TensorType::F16) << t.name;
  }
  EXPECT_EQ(file.tensor("token_embd.weight").shape_string(), "[256, 32000]");
  EXPECT_EQ(file.tensor("output.weight").shape_string(), "[256, 32000]");
  EXPECT_EQ(file.tensor("blk.3.attn_k.weight").shape_string(), "[256, 128]");
  EXPECT_EQ(file.tensor("blk.3.ffn_down.weight").shape_string(), "[768, 256]");
}

TEST(Synth, WeightsAreNormalWithStd002AndNormsNearOne) {
  test::TempDir dir("synth");
  synth("tiny-llama", FileType::F32, 3, 2, dir / "m.gguf");
  const gguf::File file = gguf::File::open(dir / "m.gguf");
  const std::vector<float> w = values_of(file.tensor("blk.1.ffn_up.weight"));
  double sum = 0, sum_sq = 0, beyond_3_sigma = 0;
  for (float v : w) {
    sum += v;
    sum_sq += static_cast<double>(v) * v;
    beyond_3_sigma += std::fabs(v) > 0.06f ? 1 : 0;
  }
  const double mean = sum / static_cast<double>(w.size());
  const double stddev = std::sqrt(sum_sq / static_cast<double>(w.size()) - mean * mean);
  EXPECT_NEAR(mean, 0.0, 2e-4);
  EXPECT_NEAR(stddev, 0.02, 4e-4);
  EXPECT_NEAR(beyond_3_sigma / static_cast<double>(w.size()), 0.0027, 0.0008);  // a normal tail, not a uniform one
  for (float v : values_of(file.tensor("blk.0.attn_norm.weight"))) EXPECT_NEAR(v, 1.0f, 0.1f);
  // Distinct tensors draw distinct numbers.
  EXPECT_NE(values_of(file.tensor("blk.0.ffn_up.weight")), values_of(file.tensor("blk.1.ffn_up.weight")));
}

TEST(Synth, SameSeedSameFileWhateverTheThreadCount) {
  test::TempDir dir("synth");
  synth("tiny-llama", FileType::Q8_0, 11, 1, dir / "a.gguf");
  synth("tiny-llama", FileType::Q8_0, 11, 2, dir / "b.gguf");
  synth("tiny-llama", FileType::Q8_0, 12, 2, dir / "c.gguf");
  const std::vector<char> a = bytes_of(dir / "a.gguf");
  EXPECT_EQ(a, bytes_of(dir / "b.gguf"));
  EXPECT_NE(a, bytes_of(dir / "c.gguf"));
  // Only the finished files are left.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()), 3);
}

TEST(Synth, ShapesOfEachFamily) {
  const auto names = [](const std::vector<PlannedTensor>& tensors) {
    std::set<std::string> set;
    for (const PlannedTensor& t : tensors) set.insert(t.name);
    return set;
  };
  const auto qwen2 = names(synth_tensors(synth_shape("tiny-qwen2"), 1000));
  EXPECT_TRUE(qwen2.count("blk.1.attn_q.bias") && qwen2.count("blk.1.attn_k.bias") && qwen2.count("blk.1.attn_v.bias"));
  EXPECT_FALSE(qwen2.count("output.weight"));
  const auto qwen3 = synth_tensors(synth_shape("tiny-qwen3"), 1000);
  const auto qwen3_names = names(qwen3);
  EXPECT_TRUE(qwen3_names.count("blk.0.attn_q_norm.weight") && qwen3_names.count("blk.0.attn_k_norm.weight"));
  EXPECT_FALSE(qwen3_names.count("blk.0.attn_q.bias"));
  for (const PlannedTensor& t : qwen3) {
    if (t.name == "blk.0.attn_q.weight") EXPECT_EQ(t.ne[1], 4 * 128);  // head_dim 128 != 256 / 4
    if (t.name == "blk.0.attn_output.weight") EXPECT_EQ(t.ne[0], 4 * 128);
    if (t.name == "blk.0.attn_q_norm.weight") EXPECT_EQ(t.ne[0], 128);
  }
  const auto llama3 = names(synth_tensors(synth_shape("llama32-1b"), 128256));
  EXPECT_TRUE(llama3.count("rope_freqs.weight"));
  EXPECT_EQ(llama3.size(), 1u + 1u + 16u * 9u + 1u);  // embeddings, rope factors, 9 per block, output norm
  // Every tiny shape keeps all matrix rows whole K super-blocks.
  for (const char* tiny : {"tiny-llama", "tiny-llama3", "tiny-qwen2", "tiny-qwen3"}) {
    for (const PlannedTensor& t : synth_tensors(synth_shape(tiny), 1000)) {
      if (t.n_dims == 2) EXPECT_EQ(t.ne[0] % 256, 0) << tiny << " " << t.name;
    }
  }
}

TEST(Synth, Llama3RopeFactorsFollowTheScalingRule) {
  test::TempDir dir("synth");
  synth("tiny-llama3", FileType::Q8_0, 1, 2, dir / "m.gguf");
  const gguf::File file = gguf::File::open(dir / "m.gguf");
  const std::vector<float> factors = values_of(file.tensor("rope_freqs.weight"));
  ASSERT_EQ(factors.size(), 32u);
  EXPECT_FLOAT_EQ(factors.front(), 1.0f);   // highest frequency: unscaled
  EXPECT_FLOAT_EQ(factors.back(), 32.0f);   // lowest: slowed by the full factor
  for (size_t i = 1; i < factors.size(); ++i) EXPECT_GE(factors[i], factors[i - 1]);
  EXPECT_EQ(file.get<uint32_t>("general.quantization_version"), 2u);
  EXPECT_FALSE(file.contains("output.weight"));
}

TEST(Synth, RejectsUnknownShapesAndVocabsWithoutTokens) {
  EXPECT_THROW(synth_shape("tiny-gpt"), std::invalid_argument);
  test::TempDir dir("synth");
  SynthOptions options;
  options.shape = &synth_shape("tiny-llama");
  options.vocab = test::shared_dir() / "golden" / "quant" / "quant-q8_0.gguf";  // a GGUF without a tokenizer
  options.output = dir / "m.gguf";
  EXPECT_THROW(write_synth_model(options), gguf::KeyError);
  EXPECT_FALSE(std::filesystem::exists(dir / "m.gguf"));
}

}  // namespace
}  // namespace hearth::model
