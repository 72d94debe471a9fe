// Scalar reference conversions between f32 and the ggml block formats.
//
// These are the oracle for every fast kernel: dequantize_row is bit-exact with ggml's reference dequantizers,
// quantize_row reaches ggml's reference quantization error (no importance matrix).
//
// Supported types:
//   dequantize_row: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q8_1 Q2_K Q3_K Q4_K Q5_K Q6_K Q8_K IQ4_NL IQ4_XS
//   quantize_row:   the same list.
// `n` must be a non-negative multiple of the type's block size; otherwise, or for any other type, both throw
// std::invalid_argument.
//
// Defined behaviour on unusual rows:
// - F32 is copied. F16 and BF16 convert like the hardware: round to nearest even, values beyond the format's
//   range become +-Inf, NaN stays NaN (quiet), subnormals are kept (not flushed).
// - Block formats (everything else) cannot hold NaN or Inf: quantize_row throws std::invalid_argument naming the
//   first non-finite element.
// - An all-zero block quantizes to all zeros; a constant block comes back within the format's step of the value.
// - Finite values beyond what a block format can represent (its fp16 scales top out at 65504) saturate: they
//   dequantize to the largest magnitude the block can express, with the right sign; the output is always finite.
// - Blocks whose values are too small for the fp16 scales (below ~1e-7 times the format's step count)
//   dequantize to zero.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hearth/tensor_type.h"

namespace hearth::tensor {

// IEEE binary16 <-> binary32, round to nearest even (as F16C's vcvtps2ph does).
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
// bfloat16 <-> binary32, round to nearest even; NaN stays a quiet NaN.
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

// Whether quantize_row / dequantize_row accept `type`.
bool can_quantize(TensorType type);
bool can_dequantize(TensorType type);

// `src` holds n / block_size blocks of `type`; writes n floats.
void dequantize_row(TensorType type, const std::byte* src, float* dst, int64_t n);
// Writes n / block_size blocks of `type` (row_bytes(type, n) bytes).
void quantize_row(TensorType type, const float* src, std::byte* dst, int64_t n);

}  // namespace hearth::tensor
