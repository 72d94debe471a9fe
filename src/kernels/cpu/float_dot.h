// Dot products of float weights (F32, F16, BF16) with activations, in the float order of llama.cpp's AVX-512 CPU
// backend, so that Hearth's logits for such models carry the same bits as the peer's.
//
// Both operands arrive as f32: the weight row widened from its storage type (exact), the activations already
// rounded through the weight type's partner format (activations.h). What remains is the order of the sums, and
// llama.cpp has two of them:
//   - a matrix of two or more tokens goes through tinyBLAS (llamafile's GEMM) when the weight has a multiple of 4
//     rows and the row length is a multiple of its step: sixteen lanes, lane l accumulating with fused
//     multiply-adds the products whose index is l mod 16 (for BF16, the pair 2l, 2l+1 of each step of 32, added by
//     the AVX512-BF16 dot instruction), the lanes then summed by halving (8 + 8, 4 + 4, 2 + 2, 1 + 1);
//   - a single token, or a shape tinyBLAS declines, goes through ggml's vec_dot: four sixteen-lane accumulators
//     over steps of 64 elements (for BF16: two accumulators of the dot instruction), folded and summed by halving,
//     the tail added element by element.
#pragma once

#include <cstdint>

#include "hearth/tensor_type.h"

namespace hearth::kernels::cpu {

// Whether llama.cpp multiplies a float weight of `rows` x `cols` by `n_tokens` tokens with tinyBLAS.
bool float_gemm_applies(TensorType weight_type, int64_t rows, int64_t cols, int64_t n_tokens);

// dot(w, x) in tinyBLAS's order (float_gemm_applies must hold for the matrix).
float float_dot_gemm(TensorType weight_type, const float* w, const float* x, int64_t n);

// dot(w, x) in vec_dot's order.
float float_dot_vec(TensorType weight_type, const float* w, const float* x, int64_t n);

// The AVX512-BF16 dot instruction on one lane: acc + a1*b1, then + a0*b0, each sum rounded once (the products are
// exact), subnormal inputs read as zero and subnormal results flushed to zero.
float bf16_pair_dot(float acc, float a0, float b0, float a1, float b1);

}  // namespace hearth::kernels::cpu
