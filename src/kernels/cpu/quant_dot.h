// Integer dot products of a quantized weight row with a row of 8-bit activation blocks (activations.h), each in
// the order llama.cpp's x86 CPU kernels add the terms.
//
// Why an order at all: inside a block the products are integers and exact; what rounds is how the per-block (or
// per-lane) partial sums are scaled and added. llama.cpp fixes that order per weight type and per path (its
// tinyBLAS GEMM, its repacked GEMV/GEMM, its vec_dot), and a model's activations are rounded to 8 bits before
// every product, so a last-bit difference in one sum can move a later value by a whole 8-bit step. Adding in the
// same order is what makes Hearth's logits the same bits as llama.cpp's, not merely close. Each kernel's comment
// names the llama.cpp function whose order it follows; the orders are also natural SIMD orders (per-lane fused
// multiply-add chains), so the vector kernels that replace these keep them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hearth/tensor_type.h"

namespace hearth::kernels::cpu {

// dot(weight row, activation row) over n elements (a multiple of both block sizes). Activation integers lie in
// [-127, 127], as quantize_activations makes them; weight integers may take any value of their format.
using QuantDot = float (*)(const std::byte* weight_row, const std::byte* activation_row, int64_t n);

// Which kernel a token takes can depend on its batch. llama.cpp's repacked types multiply the tokens that fall in
// full groups of four (tokens [0, n - n % 4) of a batch) with a GEMM and the rest with a GEMV; IQ4_XS takes a panel
// GEMM for every token once a batch has 8 or more. Where the GEMM adds in another order than the single-token
// kernel, `grouped` differs from `single`; grouped_tokens says which tokens take it.
// Where llama.cpp quantizes the activations of grouped tokens with other code than the rest (its 4-row
// interleaved quantizers), `quantize_grouped` rounds them that way; empty means quantize_activations.
using QuantizeActivations = void (*)(const float* x, std::byte* out, int64_t n);

struct QuantDotKernels {
  QuantDot single = nullptr;
  QuantDot grouped = nullptr;
  QuantizeActivations quantize_grouped = nullptr;
  // 0: tokens in full groups of four are grouped. N > 0: every token of a batch of N or more is grouped, none of
  // a smaller batch.
  int64_t all_grouped_from = 0;
  explicit operator bool() const { return single != nullptr; }
};

// Tokens [0, grouped_tokens(kernels, n)) of an n-token product take `grouped`, the rest `single`.
inline int64_t grouped_tokens(const QuantDotKernels& kernels, int64_t n_tokens) {
  if (kernels.all_grouped_from > 0) return n_tokens >= kernels.all_grouped_from ? n_tokens : 0;
  return n_tokens - n_tokens % 4;
}

// The kernels for a weight type, or empty where there are none (the matmul then dequantizes the weight and
// multiplies f32 by the rounded activations).
QuantDotKernels quant_dot_kernels(TensorType weight_type);

// The kernels of each family (one file each), empty for types a family does not cover.
QuantDotKernels repacked_quant_dot_kernels(TensorType weight_type);  // quant_dot_repacked.cpp: Q4_0, Q4_K, IQ4_NL, Q2_K
QuantDotKernels kquant_dot_kernels(TensorType weight_type);          // quant_dot_kquants.cpp: Q3_K, Q5_K, Q6_K
QuantDotKernels other_quant_dot_kernels(TensorType weight_type);     // quant_dot_other.cpp: IQ4_XS, Q4_1, Q5_0, Q5_1

// Q8_0 weights by Q8_0 activations: eight lanes, lane l holding the integer sum of elements 4l..4l+3 of each block,
// scaled by d_w * d_x and accumulated with a fused multiply-add, block after block; the lanes then folded
// ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). llama.cpp: tinyBLAS_Q0_AVX (two or more tokens) and
// ggml_vec_dot_q8_0_q8_0 (one), which agree.
float dot_q8_0_q8_0(const std::byte* weight_row, const std::byte* activation_row, int64_t n);

// Vector versions of the kernels above: the same operations, so the same bits (tested against the scalar ones).
// Used when the CPU has them (has_avx2_fma); they exist only on x86-64.
bool has_avx2_fma();
#if defined(__x86_64__)
float dot_q8_0_q8_0_avx2(const std::byte* weight_row, const std::byte* activation_row, int64_t n);
#endif

}  // namespace hearth::kernels::cpu
