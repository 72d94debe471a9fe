// Element-wise kernels over f32 arrays.
#pragma once

#include <cstdint>

namespace hearth::kernels::cpu {

// x[i] += y[i]
void add(float* x, const float* y, int64_t n);
// x[r * width + i] += bias[i] for each of n_rows rows
void add_rows(float* x, const float* bias, int64_t n_rows, int64_t width);
// out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + e^-g); out may alias gate or up.
void swiglu(const float* gate, const float* up, float* out, int64_t n);

}  // namespace hearth::kernels::cpu
