// The inside of a loaded Model: configuration (architecture differences as data) and weights bound to the
// mapped file. Read by the decoder and the runtime; built only by the loader.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "backend/backend.h"
#include "hearth/gguf.h"
#include "hearth/model.h"
#include "hearth/tokenizer.h"

namespace hearth::model {

enum class Presence { absent, optional, required };

// What distinguishes one architecture from another in a pre-norm decoder-only transformer. Each supported
// architecture is one constant of this type, defined in its own file (llama.cpp, qwen2.cpp, qwen3.cpp).
struct Architecture {
  std::string_view name;  // general.architecture; metadata keys are prefixed with it
  kernels::RopePairing rope_pairing;
  Presence qkv_bias;     // blk.N.attn_{q,k,v}.bias added after the projections
  Presence output_bias;  // blk.N.attn_output.bias
  Presence qk_norm;      // blk.N.attn_{q,k}_norm.weight: RMS norm over each head of q and k before RoPE
};

const Architecture& llama_architecture();
const Architecture& qwen2_architecture();
const Architecture& qwen3_architecture();

// The architecture named by general.architecture, or nullptr when unsupported.
const Architecture* find_architecture(std::string_view name);
// "llama, qwen2, qwen3" for error messages.
std::string supported_architectures();

// Weights of one decoder block. Vectors are empty where the architecture has no such tensor.
struct LayerWeights {
  std::span<const float> attn_norm;
  backend::Weight wq, wk, wv, wo;
  std::span<const float> bq, bk, bv, bo;
  std::span<const float> q_norm, k_norm;
  std::span<const float> ffn_norm;
  backend::Weight ffn_gate, ffn_up, ffn_down;
};

// Calls on_matrix for every weight matrix of a layer and on_vector for every vector it has (empty ones left
// out): for code that treats them all alike, such as uploading a layer to a device or sizing it there.
template <typename OnMatrix, typename OnVector>
void for_each_tensor(const LayerWeights& layer, OnMatrix&& on_matrix, OnVector&& on_vector) {
  for (const backend::Weight* w : {&layer.wq, &layer.wk, &layer.wv, &layer.wo, &layer.ffn_gate, &layer.ffn_up,
                                   &layer.ffn_down}) {
    on_matrix(*w);
  }
  for (const std::span<const float>* v : {&layer.attn_norm, &layer.bq, &layer.bk, &layer.bv, &layer.bo,
                                          &layer.q_norm, &layer.k_norm, &layer.ffn_norm}) {
    if (!v->empty()) on_vector(*v);
  }
}

struct Weights {
  backend::Weight token_embd;
  std::vector<LayerWeights> layers;
  std::span<const float> output_norm;
  backend::Weight output;  // token_embd itself when the embedding is tied
};

}  // namespace hearth::model

namespace hearth {

struct Model::Impl {
  gguf::File file;
  ModelInfo info;
  const model::Architecture* architecture = nullptr;
  kernels::RopeParams rope;  // freq_factors point into the mapped file
  kernels::AttentionShape attention;
  model::Weights weights;
  tokenizer::Tokenizer tokenizer;
};

}  // namespace hearth
