// The scalar reference dot product of float weights (F32, F16, BF16) with activations, in the float order of
// llama.cpp's AVX-512 CPU backend for a single token (its vec_dot), for every token.
//
// Both operands arrive as f32: the weight row widened from its storage type (exact), the activations already
// rounded through the weight type's partner format (activations.h). What remains is the order of the sums:
// four sixteen-lane accumulators over steps of 64 elements (for BF16: two accumulators of the AVX512-BF16 dot
// instruction), folded and summed by halving, the tail added element by element. (llama.cpp's tinyBLAS GEMM for
// several tokens adds in another order; Hearth keeps one, so a token's result never depends on its batch.)
#pragma once

#include <cstdint>

#include "hearth/tensor_type.h"

namespace hearth::kernels::cpu {

// dot(w, x) in vec_dot's order.
float float_dot_vec(TensorType weight_type, const float* w, const float* x, int64_t n);

// The AVX512-BF16 dot instruction on one lane: acc + a1*b1, then + a0*b0, each sum rounded once (the products are
// exact), subnormal inputs read as zero and subnormal results flushed to zero.
float bf16_pair_dot(float acc, float a0, float b0, float a1, float b1);

}  // namespace hearth::kernels::cpu
