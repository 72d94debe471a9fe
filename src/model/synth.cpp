#include "model/synth.h"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

namespace hearth::model {
namespace {

// name, architecture, vocab, dim, blocks, ffn, heads, kv heads, head dim, context, rms eps, rope base,
// tied, qkv bias, qk norm, [rope scaling factor, low, high, original context]
constexpr SynthShape kShapes[] = {
    // Tiny shapes for tests: every dimension a multiple of 256 so each K type applies; GQA everywhere.
    {"tiny-llama", "llama", "llama-spm", 256, 4, 768, 4, 2, 64, 512, 1e-5f, 10000.0f, false, false, false},
    {"tiny-llama3", "llama", "llama-bpe", 256, 2, 768, 4, 2, 64, 1024, 1e-5f, 500000.0f, true, false, false,
     32.0f, 1.0f, 4.0f, 8192},
    {"tiny-qwen2", "qwen2", "qwen2", 256, 2, 768, 4, 2, 64, 1024, 1e-6f, 1000000.0f, true, true, false},
    {"tiny-qwen3", "qwen3", "qwen2", 256, 2, 768, 4, 2, 128, 1024, 1e-6f, 1000000.0f, true, false, true},
    // The published shapes (Hugging Face config.json of each model).
    {"llama32-1b", "llama", "llama-bpe", 2048, 16, 8192, 32, 8, 64, 131072, 1e-5f, 500000.0f, true, false, false,
     32.0f, 1.0f, 4.0f, 8192},
    {"qwen25-05b", "qwen2", "qwen2", 896, 24, 4864, 14, 2, 64, 32768, 1e-6f, 1000000.0f, true, true, false},
    {"qwen3-06b", "qwen3", "qwen2", 1024, 28, 3072, 16, 8, 128, 40960, 1e-6f, 1000000.0f, true, false, true},
    {"llama2-7b", "llama", "llama-spm", 4096, 32, 11008, 32, 32, 128, 4096, 1e-5f, 10000.0f, false, false, false},
    {"llama3-8b", "llama", "llama-bpe", 4096, 32, 14336, 32, 8, 128, 8192, 1e-5f, 500000.0f, false, false, false},
};

enum class Fill { kWeight, kNorm, kRopeFactors };

PlannedTensor tensor(std::string name, std::initializer_list<int64_t> shape) {
  PlannedTensor t;
  t.name = std::move(name);
  t.n_dims = static_cast<int>(shape.size());
  int d = 0;
  for (int64_t extent : shape) t.ne[static_cast<size_t>(d++)] = extent;
  return t;
}

Fill fill_of(const PlannedTensor& t) {
  if (t.name == "rope_freqs.weight") return Fill::kRopeFactors;
  if (t.name.ends_with("norm.weight")) return Fill::kNorm;
  return Fill::kWeight;
}

// The splitmix64 finalizer: a strong 64-bit mix, so consecutive counters give independent-looking bits.
uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Standard normal quantiles at i / 4096 (the two ends clipped at +-4.75 sigma): a normal sample is a linear
// interpolation at a uniform 32-bit position, which is fast and matches the distribution closely.
constexpr int kQuantileBits = 12;
constexpr int kQuantiles = 1 << kQuantileBits;

const std::array<float, kQuantiles + 1>& normal_quantiles() {
  static const std::array<float, kQuantiles + 1> table = [] {
    std::array<float, kQuantiles + 1> q{};
    const auto cdf = [](double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); };
    constexpr double kClip = 4.75;
    q[0] = static_cast<float>(-kClip);
    q[kQuantiles] = static_cast<float>(kClip);
    for (int i = 1; i < kQuantiles; ++i) {
      const double p = static_cast<double>(i) / kQuantiles;
      double lo = -kClip, hi = kClip;
      for (int iteration = 0; iteration < 60; ++iteration) {
        const double mid = 0.5 * (lo + hi);
        (cdf(mid) < p ? lo : hi) = mid;
      }
      q[static_cast<size_t>(i)] = static_cast<float>(0.5 * (lo + hi));
    }
    return q;
  }();
  return table;
}

float normal_from_bits(uint32_t bits, const std::array<float, kQuantiles + 1>& q) {
  const uint32_t index = bits >> (32 - kQuantileBits);
  const float fraction = static_cast<float>(bits & ((1u << (32 - kQuantileBits)) - 1)) * 0x1p-20f;
  return q[index] + fraction * (q[index + 1] - q[index]);
}

// Fills `values` with the normals numbered [first, first + n) of the stream `key`.
void normal_stream(uint64_t key, int64_t first, int64_t n, float mean, float stddev, float* values) {
  const auto& q = normal_quantiles();
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t bits = mix64(key + static_cast<uint64_t>(first + i));
    values[i] = mean + stddev * normal_from_bits(static_cast<uint32_t>(bits >> 32), q);
  }
}

// Llama 3.1's RoPE scaling as per-frequency divisors: long wavelengths are slowed by `factor`, short ones kept,
// the band in between blended smoothly.
std::vector<float> rope_factors(const SynthShape& shape) {
  std::vector<float> factors(static_cast<size_t>(shape.head_dim / 2));
  const double low_wavelength = static_cast<double>(shape.rope_original_context) / shape.rope_low_freq_factor;
  const double high_wavelength = static_cast<double>(shape.rope_original_context) / shape.rope_high_freq_factor;
  for (size_t i = 0; i < factors.size(); ++i) {
    const double frequency = std::pow(static_cast<double>(shape.rope_freq_base), -2.0 * static_cast<double>(i) / shape.head_dim);
    const double wavelength = 2 * std::numbers::pi / frequency;
    double factor;
    if (wavelength < high_wavelength) {
      factor = 1.0;
    } else if (wavelength > low_wavelength) {
      factor = shape.rope_scaling_factor;
    } else {
      const double smooth = (static_cast<double>(shape.rope_original_context) / wavelength - shape.rope_low_freq_factor) /
                            (shape.rope_high_freq_factor - shape.rope_low_freq_factor);
      factor = 1.0 / ((1 - smooth) / shape.rope_scaling_factor + smooth);
    }
    factors[i] = static_cast<float>(factor);
  }
  return factors;
}

}  // namespace

std::span<const SynthShape> synth_shapes() { return kShapes; }

const SynthShape& synth_shape(std::string_view name) {
  std::string known;
  for (const SynthShape& shape : kShapes) {
    if (shape.name == name) return shape;
    known += (known.empty() ? "" : ", ") + std::string(shape.name);
  }
  throw std::invalid_argument(fmt::format("unknown shape '{}' (known: {})", name, known));
}

std::vector<PlannedTensor> synth_tensors(const SynthShape& s, int64_t vocab_size) {
  const int64_t dim = s.embedding_length;
  const int64_t q_width = s.head_count * s.head_dim;
  const int64_t kv_width = s.head_count_kv * s.head_dim;
  std::vector<PlannedTensor> tensors;
  tensors.push_back(tensor("token_embd.weight", {dim, vocab_size}));
  if (s.rope_scaling_factor > 0) tensors.push_back(tensor("rope_freqs.weight", {s.head_dim / 2}));
  for (int64_t layer = 0; layer < s.block_count; ++layer) {
    const std::string blk = fmt::format("blk.{}.", layer);
    tensors.push_back(tensor(blk + "attn_norm.weight", {dim}));
    tensors.push_back(tensor(blk + "attn_q.weight", {dim, q_width}));
    if (s.qkv_bias) tensors.push_back(tensor(blk + "attn_q.bias", {q_width}));
    tensors.push_back(tensor(blk + "attn_k.weight", {dim, kv_width}));
    if (s.qkv_bias) tensors.push_back(tensor(blk + "attn_k.bias", {kv_width}));
    tensors.push_back(tensor(blk + "attn_v.weight", {dim, kv_width}));
    if (s.qkv_bias) tensors.push_back(tensor(blk + "attn_v.bias", {kv_width}));
    if (s.qk_norm) {
      tensors.push_back(tensor(blk + "attn_q_norm.weight", {s.head_dim}));
      tensors.push_back(tensor(blk + "attn_k_norm.weight", {s.head_dim}));
    }
    tensors.push_back(tensor(blk + "attn_output.weight", {q_width, dim}));
    tensors.push_back(tensor(blk + "ffn_norm.weight", {dim}));
    tensors.push_back(tensor(blk + "ffn_gate.weight", {dim, s.feed_forward_length}));
    tensors.push_back(tensor(blk + "ffn_up.weight", {dim, s.feed_forward_length}));
    tensors.push_back(tensor(blk + "ffn_down.weight", {s.feed_forward_length, dim}));
  }
  tensors.push_back(tensor("output_norm.weight", {dim}));
  if (!s.tied_output) tensors.push_back(tensor("output.weight", {dim, vocab_size}));
  return tensors;
}

SynthSummary write_synth_model(const SynthOptions& options) {
  if (options.shape == nullptr) throw std::invalid_argument("write_synth_model: no shape given");
  const SynthShape& shape = *options.shape;
  const gguf::File vocab = gguf::File::open(options.vocab);
  const gguf::Value& tokens = vocab.at("tokenizer.ggml.tokens");
  if (!tokens.is_array() || tokens.size() == 0) {
    throw std::runtime_error(fmt::format("{}: tokenizer.ggml.tokens is not a non-empty array", options.vocab.string()));
  }
  const int64_t vocab_size = static_cast<int64_t>(tokens.size());

  const std::vector<PlannedTensor> tensors = synth_tensors(shape, vocab_size);
  ModelHints hints;
  hints.architecture = std::string(shape.architecture);
  hints.block_count = shape.block_count;
  hints.head_count = shape.head_count;
  hints.head_count_kv = shape.head_count_kv;
  const std::vector<TensorType> types = plan_tensor_types(options.file_type, tensors, hints);

  gguf::Writer writer;
  const std::string arch(shape.architecture);
  writer.set("general.architecture", arch);
  writer.set("general.name", fmt::format("hearth synthetic {} (seed {})", shape.name, options.seed));
  writer.set("general.file_type", static_cast<uint32_t>(options.file_type));
  bool any_quantized = false;
  for (TensorType type : types) any_quantized = any_quantized || type_traits(type).quantized;
  if (any_quantized) writer.set("general.quantization_version", uint32_t{2});
  const auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  writer.set(arch + ".vocab_size", u32(vocab_size));
  writer.set(arch + ".context_length", u32(shape.context_length));
  writer.set(arch + ".embedding_length", u32(shape.embedding_length));
  writer.set(arch + ".block_count", u32(shape.block_count));
  writer.set(arch + ".feed_forward_length", u32(shape.feed_forward_length));
  writer.set(arch + ".attention.head_count", u32(shape.head_count));
  writer.set(arch + ".attention.head_count_kv", u32(shape.head_count_kv));
  writer.set(arch + ".attention.key_length", u32(shape.head_dim));
  writer.set(arch + ".attention.value_length", u32(shape.head_dim));
  writer.set(arch + ".attention.layer_norm_rms_epsilon", shape.rms_epsilon);
  writer.set(arch + ".rope.freq_base", shape.rope_freq_base);
  writer.set(arch + ".rope.dimension_count", u32(shape.head_dim));
  for (const gguf::KeyValue& kv : vocab.metadata()) {
    if (kv.key.starts_with("tokenizer.")) writer.set(kv.key, kv.value);
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    writer.add_tensor(tensors[i].name, types[i],
                      std::span<const int64_t>(tensors[i].ne.data(), static_cast<size_t>(tensors[i].n_dims)));
  }

  const std::vector<float> factors = shape.rope_scaling_factor > 0 ? rope_factors(shape) : std::vector<float>{};
  write_atomically(writer, options.output, [&](size_t index, std::span<std::byte> out) {
    const PlannedTensor& t = tensors[index];
    if (options.convert.on_tensor) options.convert.on_tensor(index, tensors.size(), t.name, TensorType::F32, types[index]);
    const Fill fill = fill_of(t);
    // Each tensor draws from its own stream, keyed by seed and position, so rows can be made in any order.
    const uint64_t key = mix64(options.seed ^ mix64(index + 1));
    const int64_t row_length = t.ne[0];
    convert_rows(
        t.ne[1] * t.ne[2] * t.ne[3], row_length, types[index],
        [&](int64_t row, float* values) {
          if (fill == Fill::kRopeFactors) {
            std::copy(factors.begin(), factors.end(), values);
          } else {
            normal_stream(key, row * row_length, row_length, fill == Fill::kNorm ? 1.0f : 0.0f, 0.02f, values);
          }
        },
        out, options.convert);
  }, options.convert.replace_existing);

  SynthSummary summary;
  summary.vocab_size = vocab_size;
  summary.tensors = tensors.size();
  summary.bytes = std::filesystem::file_size(options.output);
  return summary;
}

}  // namespace hearth::model
