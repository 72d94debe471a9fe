// Model::load: reads the hyperparameters an architecture needs, checks them against the tensors that use them,
// and binds each weight as a view into the mapped file.
#include <cmath>
#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "hearth/model.h"
#include "model/model_impl.h"
#include "tensor/quant.h"

namespace hearth {
namespace model {

const Architecture* find_architecture(std::string_view name) {
  for (const Architecture* arch : {&llama_architecture(), &qwen2_architecture(), &qwen3_architecture()}) {
    if (arch->name == name) return arch;
  }
  return nullptr;
}

std::string supported_architectures() {
  return fmt::format("{}, {}, {}", llama_architecture().name, qwen2_architecture().name, qwen3_architecture().name);
}

namespace {

// Bounds that keep every product of hyperparameters far from overflow; real models are orders of magnitude below.
constexpr int64_t kMaxDimension = int64_t{1} << 20;
constexpr int64_t kMaxLayers = 4096;

// Reads `<arch>.*` keys with messages that name the file and key.
class Hyperparameters {
 public:
  Hyperparameters(const gguf::File& file, std::string_view arch, std::string context)
      : file_(file), prefix_(std::string(arch) + "."), context_(std::move(context)) {}

  bool has(std::string_view key) const { return file_.contains(prefix_ + std::string(key)); }

  int64_t integer(std::string_view key, int64_t min, int64_t max) const {
    const gguf::Value& value = find_or_fail(key);
    return check_integer(key, value, min, max);
  }
  int64_t integer_or(std::string_view key, int64_t fallback, int64_t min, int64_t max) const {
    const gguf::Value* value = file_.find(prefix_ + std::string(key));
    return value == nullptr ? fallback : check_integer(key, *value, min, max);
  }
  float real_or(std::string_view key, float fallback) const {
    const gguf::Value* value = file_.find(prefix_ + std::string(key));
    if (value == nullptr) return fallback;
    float result;
    if (value->type() == gguf::ValueType::FLOAT32) result = value->as<float>();
    else if (value->type() == gguf::ValueType::FLOAT64) result = static_cast<float>(value->as<double>());
    else fail(key, fmt::format("is {}, expected a float", gguf::value_type_name(value->type())));
    if (!std::isfinite(result)) fail(key, "is not a finite number");
    return result;
  }
  float real(std::string_view key) const {
    find_or_fail(key);
    return real_or(key, 0.0f);
  }
  std::string string_or(std::string_view key, std::string fallback) const {
    const gguf::Value* value = file_.find(prefix_ + std::string(key));
    if (value == nullptr) return fallback;
    if (value->type() != gguf::ValueType::STRING) {
      fail(key, fmt::format("is {}, expected a string", gguf::value_type_name(value->type())));
    }
    return value->as<std::string>();
  }

  [[noreturn]] void fail(std::string_view key, const std::string& problem) const {
    throw LoadError(fmt::format("{}: metadata key '{}{}' {}", context_, prefix_, key, problem));
  }

 private:
  const gguf::Value& find_or_fail(std::string_view key) const {
    const gguf::Value* value = file_.find(prefix_ + std::string(key));
    if (value == nullptr) fail(key, "is missing");
    return *value;
  }
  int64_t check_integer(std::string_view key, const gguf::Value& value, int64_t min, int64_t max) const {
    if (value.is_array()) fail(key, "holds one value per layer, which Hearth does not support");
    if (!value.is_integer()) fail(key, fmt::format("is {}, expected an integer", gguf::value_type_name(value.type())));
    int64_t result;
    try {
      result = value.as_int();
    } catch (const gguf::KeyError&) {
      fail(key, "is out of range");
    }
    if (result < min || result > max) fail(key, fmt::format("is {}, expected {}..{}", result, min, max));
    return result;
  }

  const gguf::File& file_;
  std::string prefix_;
  std::string context_;
};

std::string shape_of(std::initializer_list<int64_t> dims) {
  return fmt::format("[{}]", fmt::join(dims, ", "));
}

// Finds tensors by name and checks their type and shape before handing out views.
class Binder {
 public:
  Binder(const gguf::File& file, std::string context) : file_(file), context_(std::move(context)) {}

  bool has(const std::string& name) const { return file_.find_tensor(name) != nullptr; }

  // A matrix of `rows` rows of `cols` elements (GGUF shape [cols, rows]) in any type the kernels dequantize.
  backend::Weight matrix(const std::string& name, int64_t cols, int64_t rows, std::string_view why) {
    const gguf::TensorInfo& t = find(name);
    check_shape(t, {cols, rows}, why);
    if (!tensor::can_dequantize(t.type)) {
      fail(name, fmt::format("has type {}, which Hearth cannot compute with", type_name(t.type)));
    }
    n_params_ += static_cast<uint64_t>(t.n_elements());
    return {t.type, t.data, t.size / static_cast<uint64_t>(rows), rows, cols};
  }

  // A vector of `n` f32 values (norm gains, biases, RoPE factors), or an empty span when absent and allowed.
  std::span<const float> vector(const std::string& name, int64_t n, model::Presence presence, std::string_view why) {
    if (presence == model::Presence::absent) return {};
    if (presence == model::Presence::optional && !has(name)) return {};
    const gguf::TensorInfo& t = find(name);
    check_shape(t, {n}, why);
    if (t.type != TensorType::F32) fail(name, fmt::format("has type {}, expected f32", type_name(t.type)));
    if (reinterpret_cast<uintptr_t>(t.data) % alignof(float) != 0) fail(name, "is not aligned to 4 bytes");
    n_params_ += static_cast<uint64_t>(n);
    return {reinterpret_cast<const float*>(t.data), static_cast<size_t>(n)};
  }

  uint64_t n_params() const { return n_params_; }

 private:
  const gguf::TensorInfo& find(const std::string& name) const {
    const gguf::TensorInfo* t = file_.find_tensor(name);
    if (t == nullptr) throw LoadError(fmt::format("{}: tensor '{}' is missing", context_, name));
    return *t;
  }

  void check_shape(const gguf::TensorInfo& t, std::initializer_list<int64_t> expected, std::string_view why) const {
    bool same = t.n_dims <= gguf::kMaxDims;
    size_t i = 0;
    for (int64_t dim : expected) same = same && t.ne[i++] == dim;
    for (; i < gguf::kMaxDims; ++i) same = same && t.ne[i] == 1;
    if (!same) fail(t.name, fmt::format("has shape {}, expected {} ({})", t.shape_string(), shape_of(expected), why));
  }

  [[noreturn]] void fail(const std::string& name, const std::string& problem) const {
    throw LoadError(fmt::format("{}: tensor '{}' {}", context_, name, problem));
  }

  const gguf::File& file_;
  std::string context_;
  uint64_t n_params_ = 0;
};

std::string layer_tensor(int64_t layer, std::string_view name) { return fmt::format("blk.{}.{}", layer, name); }

}  // namespace
}  // namespace model

std::shared_ptr<const Model> Model::load(const std::filesystem::path& path) {
  using model::Presence;
  gguf::File file = gguf::File::open(path);
  const std::string context = path.string();

  const gguf::Value* arch_value = file.find("general.architecture");
  if (arch_value == nullptr || arch_value->type() != gguf::ValueType::STRING) {
    throw LoadError(context + ": metadata key 'general.architecture' is missing or not a string");
  }
  const std::string arch_name = arch_value->as<std::string>();
  const model::Architecture* arch = model::find_architecture(arch_name);
  if (arch == nullptr) {
    throw LoadError(fmt::format("{}: architecture '{}' is not supported (supported: {})", context, arch_name,
                                model::supported_architectures()));
  }

  const model::Hyperparameters hp(file, arch->name, context);
  if (hp.integer_or("expert_count", 0, 0, model::kMaxDimension) > 0) {
    hp.fail("expert_count", "is above 0: mixture-of-experts models are not supported");
  }

  ModelInfo info;
  info.architecture = arch_name;
  const gguf::Value* name_value = file.find("general.name");
  info.name = name_value != nullptr && name_value->type() == gguf::ValueType::STRING ? name_value->as<std::string>()
                                                                                      : path.stem().string();
  info.n_ctx_train = hp.integer("context_length", 1, int64_t{1} << 31);
  info.n_embd = hp.integer("embedding_length", 1, model::kMaxDimension);
  info.n_layer = hp.integer("block_count", 1, model::kMaxLayers);
  info.n_ff = hp.integer("feed_forward_length", 1, model::kMaxDimension);
  info.n_head = hp.integer("attention.head_count", 1, model::kMaxDimension);
  info.n_head_kv = hp.integer_or("attention.head_count_kv", info.n_head, 1, info.n_head);
  if (info.n_head % info.n_head_kv != 0) {
    hp.fail("attention.head_count_kv", fmt::format("is {}, which does not divide head_count {}", info.n_head_kv,
                                                    info.n_head));
  }
  // Without explicit key/value lengths a head is embedding_length / head_count wide.
  if ((!hp.has("attention.key_length") || !hp.has("attention.value_length")) && info.n_embd % info.n_head != 0) {
    hp.fail("attention.head_count", fmt::format("is {}, which does not divide embedding_length {}", info.n_head,
                                                 info.n_embd));
  }
  const int64_t default_head_dim = info.n_embd / info.n_head;
  info.head_dim = hp.integer_or("attention.key_length", default_head_dim, 1, model::kMaxDimension);
  info.head_dim_v = hp.integer_or("attention.value_length", default_head_dim, 1, model::kMaxDimension);
  // These architectures rotate whole heads; llama.cpp refuses anything else, and so does Hearth.
  info.n_rot = hp.integer_or("rope.dimension_count", info.head_dim, 1, model::kMaxDimension);
  if (info.n_rot != info.head_dim || info.n_rot % 2 != 0) {
    hp.fail("rope.dimension_count", fmt::format("is {}, expected the (even) head size {}", info.n_rot, info.head_dim));
  }
  info.rms_eps = hp.real("attention.layer_norm_rms_epsilon");
  if (!(info.rms_eps > 0.0f)) hp.fail("attention.layer_norm_rms_epsilon", "must be above 0");
  info.rope_freq_base = hp.real_or("rope.freq_base", 10000.0f);
  if (!(info.rope_freq_base > 1.0f)) hp.fail("rope.freq_base", "must be above 1");

  // Linear scaling divides every position by the factor. llama.cpp reads the factor whatever the scaling type
  // says (the older key rope.scale_linear means the same); types that need more than a factor are refused.
  const std::string scaling = hp.string_or("rope.scaling.type", "linear");
  if (scaling != "linear" && scaling != "none") {
    hp.fail("rope.scaling.type", fmt::format("is '{}': only linear RoPE scaling is supported", scaling));
  }
  float factor = hp.real_or("rope.scaling.factor", 0.0f);
  if (factor == 0.0f) factor = hp.real_or("rope.scale_linear", 0.0f);
  if (factor < 0.0f) hp.fail("rope.scaling.factor", "must not be negative");
  info.rope_freq_scale = factor == 0.0f ? 1.0f : 1.0f / factor;

  model::Binder bind(file, context);
  model::Weights weights;
  const int64_t n_embd = info.n_embd;
  const int64_t q_width = info.n_head * info.head_dim;
  const int64_t k_width = info.n_head_kv * info.head_dim;
  const int64_t v_width = info.n_head_kv * info.head_dim_v;
  const int64_t attn_width = info.n_head * info.head_dim_v;

  const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight");
  if (embd == nullptr) throw LoadError(context + ": tensor 'token_embd.weight' is missing");
  info.n_vocab = embd->ne[1];
  const int64_t vocab_key = hp.integer_or("vocab_size", info.n_vocab, 1, int64_t{1} << 31);
  if (vocab_key != info.n_vocab) {
    hp.fail("vocab_size", fmt::format("is {}, but token_embd.weight has {} rows", vocab_key, info.n_vocab));
  }
  weights.token_embd = bind.matrix("token_embd.weight", n_embd, info.n_vocab, "embedding_length x vocabulary");

  const std::string embd_why = fmt::format("embedding_length {}", n_embd);
  const std::string q_why = fmt::format("embedding_length {}, head_count {} x key_length {}", n_embd, info.n_head,
                                        info.head_dim);
  const std::string k_why = fmt::format("embedding_length {}, head_count_kv {} x key_length {}", n_embd,
                                        info.n_head_kv, info.head_dim);
  const std::string v_why = fmt::format("embedding_length {}, head_count_kv {} x value_length {}", n_embd,
                                        info.n_head_kv, info.head_dim_v);
  const std::string o_why = fmt::format("head_count {} x value_length {}, embedding_length {}", info.n_head,
                                        info.head_dim_v, n_embd);
  const std::string ff_why = fmt::format("embedding_length {}, feed_forward_length {}", n_embd, info.n_ff);
  const std::string head_why = fmt::format("key_length {}", info.head_dim);
  for (int64_t l = 0; l < info.n_layer; ++l) {
    auto name = [l](std::string_view tensor) { return model::layer_tensor(l, tensor); };
    model::LayerWeights layer;
    layer.attn_norm = bind.vector(name("attn_norm.weight"), n_embd, Presence::required, embd_why);
    layer.wq = bind.matrix(name("attn_q.weight"), n_embd, q_width, q_why);
    layer.wk = bind.matrix(name("attn_k.weight"), n_embd, k_width, k_why);
    layer.wv = bind.matrix(name("attn_v.weight"), n_embd, v_width, v_why);
    layer.wo = bind.matrix(name("attn_output.weight"), attn_width, n_embd, o_why);
    layer.bq = bind.vector(name("attn_q.bias"), q_width, arch->qkv_bias, q_why);
    layer.bk = bind.vector(name("attn_k.bias"), k_width, arch->qkv_bias, k_why);
    layer.bv = bind.vector(name("attn_v.bias"), v_width, arch->qkv_bias, v_why);
    layer.bo = bind.vector(name("attn_output.bias"), n_embd, arch->output_bias, embd_why);
    layer.q_norm = bind.vector(name("attn_q_norm.weight"), info.head_dim, arch->qk_norm, head_why);
    layer.k_norm = bind.vector(name("attn_k_norm.weight"), info.head_dim, arch->qk_norm, head_why);
    layer.ffn_norm = bind.vector(name("ffn_norm.weight"), n_embd, Presence::required, embd_why);
    layer.ffn_gate = bind.matrix(name("ffn_gate.weight"), n_embd, info.n_ff, ff_why);
    layer.ffn_up = bind.matrix(name("ffn_up.weight"), n_embd, info.n_ff, ff_why);
    layer.ffn_down = bind.matrix(name("ffn_down.weight"), info.n_ff, n_embd,
                                 fmt::format("feed_forward_length {}, embedding_length {}", info.n_ff, n_embd));
    weights.layers.push_back(layer);
  }
  weights.output_norm = bind.vector("output_norm.weight", n_embd, Presence::required, embd_why);
  info.tied_output = !bind.has("output.weight");
  weights.output = info.tied_output ? weights.token_embd
                                    : bind.matrix("output.weight", n_embd, info.n_vocab, "embedding_length x vocabulary");
  const std::span<const float> freq_factors =
      bind.vector("rope_freqs.weight", info.n_rot / 2, Presence::optional,
                  fmt::format("rope.dimension_count {} / 2", info.n_rot));
  info.rope_freq_factors = !freq_factors.empty();
  info.n_params = bind.n_params();
  info.file_bytes = file.file_size();

  tokenizer::Tokenizer tokenizer = tokenizer::Tokenizer::from_gguf(file);
  if (static_cast<int64_t>(tokenizer.vocab_size()) != info.n_vocab) {
    throw LoadError(fmt::format("{}: the vocabulary has {} tokens but token_embd.weight has {} rows", context,
                                tokenizer.vocab_size(), info.n_vocab));
  }

  const kernels::RopeParams rope{
      .pairing = arch->rope_pairing,
      .n_dims = info.n_rot,
      .freq_base = info.rope_freq_base,
      .freq_scale = info.rope_freq_scale,
      .freq_factors = freq_factors.empty() ? nullptr : freq_factors.data(),
  };
  const kernels::AttentionShape attention{
      .n_head = info.n_head,
      .n_head_kv = info.n_head_kv,
      .head_dim = info.head_dim,
      .head_dim_v = info.head_dim_v,
      .scale = 1.0f / std::sqrt(static_cast<float>(info.head_dim)),
  };
  return std::make_shared<const Model>(std::make_unique<Impl>(Impl{
      .file = std::move(file),
      .info = std::move(info),
      .architecture = arch,
      .rope = rope,
      .attention = attention,
      .weights = std::move(weights),
      .tokenizer = std::move(tokenizer),
  }));
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

const ModelInfo& Model::info() const { return impl_->info; }
const gguf::File& Model::file() const { return impl_->file; }
const tokenizer::Tokenizer& Model::tokenizer() const { return impl_->tokenizer; }

}  // namespace hearth
