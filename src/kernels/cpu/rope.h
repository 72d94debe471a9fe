// Rotary position embedding applied in place to rows of attention heads.
#pragma once

#include <cstdint>

#include "kernels/params.h"

namespace hearth::kernels::cpu {

// `x` holds n_tokens rows of n_heads * head_dim values; token t rotates by angle(positions[t]).
// Positions may be any integer, including negative ones (used to shift cached keys).
void rope_rows(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, const int32_t* positions,
               const RopeParams& params);

}  // namespace hearth::kernels::cpu
