// Per-format block codecs behind quantize_row / dequantize_row, and the numeric helpers they share.
//
// quantize() receives one block of finite values already clamped to +-kMaxBlockInput, so the scale searches
// never overflow; every float-to-int conversion still goes through nearest_int(), which is total.
#pragma once

#include <cstdint>
#include <cstring>

#include "tensor/blocks.h"
#include "tensor/quant.h"

namespace hearth::tensor::impl {

// The largest magnitude block formats accept: their scales are fp16, so nothing beyond its range is meaningful.
inline constexpr float kMaxBlockInput = 65504.0f;
// Below this a group's values are treated as zero (they are far below what an fp16 scale can express).
inline constexpr float kTinyGroupMax = 1e-15f;

// Round to nearest, ties to even, for any float: NaN maps to the low bound and huge values saturate.
// Adding 1.5 * 2^23 pushes the fraction bits out, leaving the rounded integer in the low mantissa bits;
// that is exact for |v| < 2^22 and vectorizes, unlike lrintf.
inline int nearest_int(float v) {
  constexpr float kLimit = 4194303.0f;  // 2^22 - 1
  v = v > -kLimit ? v : -kLimit;
  v = v < kLimit ? v : kLimit;
  const float shifted = v + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  return (bits & 0x007fffff) - 0x00400000;
}

// nearest_int's rounding, clamped into [lo, hi] and kept in float (lo and hi are integers): the form the search
// loops use, since it vectorizes without int conversions. NaN maps to lo.
inline float round_clamp(float v, float lo, float hi) {
  v = v > lo ? v : lo;
  v = v < hi ? v : hi;
  return (v + 12582912.0f) - 12582912.0f;
}

inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// An fp16 scale for `v`, saturating at +-65504 instead of overflowing to Inf.
inline uint16_t scale_to_fp16(float v) {
  v = v > -kMaxBlockInput ? v : -kMaxBlockInput;
  v = v < kMaxBlockInput ? v : kMaxBlockInput;
  return fp32_to_fp16(v);
}

// The element of largest magnitude, keeping its sign (the first one on ties).
inline float signed_absmax(const float* x, int n) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float ax = x[i] < 0 ? -x[i] : x[i];
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  return max;
}

void dequantize(const BlockQ4_0& b, float* y);
void dequantize(const BlockQ4_1& b, float* y);
void dequantize(const BlockQ5_0& b, float* y);
void dequantize(const BlockQ5_1& b, float* y);
void dequantize(const BlockQ8_0& b, float* y);
void dequantize(const BlockQ8_1& b, float* y);
void dequantize(const BlockQ2_K& b, float* y);
void dequantize(const BlockQ3_K& b, float* y);
void dequantize(const BlockQ4_K& b, float* y);
void dequantize(const BlockQ5_K& b, float* y);
void dequantize(const BlockQ6_K& b, float* y);
void dequantize(const BlockQ8_K& b, float* y);
void dequantize(const BlockIQ4_NL& b, float* y);
void dequantize(const BlockIQ4_XS& b, float* y);

void quantize(const float* x, BlockQ4_0& b);
void quantize(const float* x, BlockQ4_1& b);
void quantize(const float* x, BlockQ5_0& b);
void quantize(const float* x, BlockQ5_1& b);
void quantize(const float* x, BlockQ8_0& b);
void quantize(const float* x, BlockQ8_1& b);
void quantize(const float* x, BlockQ2_K& b);
void quantize(const float* x, BlockQ3_K& b);
void quantize(const float* x, BlockQ4_K& b);
void quantize(const float* x, BlockQ5_K& b);
void quantize(const float* x, BlockQ6_K& b);
void quantize(const float* x, BlockQ8_K& b);
void quantize(const float* x, BlockIQ4_NL& b);
void quantize(const float* x, BlockIQ4_XS& b);

}  // namespace hearth::tensor::impl
