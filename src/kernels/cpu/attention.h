// Scaled dot-product attention of one query head over a run of cached keys and values.
#pragma once

#include <cstdint>

#include "kernels/params.h"

namespace hearth::kernels::cpu {

// out[head * head_dim_v ...] = softmax(scale * q_h . k_j for j < n_visible) . v_j.
// `q_row` is one token's n_head * head_dim query values; `keys` and `values` are rows of n_head_kv * head_dim
// (head_dim_v) values in the order the token sees them; `scores` holds n_visible floats of scratch.
// n_visible = 0 yields zeros.
void attention_head(const AttentionShape& shape, const float* q_row, const float* keys, const float* values,
                    int64_t n_visible, int64_t head, float* out_row, float* scores);

}  // namespace hearth::kernels::cpu
