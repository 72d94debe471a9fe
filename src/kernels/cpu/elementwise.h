// Element-wise kernels over f32 arrays.
#pragma once

#include <cstdint>

#include "kernels/cpu/isa.h"

namespace hearth::kernels::cpu {

// x[i] += y[i]
void add(float* x, const float* y, int64_t n);
// x[r * width + i] += bias[i] for each of n_rows rows
void add_rows(float* x, const float* bias, int64_t n_rows, int64_t width);
// out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + e^-g); out may alias gate or up. The scalar reference.
void swiglu(const float* gate, const float* up, float* out, int64_t n);

// swiglu's signature, and the kernel for `isa`: the vector versions (attention_x86.h's exp in eight lanes) give
// the reference's bits.
using Swiglu = void (*)(const float* gate, const float* up, float* out, int64_t n);
Swiglu swiglu_kernel(Isa isa);
Swiglu avx512_swiglu();
Swiglu avx2_swiglu();

}  // namespace hearth::kernels::cpu
