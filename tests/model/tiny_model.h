// Small models with random weights written with gguf::Writer, for engine tests: any supported architecture,
// optional tensors on or off, and hooks to break a file on purpose (drop a tensor, change a shape or a key).
// The vocabulary comes from a shared vocab-only file, so the tokenizer is real.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "hearth/gguf.h"
#include "support/shared_data.h"
#include "tensor/quant.h"

namespace hearth::test {

struct TinyModelSpec {
  std::string arch = "llama";
  int64_t n_embd = 64;
  int64_t n_layer = 2;
  int64_t n_head = 4;
  int64_t n_head_kv = 2;
  int64_t head_dim = 16;  // written as attention.key_length / value_length
  int64_t n_ff = 96;
  int64_t n_ctx_train = 256;
  bool tied_output = true;
  bool qkv_bias = false;
  bool qk_norm = false;
  bool rope_freqs = false;
  TensorType matrix_type = TensorType::Q8_0;
  TensorType embedding_type = TensorType::Q8_0;  // token_embd (and output when untied)
  uint32_t seed = 1;
  std::string vocab = "ggml-vocab-llama-spm.gguf";
  std::set<std::string> drop_tensors;                        // not written
  std::map<std::string, std::vector<int64_t>> shape_changes;  // written with this shape instead
  std::map<std::string, TensorType> type_changes;             // written with this type instead
  std::function<void(gguf::Writer&)> edit_metadata;           // runs after the keys are set
};

// Writes the model and returns the number of vocabulary entries it has.
inline int64_t write_tiny_model(const TinyModelSpec& spec, const std::filesystem::path& path) {
  const gguf::File vocab = gguf::File::open(shared_dir() / "vocab" / spec.vocab);
  const auto n_vocab = static_cast<int64_t>(vocab.at("tokenizer.ggml.tokens").size());
  gguf::Writer writer;
  writer.copy_metadata(vocab);
  const std::string p = spec.arch + ".";
  writer.set("general.architecture", gguf::Value(spec.arch));
  writer.set("general.name", gguf::Value(std::string("tiny test ") + spec.arch));
  writer.set(p + "context_length", static_cast<uint32_t>(spec.n_ctx_train));
  writer.set(p + "embedding_length", static_cast<uint32_t>(spec.n_embd));
  writer.set(p + "block_count", static_cast<uint32_t>(spec.n_layer));
  writer.set(p + "feed_forward_length", static_cast<uint32_t>(spec.n_ff));
  writer.set(p + "attention.head_count", static_cast<uint32_t>(spec.n_head));
  writer.set(p + "attention.head_count_kv", static_cast<uint32_t>(spec.n_head_kv));
  writer.set(p + "attention.key_length", static_cast<uint32_t>(spec.head_dim));
  writer.set(p + "attention.value_length", static_cast<uint32_t>(spec.head_dim));
  writer.set(p + "attention.layer_norm_rms_epsilon", 1e-5f);
  writer.set(p + "rope.freq_base", 10000.0f);
  writer.set(p + "rope.dimension_count", static_cast<uint32_t>(spec.head_dim));
  if (spec.edit_metadata) spec.edit_metadata(writer);

  struct Planned {
    std::string name;
    TensorType type;
    std::vector<int64_t> shape;
    float scale;   // random values in [-scale, scale]
    float offset;  // added (norm gains sit around 1)
  };
  std::vector<Planned> planned;
  const float w_scale = 1.0f / std::sqrt(static_cast<float>(spec.n_embd));
  auto matrix = [&](std::string name, int64_t cols, int64_t rows, TensorType type) {
    planned.push_back({std::move(name), type, {cols, rows}, w_scale, 0.0f});
  };
  auto vector = [&](std::string name, int64_t n, float scale, float offset) {
    planned.push_back({std::move(name), TensorType::F32, {n}, scale, offset});
  };
  const int64_t q = spec.n_head * spec.head_dim, kv = spec.n_head_kv * spec.head_dim;
  matrix("token_embd.weight", spec.n_embd, n_vocab, spec.embedding_type);
  if (spec.rope_freqs) vector("rope_freqs.weight", spec.head_dim / 2, 0.5f, 2.5f);
  for (int64_t l = 0; l < spec.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    vector(b + "attn_norm.weight", spec.n_embd, 0.2f, 1.0f);
    matrix(b + "attn_q.weight", spec.n_embd, q, spec.matrix_type);
    matrix(b + "attn_k.weight", spec.n_embd, kv, spec.matrix_type);
    matrix(b + "attn_v.weight", spec.n_embd, kv, spec.matrix_type);
    if (spec.qkv_bias) {
      vector(b + "attn_q.bias", q, 0.1f, 0.0f);
      vector(b + "attn_k.bias", kv, 0.1f, 0.0f);
      vector(b + "attn_v.bias", kv, 0.1f, 0.0f);
    }
    if (spec.qk_norm) {
      vector(b + "attn_q_norm.weight", spec.head_dim, 0.2f, 1.0f);
      vector(b + "attn_k_norm.weight", spec.head_dim, 0.2f, 1.0f);
    }
    matrix(b + "attn_output.weight", q, spec.n_embd, spec.matrix_type);
    vector(b + "ffn_norm.weight", spec.n_embd, 0.2f, 1.0f);
    matrix(b + "ffn_gate.weight", spec.n_embd, spec.n_ff, spec.matrix_type);
    matrix(b + "ffn_up.weight", spec.n_embd, spec.n_ff, spec.matrix_type);
    matrix(b + "ffn_down.weight", spec.n_ff, spec.n_embd, spec.matrix_type);
  }
  vector("output_norm.weight", spec.n_embd, 0.2f, 1.0f);
  if (!spec.tied_output) matrix("output.weight", spec.n_embd, n_vocab, spec.embedding_type);

  std::vector<Planned> kept;
  for (Planned& t : planned) {
    if (spec.drop_tensors.count(t.name) != 0) continue;
    if (auto it = spec.shape_changes.find(t.name); it != spec.shape_changes.end()) t.shape = it->second;
    if (auto it = spec.type_changes.find(t.name); it != spec.type_changes.end()) t.type = it->second;
    writer.add_tensor(t.name, t.type, t.shape);
    kept.push_back(t);
  }
  std::mt19937 rng(spec.seed);
  writer.write(path, [&](size_t index, std::span<std::byte> out) {
    const Planned& t = kept[index];
    if (!tensor::can_quantize(t.type)) {  // types the engine refuses: any bytes will do
      for (std::byte& b : out) b = static_cast<std::byte>(rng());
      return;
    }
    const int64_t cols = t.shape[0];
    const auto rows = static_cast<int64_t>(out.size() / *row_bytes(t.type, cols));
    std::uniform_real_distribution<float> dist(-t.scale, t.scale);
    std::vector<float> row(cols);
    for (int64_t r = 0; r < rows; ++r) {
      for (float& v : row) v = dist(rng) + t.offset;
      tensor::quantize_row(t.type, row.data(), out.data() + r * *row_bytes(t.type, cols), cols);
    }
  });
  return n_vocab;
}

}  // namespace hearth::test
