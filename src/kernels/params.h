// Parameters of the operations a forward pass asks for, shared by the backend interface and every kernel
// implementation (CPU today, others later) so each describes an operation the same way.
#pragma once

#include <cstdint>

namespace hearth::kernels {

enum class RopePairing {
  Adjacent,  // rotates (x[2i], x[2i+1]): the original Llama layout (llama.cpp's "norm" rope)
  Halves,    // rotates (x[i], x[i + n_dims/2]): the GPT-NeoX layout, used by Qwen
};

// Rotary position embedding: pair i of a head at position p turns by
//   angle = p * freq_scale * freq_base^(-2i/n_dims) / freq_factors[i].
struct RopeParams {
  RopePairing pairing = RopePairing::Adjacent;
  int64_t n_dims = 0;          // leading dimensions of each head that rotate (even, <= head_dim); the rest pass
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;     // 1 / linear scaling factor
  const float* freq_factors = nullptr;  // n_dims/2 values, or none
};

struct AttentionShape {
  int64_t n_head;      // query heads
  int64_t n_head_kv;   // key/value heads; query head h reads kv head h / (n_head / n_head_kv)
  int64_t head_dim;    // of queries and keys
  int64_t head_dim_v;  // of values
  float scale;         // applied to q.k before the softmax
};

}  // namespace hearth::kernels
