// Synthetic models: real architectures and shapes with random weights and a real tokenizer, for tests and
// benchmarks that need a loadable GGUF of a given size without downloading one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include "model/quantize.h"

namespace hearth::model {

struct SynthShape {
  std::string_view name;
  std::string_view architecture;  // "llama", "qwen2", "qwen3"
  std::string_view vocab;         // the ../shared/vocab file family it is meant for, e.g. "llama-bpe"
  int64_t embedding_length;
  int64_t block_count;
  int64_t feed_forward_length;
  int64_t head_count;
  int64_t head_count_kv;
  int64_t head_dim;  // key_length = value_length
  int64_t context_length;
  float rms_epsilon;
  float rope_freq_base;
  bool tied_output;     // no output.weight: the output projection reuses token_embd
  bool qkv_bias;        // attn_q/k/v biases (qwen2)
  bool qk_norm;         // attn_q_norm / attn_k_norm (qwen3)
  // Llama 3.1-style RoPE frequency scaling, written as rope_freqs.weight; factor 0 means none.
  float rope_scaling_factor = 0;
  float rope_low_freq_factor = 0;
  float rope_high_freq_factor = 0;
  int64_t rope_original_context = 0;
};

std::span<const SynthShape> synth_shapes();
// Throws std::invalid_argument listing the known names.
const SynthShape& synth_shape(std::string_view name);

// The tensors of a shape as llama.cpp names and orders them (types are F32: what the generator produces).
std::vector<PlannedTensor> synth_tensors(const SynthShape& shape, int64_t vocab_size);

struct SynthOptions {
  const SynthShape* shape = nullptr;
  std::filesystem::path vocab;  // a GGUF whose tokenizer.* keys are copied
  FileType file_type = FileType::F16;
  uint64_t seed = 0;
  std::filesystem::path output;
  ConvertOptions convert;
};

struct SynthSummary {
  int64_t vocab_size = 0;
  size_t tensors = 0;
  uint64_t bytes = 0;
};

// Writes the model (atomically). Weights are N(0, 0.02), norm weights 1 + N(0, 0.02); the same seed gives the
// same file whatever the thread count.
SynthSummary write_synth_model(const SynthOptions& options);

}  // namespace hearth::model
