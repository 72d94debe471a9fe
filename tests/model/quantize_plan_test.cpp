// The per-tensor type mixes against llama.cpp's: file sizes of real model shapes, computed from the shapes.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <set>
#include <string>

#include "model/quantize.h"
#include "model/synth.h"

namespace hearth::model {
namespace {

// The tensors of a real model as its F16 GGUF holds them (vocab sizes as published).
std::vector<PlannedTensor> f16_model(const std::string& shape, int64_t vocab) {
  std::vector<PlannedTensor> tensors = synth_tensors(synth_shape(shape), vocab);
  for (PlannedTensor& t : tensors) t.source_type = t.n_dims >= 2 ? TensorType::F16 : TensorType::F32;
  return tensors;
}

ModelHints hints_of(const std::string& shape) {
  const SynthShape& s = synth_shape(shape);
  return {std::string(s.architecture), s.block_count, s.head_count, s.head_count_kv, 0};
}

std::map<std::string, TensorType> plan(const std::string& shape, int64_t vocab, FileType type) {
  const std::vector<PlannedTensor> tensors = f16_model(shape, vocab);
  const std::vector<TensorType> types = plan_tensor_types(type, tensors, hints_of(shape));
  std::map<std::string, TensorType> by_name;
  for (size_t i = 0; i < tensors.size(); ++i) by_name[tensors[i].name] = types[i];
  return by_name;
}

struct SizeTarget {
  const char* shape;
  int64_t vocab;
  FileType type;
  uint64_t f16_file_bytes;     // llama.cpp's F16 file of the real model
  uint64_t target_file_bytes;  // llama.cpp's quantized file of it
};

// File sizes of llama.cpp's quantizer; the metadata (tokenizer) overhead is taken from the F16 file.
const SizeTarget kTargets[] = {
    {"llama32-1b", 128256, FileType::Q4_K_M, 2'479'590'752, 807'689'632},
    {"llama32-1b", 128256, FileType::Q8_0, 2'479'590'752, 1'321'078'176},
    {"llama3-8b", 128256, FileType::Q4_K_M, 16'068'890'432, 4'920'733'536},
    {"qwen25-05b", 151936, FileType::Q4_K_M, 994'153'888, 397'804'992},
};

TEST(QuantizePlan, FileSizesMatchLlamaCppWithinOnePercent) {
  for (const SizeTarget& target : kTargets) {
    const std::vector<PlannedTensor> tensors = f16_model(target.shape, target.vocab);
    const ModelHints hints = hints_of(target.shape);
    const uint64_t f16_data = planned_data_bytes(tensors, plan_tensor_types(FileType::F16, tensors, hints));
    ASSERT_LT(f16_data, target.f16_file_bytes) << target.shape;
    const uint64_t metadata = target.f16_file_bytes - f16_data;
    ASSERT_LT(metadata, 16u << 20) << target.shape << ": the F16 tensor bytes do not match the real model";
    const uint64_t predicted = planned_data_bytes(tensors, plan_tensor_types(target.type, tensors, hints)) + metadata;
    const double ratio = static_cast<double>(predicted) / static_cast<double>(target.target_file_bytes);
    std::printf("[ %-10s %-6s ] predicted %llu bytes, llama.cpp %llu (ratio %.6f)\n", target.shape,
                std::string(file_type_name(target.type)).c_str(), static_cast<unsigned long long>(predicted),
                static_cast<unsigned long long>(target.target_file_bytes), ratio);
    EXPECT_NEAR(ratio, 1.0, 0.01) << target.shape << " " << file_type_name(target.type);
  }
}

TEST(QuantizePlan, Q4KMGivesHalfTheLayersSixBits) {
  const auto types = plan("llama32-1b", 128256, FileType::Q4_K_M);
  EXPECT_EQ(types.at("token_embd.weight"), TensorType::Q6_K);  // tied: it is the output projection too
  EXPECT_EQ(types.at("rope_freqs.weight"), TensorType::F32);
  EXPECT_EQ(types.at("blk.0.attn_norm.weight"), TensorType::F32);
  EXPECT_EQ(types.at("blk.0.attn_q.weight"), TensorType::Q4_K);
  EXPECT_EQ(types.at("blk.5.ffn_gate.weight"), TensorType::Q4_K);
  // 16 layers: the first and last two, and every third from layer 4.
  const std::set<int> six_bit = {0, 1, 4, 7, 10, 13, 14, 15};
  for (int layer = 0; layer < 16; ++layer) {
    const TensorType expected = six_bit.count(layer) ? TensorType::Q6_K : TensorType::Q4_K;
    EXPECT_EQ(types.at("blk." + std::to_string(layer) + ".attn_v.weight"), expected) << layer;
    EXPECT_EQ(types.at("blk." + std::to_string(layer) + ".ffn_down.weight"), expected) << layer;
  }
}

TEST(QuantizePlan, UntiedOutputAndEmbedding) {
  const auto types = plan("llama2-7b", 32000, FileType::Q4_K_M);
  EXPECT_EQ(types.at("output.weight"), TensorType::Q6_K);
  EXPECT_EQ(types.at("token_embd.weight"), TensorType::Q4_K);
  const auto q4_0 = plan("llama2-7b", 32000, FileType::Q4_0);
  EXPECT_EQ(q4_0.at("output.weight"), TensorType::Q6_K);
  EXPECT_EQ(q4_0.at("token_embd.weight"), TensorType::Q4_0);
  EXPECT_EQ(q4_0.at("blk.3.ffn_down.weight"), TensorType::Q4_0);
  const auto q8 = plan("llama2-7b", 32000, FileType::Q8_0);
  EXPECT_EQ(q8.at("output.weight"), TensorType::Q8_0);
}

TEST(QuantizePlan, RowsThatAreNotWholeSuperBlocksFallBack) {
  // Qwen2.5-0.5B: 896 = 3.5 * 256.
  const auto types = plan("qwen25-05b", 151936, FileType::Q4_K_M);
  EXPECT_EQ(types.at("token_embd.weight"), TensorType::Q8_0);
  EXPECT_EQ(types.at("blk.0.attn_q.weight"), TensorType::Q5_0);   // Q4_K -> Q5_0
  EXPECT_EQ(types.at("blk.0.attn_v.weight"), TensorType::Q8_0);   // Q6_K -> Q8_0
  EXPECT_EQ(types.at("blk.3.attn_v.weight"), TensorType::Q5_0);
  EXPECT_EQ(types.at("blk.0.ffn_down.weight"), TensorType::Q6_K);  // 4864 = 19 * 256
  EXPECT_EQ(types.at("blk.3.ffn_down.weight"), TensorType::Q4_K);
  EXPECT_EQ(types.at("blk.0.attn_q.bias"), TensorType::F32);
  const auto q5 = plan("qwen25-05b", 151936, FileType::Q5_K_S);
  EXPECT_EQ(q5.at("blk.0.attn_q.weight"), TensorType::Q5_1);
  const auto q2 = plan("qwen25-05b", 151936, FileType::Q2_K);
  EXPECT_EQ(q2.at("blk.0.ffn_gate.weight"), TensorType::IQ4_NL);
}

TEST(QuantizePlan, LowBitMixes) {
  const auto q2 = plan("llama3-8b", 128256, FileType::Q2_K);
  EXPECT_EQ(q2.at("blk.0.attn_v.weight"), TensorType::Q4_K);  // 4 query heads per KV head
  EXPECT_EQ(q2.at("blk.0.ffn_down.weight"), TensorType::Q3_K);
  EXPECT_EQ(q2.at("blk.0.attn_output.weight"), TensorType::Q3_K);
  EXPECT_EQ(q2.at("blk.0.attn_q.weight"), TensorType::Q2_K);
  const auto q2_mha = plan("llama2-7b", 32000, FileType::Q2_K);
  EXPECT_EQ(q2_mha.at("blk.0.attn_v.weight"), TensorType::Q3_K);
  const auto q3m = plan("llama3-8b", 128256, FileType::Q3_K_M);
  EXPECT_EQ(q3m.at("blk.0.attn_v.weight"), TensorType::Q5_K);
  EXPECT_EQ(q3m.at("blk.2.attn_v.weight"), TensorType::Q4_K);
  EXPECT_EQ(q3m.at("blk.0.ffn_down.weight"), TensorType::Q5_K);
  EXPECT_EQ(q3m.at("blk.9.ffn_down.weight"), TensorType::Q4_K);
  EXPECT_EQ(q3m.at("blk.9.attn_output.weight"), TensorType::Q4_K);
  const auto q3l = plan("llama3-8b", 128256, FileType::Q3_K_L);
  EXPECT_EQ(q3l.at("blk.9.ffn_down.weight"), TensorType::Q5_K);
  const auto q4s = plan("llama3-8b", 128256, FileType::Q4_K_S);
  EXPECT_EQ(q4s.at("blk.3.attn_v.weight"), TensorType::Q5_K);
  EXPECT_EQ(q4s.at("blk.4.attn_v.weight"), TensorType::Q4_K);
  EXPECT_EQ(q4s.at("blk.3.ffn_down.weight"), TensorType::Q5_K);
  EXPECT_EQ(q4s.at("blk.4.ffn_down.weight"), TensorType::Q4_K);
  const auto iq4 = plan("llama3-8b", 128256, FileType::IQ4_XS);
  EXPECT_EQ(iq4.at("blk.9.attn_v.weight"), TensorType::Q5_K);
  EXPECT_EQ(iq4.at("blk.0.ffn_down.weight"), TensorType::Q5_K);
  EXPECT_EQ(iq4.at("blk.9.ffn_down.weight"), TensorType::IQ4_XS);
  EXPECT_EQ(iq4.at("output.weight"), TensorType::Q6_K);
}

TEST(QuantizePlan, FloatFileTypesConvertOnlyMatrices) {
  for (FileType type : {FileType::F32, FileType::F16, FileType::BF16}) {
    const auto types = plan("qwen3-06b", 151936, type);
    EXPECT_EQ(types.at("token_embd.weight"), base_tensor_type(type));
    EXPECT_EQ(types.at("blk.0.attn_q_norm.weight"), TensorType::F32);
    EXPECT_EQ(types.at("blk.0.ffn_down.weight"), base_tensor_type(type));
  }
}

TEST(QuantizePlan, FileTypeNames) {
  EXPECT_EQ(file_type_from_name("q4_k_m"), FileType::Q4_K_M);
  EXPECT_EQ(file_type_from_name("IQ4_XS"), FileType::IQ4_XS);
  EXPECT_EQ(file_type_from_name("Q4_K"), std::nullopt);
  EXPECT_EQ(file_type_from_name(""), std::nullopt);
  EXPECT_EQ(all_file_types().size(), 19u);
  for (FileType type : all_file_types()) EXPECT_EQ(file_type_from_name(file_type_name(type)), type);
  EXPECT_EQ(static_cast<uint32_t>(FileType::Q4_K_M), 15u);
  EXPECT_EQ(static_cast<uint32_t>(FileType::BF16), 32u);
}

}  // namespace
}  // namespace hearth::model
