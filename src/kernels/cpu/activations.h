// Rounding of activations to the format llama.cpp's CPU backend multiplies them in.
//
// llama.cpp never multiplies a stored weight by f32 activations: before each matrix product it converts the
// activations to the weight type's partner format ("vec_dot_type") and multiplies in that format: f16 for F16
// weights, bf16 for BF16, 8-bit blocks of 32 with an fp16 scale for Q4_0/Q5_0/Q8_0/IQ4_NL (Q8_0) and Q4_1/Q5_1
// (Q8_1), 8-bit super-blocks of 256 with an f32 scale for the k-quants and IQ4_XS (Q8_K). The rounding moves logits
// by far more than summation order does, so an engine that wants llama.cpp's greedy output has to round the same
// way. These functions do it and give the values back as f32 (value = scale * integer, exactly what the integer
// dot products of llama.cpp see), so any f32 product kernel reproduces llama.cpp's arithmetic up to summation order.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hearth/tensor_type.h"

namespace hearth::kernels::cpu {

// The format activations are rounded to before a product with a weight of `weight_type`; F32 means none.
TensorType activation_format(TensorType weight_type);

// The length activations must be a multiple of for `format` (its block size; 1 for F32/F16/BF16).
int64_t activation_block(TensorType format);

// out[i] = x[i] rounded through `format` (one of F32, F16, BF16, Q8_0, Q8_1, Q8_K), as llama.cpp's x86 CPU backend
// quantizes (its AVX2 Q8_0/Q8_1 code: scale 127/amax and ties to even; the reference Q8_K code: scale -127/max).
// n is a multiple of activation_block(format); out may be x. NaN stays NaN; an all-zero block stays zero.
void round_activations(TensorType format, const float* x, float* out, int64_t n);

// Bytes of n activations as blocks of `format` (Q8_0, Q8_1 or Q8_K), n a multiple of the block. A Q8_0 row is
// followed by its blocks' scales as f32 (from q8_0_scales_offset(n) on): every weight row of a product multiplies
// by them, so they are converted from fp16 once per activation row rather than once per weight row. Rows are a
// multiple of 4 bytes, so rows of an aligned buffer keep those floats aligned.
uint64_t activation_row_bytes(TensorType format, int64_t n);
inline uint64_t q8_0_scales_offset(int64_t n) {
  return (static_cast<uint64_t>(n / 32) * 34 + 3) / 4 * 4;  // the blocks (34 bytes each), rounded up to 4
}

// The same rounding as round_activations, kept as blocks (GGUF's Q8_0/Q8_1/Q8_K layouts: integers and scales) for
// the integer dot products of quant_dot.h, Q8_0's followed by its scales in f32. Q8_1's s is d * sum(q); Q8_K's
// bsums are the sums of 16-value groups.
void quantize_activations(TensorType format, const float* x, std::byte* out, int64_t n);

}  // namespace hearth::kernels::cpu
