// Scaled dot-product attention of one query head over a run of cached keys and values.
#pragma once

#include <cstdint>

#include "hearth/tensor_type.h"
#include "kernels/cpu/isa.h"
#include "kernels/params.h"

namespace hearth::kernels::cpu {

// Floats of scratch attention_head needs for up to `n_visible` cells and heads up to `head_dim` wide.
inline int64_t attention_scratch_floats(int64_t n_visible, int64_t head_dim) { return n_visible + head_dim; }

// out[head * head_dim_v ...] = softmax(scale * q_h . k_j for j < n_visible) . v_j.
// `q_row` is one token's n_head * head_dim query values; `keys` and `values` are rows of n_head_kv * head_dim
// (head_dim_v) values in the order the token sees them, already converted from the cache's `cache_type`.
// With an F16 cache, q_h and the softmax weights are rounded to f16 before their products, as llama.cpp's
// attention converts them to the cache's type (its K.Q and V.softmax products take f16 operands).
// This scalar reference arranges its sums as llama.cpp's generation does (attention.cpp says how), for every
// query, so a query's result never depends on its batch. `scratch` holds attention_scratch_floats(n_visible,
// head_dim) floats. n_visible = 0 yields zeros.
void attention_head(const AttentionShape& shape, TensorType cache_type, const float* q_row, const float* keys,
                    const float* values, int64_t n_visible, int64_t head, float* out_row, float* scratch);

// attention_head's signature, for the vector versions.
using AttentionHead = void (*)(const AttentionShape& shape, TensorType cache_type, const float* q_row,
                               const float* keys, const float* values, int64_t n_visible, int64_t head,
                               float* out_row, float* scratch);

// The kernel for `shape` on `isa`: a vector version (x86_avx2.cpp, x86_avx512.cpp; other summation orders, results
// within a few f32 roundings of the reference's) where the set has one for the shape, else attention_head.
AttentionHead attention_head_kernel(const AttentionShape& shape, Isa isa);
AttentionHead avx512_attention_head(const AttentionShape& shape);  // nullptr where the shape has no vector kernel
AttentionHead avx2_attention_head(const AttentionShape& shape);

}  // namespace hearth::kernels::cpu
