// Q3_K, Q5_K and Q6_K weights by Q8_K activations, in the order of llama.cpp's x86 vec_dot kernels.
//
// llama.cpp does not repack these types on x86 and tinyBLAS does not take them, so every token, alone or in a
// batch, goes through ggml_vec_dot_q{3,5,6}_K_q8_K (their AVX2 branches; the zen4 build has no AVX-512 branch for
// them).
//
// All three share one shape. A super-block of 256 is read as eight chunks of 32 elements; within a chunk, byte e
// lands in 32-bit lane e / 4 (maddubs pairs bytes, madd pairs the 16-bit results), so lane l holds the exact
// integer sum of scale * q * y over bytes 4l..4l+3 of every chunk. The only rounding is then: the lane sums are
// converted to float, multiplied by d_w * d_x and accumulated with a fused multiply-add, block after block, and
// the eight lanes are folded as hsum_float_8 does. Q5_K adds its min correction as a separate float term.
#include <cmath>
#include <cstring>

#include "kernels/cpu/quant_dot.h"
#include "tensor/blocks.h"
#include "tensor/quant.h"

namespace hearth::kernels::cpu {
namespace {

using tensor::BlockQ3_K;
using tensor::BlockQ5_K;
using tensor::BlockQ6_K;
using tensor::BlockQ8_K;
using tensor::fp16_to_fp32;
using tensor::kQK_K;

constexpr int kLanes = 8;
constexpr int kChunk = 32;  // elements per 256-bit register of int8 quants

// hsum_float_8: high half onto low half, then pairs.
float fold_lanes(const float (&lane)[kLanes]) {
  return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

// acc[l] += d * lane_sum[l], fused, as _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc).
void accumulate(float (&acc)[kLanes], float d, const int32_t (&lane_sum)[kLanes]) {
  for (int l = 0; l < kLanes; ++l) acc[l] = std::fma(d, static_cast<float>(lane_sum[l]), acc[l]);
}

// Adds scale(e) * q[e] * y[e] of one 32-element chunk to the lanes; elements 0..15 take scale_lo, 16..31 scale_hi
// (every type here has one scale per 16 elements or per 32, which is the case scale_lo == scale_hi).
void add_chunk(int32_t (&lane_sum)[kLanes], const int8_t (&q)[kChunk], const int8_t* y, int scale_lo, int scale_hi) {
  for (int l = 0; l < kLanes; ++l) {
    int32_t sum = 0;
    for (int e = 4 * l; e < 4 * l + 4; ++e) sum += q[e] * y[e];
    lane_sum[l] += (l < 4 ? scale_lo : scale_hi) * sum;
  }
}

// Q6_K: q in 0..63 with int8 scales per 16; the -32 offset is taken off per lane afterwards as
// 32 * (scale[2l] * bsum[2l] + scale[2l+1] * bsum[2l+1]) (lane l of madd(bsums, scales)), which is not the offset of
// the elements lane l summed but leaves the lane an exact integer all the same. llama.cpp: ggml_vec_dot_q6_K_q8_K.
float dot_q6_K_q8_K(const std::byte* weight_row, const std::byte* activation_row, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ6_K*>(weight_row);
  const auto* x = reinterpret_cast<const BlockQ8_K*>(activation_row);
  float acc[kLanes] = {};
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ6_K& wb = w[b];
    const BlockQ8_K& xb = x[b];
    const float d = xb.d * fp16_to_fp32(wb.d);
    int32_t lane_sum[kLanes] = {};
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = wb.ql + 64 * h;
      const uint8_t* qh = wb.qh + 32 * h;
      const int8_t* scale = wb.scales + 8 * h;
      for (int k = 0; k < 4; ++k) {
        int8_t q[kChunk];
        for (int e = 0; e < kChunk; ++e) {
          const int low = (ql[e + 32 * (k & 1)] >> (4 * (k >> 1))) & 15;
          const int high = (qh[e] >> (2 * k)) & 3;
          q[e] = static_cast<int8_t>(low | (high << 4));
        }
        add_chunk(lane_sum, q, xb.qs + 128 * h + kChunk * k, scale[2 * k], scale[2 * k + 1]);
      }
    }
    for (int l = 0; l < kLanes; ++l) {
      lane_sum[l] -= 32 * (wb.scales[2 * l] * xb.bsums[2 * l] + wb.scales[2 * l + 1] * xb.bsums[2 * l + 1]);
    }
    accumulate(acc, d, lane_sum);
  }
  return fold_lanes(acc);
}

// The 6-bit scales and mins of Q4_K/Q5_K: groups 0..3 in the low six bits of bytes 0..3 (scales) and 4..7 (mins);
// groups 4..7 take their low four bits from bytes 8..11 and their top two from the spare bits of bytes 0..7.
void unpack_scales_mins(const uint8_t (&packed)[tensor::kKScaleBytes], int (&scale)[8], int (&min)[8]) {
  for (int g = 0; g < 4; ++g) {
    scale[g] = packed[g] & 63;
    min[g] = packed[g + 4] & 63;
    scale[g + 4] = (packed[g + 8] & 15) | ((packed[g] >> 6) << 4);
    min[g + 4] = (packed[g + 8] >> 4) | ((packed[g + 4] >> 6) << 4);
  }
}

// Q5_K: q in 0..31 with a 6-bit scale per 32 in the lanes; the mins give one integer per block,
// sum_g min[g] * (bsum[2g] + bsum[2g+1]), scaled by -d_x * dmin_w and added to a separate float sum that joins the
// folded lanes at the very end. llama.cpp: ggml_vec_dot_q5_K_q8_K.
float dot_q5_K_q8_K(const std::byte* weight_row, const std::byte* activation_row, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ5_K*>(weight_row);
  const auto* x = reinterpret_cast<const BlockQ8_K*>(activation_row);
  float acc[kLanes] = {};
  float mins_sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ5_K& wb = w[b];
    const BlockQ8_K& xb = x[b];
    const float d = xb.d * fp16_to_fp32(wb.d);
    const float dmin = -xb.d * fp16_to_fp32(wb.dmin);
    int scale[8], min[8];
    unpack_scales_mins(wb.scales, scale, min);
    int32_t min_dot = 0;
    for (int g = 0; g < 8; ++g) min_dot += min[g] * (xb.bsums[2 * g] + xb.bsums[2 * g + 1]);
    mins_sum = std::fma(dmin, static_cast<float>(min_dot), mins_sum);
    int32_t lane_sum[kLanes] = {};
    for (int c = 0; c < 8; ++c) {  // chunk c is group c: 64-element pair h = c / 2, low nibbles first
      const uint8_t* qs = wb.qs + 32 * (c / 2);
      const int shift = 4 * (c % 2);
      int8_t q[kChunk];
      for (int e = 0; e < kChunk; ++e) {
        q[e] = static_cast<int8_t>(((qs[e] >> shift) & 15) | (((wb.qh[e] >> c) & 1) << 4));
      }
      add_chunk(lane_sum, q, xb.qs + kChunk * c, scale[c], scale[c]);
    }
    accumulate(acc, d, lane_sum);
  }
  return fold_lanes(acc) + mins_sum;
}

// Q3_K's 16 signed 6-bit scales (stored + 32): low four bits in the nibbles of bytes 0..7 (scales 0..7 low nibble,
// 8..15 high), top two bits of scale j in bits 2 * (j / 4) of byte 8 + j % 4.
void unpack_q3_scales(const uint8_t (&packed)[tensor::kKScaleBytes], int (&scale)[16]) {
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? packed[j] & 15 : packed[j - 8] >> 4;
    const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    scale[j] = (low | (high << 4)) - 32;
  }
}

// Q3_K: q - 4 in -4..3 with a signed scale per 16, all inside the lanes. llama.cpp: ggml_vec_dot_q3_K_q8_K.
float dot_q3_K_q8_K(const std::byte* weight_row, const std::byte* activation_row, int64_t n) {
  const auto* w = reinterpret_cast<const BlockQ3_K*>(weight_row);
  const auto* x = reinterpret_cast<const BlockQ8_K*>(activation_row);
  float acc[kLanes] = {};
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ3_K& wb = w[b];
    const BlockQ8_K& xb = x[b];
    const float d = xb.d * fp16_to_fp32(wb.d);
    int scale[16];
    unpack_q3_scales(wb.scales, scale);
    int32_t lane_sum[kLanes] = {};
    for (int c = 0; c < 8; ++c) {  // chunk c: bit pair c % 4 of qs[32 * (c / 4) + e], high bit c of hmask[e]
      const uint8_t* qs = wb.qs + 32 * (c / 4);
      const int shift = 2 * (c % 4);
      int8_t q[kChunk];
      for (int e = 0; e < kChunk; ++e) {
        const int low = (qs[e] >> shift) & 3;
        const int high = (wb.hmask[e] >> c) & 1;
        q[e] = static_cast<int8_t>((low | (high << 2)) - 4);
      }
      add_chunk(lane_sum, q, xb.qs + kChunk * c, scale[2 * c], scale[2 * c + 1]);
    }
    accumulate(acc, d, lane_sum);
  }
  return fold_lanes(acc);
}

}  // namespace

QuantDot kquant_dot_kernel(TensorType weight_type) {
  switch (weight_type) {
    case TensorType::Q6_K: return dot_q6_K_q8_K;
    case TensorType::Q5_K: return dot_q5_K_q8_K;
    case TensorType::Q3_K: return dot_q3_K_q8_K;
    default: return nullptr;
  }
}

}  // namespace hearth::kernels::cpu
