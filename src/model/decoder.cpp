#include "model/decoder.h"

#include <algorithm>
#include <vector>

#include "model/model_impl.h"

namespace hearth::model {
namespace {

// Widths of the activation matrices, in the order Activations lays them out.
struct Widths {
  int64_t embd, q, k, v, attn, ff;
  explicit Widths(const ModelInfo& info)
      : embd(info.n_embd),
        q(info.n_head * info.head_dim),
        k(info.n_head_kv * info.head_dim),
        v(info.n_head_kv * info.head_dim_v),
        attn(info.n_head * info.head_dim_v),
        ff(info.n_ff) {}
  int64_t per_token() const { return 3 * embd + q + k + v + attn + 2 * ff; }
};

}  // namespace

uint64_t Activations::bytes(const ModelInfo& info, int64_t max_tokens, int64_t max_outputs) {
  const Widths w(info);
  return sizeof(float) * static_cast<uint64_t>(max_tokens * w.per_token() + max_outputs * w.embd);
}

Activations::Activations(backend::Backend& backend, const ModelInfo& info, int64_t max_tokens, int64_t max_outputs)
    : info_(info),
      max_tokens_(max_tokens),
      max_outputs_(max_outputs),
      buffer_(backend.allocate(bytes(info, max_tokens, max_outputs))) {}

Activations::Views Activations::views(int64_t n_tokens, int64_t n_outputs) const {
  const Widths w(info_);
  float* next = buffer_.floats();
  auto take = [&](int64_t rows, int64_t width, int64_t capacity) {
    backend::Matrix m{next, rows, width};
    next += capacity * width;
    return m;
  };
  Views v;
  v.x = take(n_tokens, w.embd, max_tokens_);
  v.normed = take(n_tokens, w.embd, max_tokens_);
  v.q = take(n_tokens, w.q, max_tokens_);
  v.k = take(n_tokens, w.k, max_tokens_);
  v.v = take(n_tokens, w.v, max_tokens_);
  v.attn = take(n_tokens, w.attn, max_tokens_);
  v.proj = take(n_tokens, w.embd, max_tokens_);
  v.gate = take(n_tokens, w.ff, max_tokens_);
  v.up = take(n_tokens, w.ff, max_tokens_);
  v.out_x = take(n_outputs, w.embd, max_outputs_);
  return v;
}

namespace {

// x += Wo . attention(rope(Wq . norm(x)), rope(Wk . norm(x)), Wv . norm(x))
void attention_block(const Model::Impl& model, backend::Backend& backend, const LayerWeights& layer,
                     const backend::KvLayer& cache, const ForwardBatch& batch, const Activations::Views& a) {
  const ModelInfo& info = model.info;
  backend.rms_norm(a.x, layer.attn_norm, info.rms_eps, a.normed);
  backend.matmul(layer.wq, a.normed, a.q);
  backend.matmul(layer.wk, a.normed, a.k);
  backend.matmul(layer.wv, a.normed, a.v);
  if (!layer.bq.empty()) backend.add_bias(a.q, layer.bq);
  if (!layer.bk.empty()) backend.add_bias(a.k, layer.bk);
  if (!layer.bv.empty()) backend.add_bias(a.v, layer.bv);
  if (!layer.q_norm.empty()) {
    backend.rms_norm(a.q.reshaped(info.head_dim), layer.q_norm, info.rms_eps, a.q.reshaped(info.head_dim));
    backend.rms_norm(a.k.reshaped(info.head_dim), layer.k_norm, info.rms_eps, a.k.reshaped(info.head_dim));
  }
  backend.rope(a.q, info.head_dim, batch.positions, model.rope);
  backend.rope(a.k, info.head_dim, batch.positions, model.rope);
  backend.store_kv(cache, a.k, a.v, batch.cells);
  backend.attention(a.q, cache, batch.groups, model.attention, a.attn);
  backend.matmul(layer.wo, a.attn, a.proj);
  if (!layer.bo.empty()) backend.add_bias(a.proj, layer.bo);
  backend.add(a.x, a.proj);
}

// x += W_down . (silu(W_gate . norm(x)) * (W_up . norm(x))), over x's rows only (the scratch may hold more).
void feed_forward_block(const ModelInfo& info, backend::Backend& backend, const LayerWeights& layer,
                        backend::Matrix x, const Activations::Views& a) {
  const backend::Matrix normed = a.normed.first_rows(x.rows);
  const backend::Matrix gate = a.gate.first_rows(x.rows);
  const backend::Matrix up = a.up.first_rows(x.rows);
  const backend::Matrix proj = a.proj.first_rows(x.rows);
  backend.rms_norm(x, layer.ffn_norm, info.rms_eps, normed);
  backend.matmul(layer.ffn_gate, normed, gate);
  backend.matmul(layer.ffn_up, normed, up);
  backend.swiglu(gate, up, gate);
  backend.matmul(layer.ffn_down, gate, proj);
  backend.add(x, proj);
}

// The residual rows of a pass, handed from one stage's backend to the next one's: the views of the next stage's
// activations, holding them.
Activations::Views hand_over(const Stage& from, const Stage& to, const backend::Matrix& x, int64_t n_tokens,
                             int64_t n_outputs) {
  const Activations::Views next = to.activations->views(n_tokens, n_outputs);
  std::vector<float> host(static_cast<size_t>(x.size()));
  from.backend->read(x, host.data());
  to.backend->write(host.data(), next.x);
  return next;
}

}  // namespace

void forward(const Model::Impl& model, std::span<const Stage> stages, const ForwardBatch& batch, backend::Matrix logits) {
  const ModelInfo& info = model.info;
  const Weights& weights = model.weights;
  const auto n_tokens = static_cast<int64_t>(batch.tokens.size());
  const auto n_outputs = static_cast<int64_t>(batch.outputs.size());
  const auto n_layers = static_cast<int64_t>(weights.layers.size());
  Activations::Views a = stages.front().activations->views(n_tokens, n_outputs);

  stages.front().backend->get_rows(weights.token_embd, batch.tokens, a.x);
  for (size_t s = 0; s < stages.size(); ++s) {
    const Stage& stage = stages[s];
    if (s > 0) a = hand_over(stages[s - 1], stage, a.x, n_tokens, n_outputs);
    for (int64_t l = stage.first_layer; l < std::min(stage.end_layer, n_layers - 1); ++l) {
      attention_block(model, *stage.backend, weights.layers[l], stage.layer_cache(l), batch, a);
      feed_forward_block(info, *stage.backend, weights.layers[l], a.x, a);
    }
  }
  // The last layer's keys and values are cached for every token, but its feed-forward block and the output
  // projection only matter for the rows whose logits are wanted. llama.cpp cuts the batch at the same point,
  // which also decides how its quantized matmuls group tokens, so the logits keep its bits.
  const Stage& last = stages.back();
  backend::Backend& backend = *last.backend;
  attention_block(model, backend, weights.layers.back(), last.layer_cache(n_layers - 1), batch, a);
  if (n_outputs == 0) return;
  backend.copy_rows(a.x, batch.outputs, a.out_x);
  feed_forward_block(info, backend, weights.layers.back(), a.out_x, a);
  backend.rms_norm(a.out_x, weights.output_norm, info.rms_eps, a.out_x);
  backend.matmul(weights.output, a.out_x, logits);
}

}  // namespace hearth::model
