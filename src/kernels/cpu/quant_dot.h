// Integer dot products of a quantized weight row with a row of 8-bit activation blocks (activations.h), each in
// the order llama.cpp's x86 CPU kernels add the terms.
//
// These are the scalar references of the vector kernels (quant_tiles.h), which give the same bits. Inside a block
// the products are integers and exact; what rounds is how the per-block (or per-lane) partial sums are scaled and
// added. Each kernel follows the order of the llama.cpp kernel its comment names for a single token (natural SIMD
// orders: per-lane fused multiply-add chains), so a lone token's logits match llama.cpp's closely; every token of
// a batch takes the same order, so Hearth's results never depend on the batch (llama.cpp's GEMMs add in other
// orders, which the conformance suite judges statistically).
#pragma once

#include <cstddef>
#include <cstdint>

#include "hearth/tensor_type.h"

namespace hearth::kernels::cpu {

// dot(weight row, activation row) over n elements (a multiple of both block sizes). Activation integers lie in
// [-127, 127], as quantize_activations makes them; weight integers may take any value of their format.
using QuantDot = float (*)(const std::byte* weight_row, const std::byte* activation_row, int64_t n);

// The reference kernel for a weight type, or nullptr where there is none (the matmul then dequantizes the weight
// and multiplies f32 by the rounded activations). The vector kernels of quant_tiles.h give these kernels' bits.
QuantDot quant_dot_kernel(TensorType weight_type);

// The kernels of each family (one file each), nullptr for types a family does not cover.
QuantDot repacked_quant_dot_kernel(TensorType weight_type);  // quant_dot_repacked.cpp: Q4_0, Q4_K, IQ4_NL, Q2_K
QuantDot kquant_dot_kernel(TensorType weight_type);          // quant_dot_kquants.cpp: Q3_K, Q5_K, Q6_K
QuantDot other_quant_dot_kernel(TensorType weight_type);     // quant_dot_other.cpp: IQ4_XS, Q4_1, Q5_0, Q5_1

// Q8_0 weights by Q8_0 activations: eight lanes, lane l holding the integer sum of elements 4l..4l+3 of each block,
// scaled by d_w * d_x and accumulated with a fused multiply-add, block after block; the lanes then folded
// ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). llama.cpp: tinyBLAS_Q0_AVX (two or more tokens) and
// ggml_vec_dot_q8_0_q8_0 (one), which agree.
float dot_q8_0_q8_0(const std::byte* weight_row, const std::byte* activation_row, int64_t n);

}  // namespace hearth::kernels::cpu
