// The forward pass of a pre-norm decoder-only transformer, written once for every supported architecture: what
// differs between them is data in Model::Impl (architecture flags, RoPE parameters, optional tensors).
#pragma once

#include <cstdint>
#include <span>

#include "backend/backend.h"
#include "hearth/model.h"

namespace hearth::model {

// One forward pass's tokens and where their keys, values and logits go; prepared by the runtime.
struct ForwardBatch {
  std::span<const int32_t> tokens;
  std::span<const int32_t> positions;
  std::span<const int32_t> cells;                   // cache cell that receives each token's key and value
  std::span<const backend::AttentionGroup> groups;  // which cells each token attends to
  std::span<const int32_t> outputs;                 // batch rows whose logits are wanted, in output order
};

// Activation memory for forward passes of up to `max_tokens` tokens, `max_outputs` of them producing logits:
// one backend buffer cut into the matrices a block needs.
class Activations {
 public:
  static uint64_t bytes(const ModelInfo& info, int64_t max_tokens, int64_t max_outputs);
  Activations(backend::Backend& backend, const ModelInfo& info, int64_t max_tokens, int64_t max_outputs);

  int64_t max_tokens() const { return max_tokens_; }
  int64_t max_outputs() const { return max_outputs_; }

  // Views of the first n_tokens (n_outputs) rows.
  struct Views {
    backend::Matrix x;       // residual stream, n_embd
    backend::Matrix normed;  // n_embd
    backend::Matrix q, k, v;
    backend::Matrix attn;    // attention output before its projection, n_head * head_dim_v
    backend::Matrix proj;    // output of a block's last projection, n_embd
    backend::Matrix gate, up;
    backend::Matrix out_x;   // residual rows of the tokens producing logits
  };
  Views views(int64_t n_tokens, int64_t n_outputs) const;

 private:
  const ModelInfo& info_;
  int64_t max_tokens_;
  int64_t max_outputs_;
  backend::Buffer buffer_;
};

// Consecutive layers [first_layer, end_layer) that run on one backend, with that backend's activation memory
// and the cache of those layers.
struct Stage {
  backend::Backend* backend = nullptr;
  int64_t first_layer = 0;
  int64_t end_layer = 0;
  const Activations* activations = nullptr;
  std::span<const backend::KvLayer> cache;  // cache[i] holds layer first_layer + i

  const backend::KvLayer& layer_cache(int64_t layer) const { return cache[static_cast<size_t>(layer - first_layer)]; }
};

// Runs the model over `batch` through `stages` in order (together they hold every layer once; the first also
// looks up the embeddings, the last also computes the logits), storing each token's key and value of every layer
// in its stage's cache and writing the logits of batch.outputs into `logits` (batch.outputs.size() rows of
// n_vocab, memory the last stage's backend writes). The residual stream crosses from one stage to the next
// through host memory.
void forward(const Model::Impl& model, std::span<const Stage> stages, const ForwardBatch& batch, backend::Matrix logits);

}  // namespace hearth::model
