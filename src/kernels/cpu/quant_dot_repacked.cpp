// Q4_0, IQ4_NL, Q4_K and Q2_K weights, in the order of llama.cpp's repacked x86 GEMV.
//
// llama.cpp stores these weights (when a matrix has a multiple of 8 rows) interleaved eight rows at a time and
// multiplies a lone token with ggml_gemv_<type>_8x8_q8_*. Each output value there lives in one float lane of its
// own, so nothing is folded across lanes: per block (or per K super-block) one exact integer sum is converted to
// float and fused-multiply-added with d_w * d_x into the lane. The K types keep a second lane for the mins, scaled
// by dmin_w * d_x, and subtract it at the end. (Its GEMM for groups of four tokens converts more often, once per 64
// or 128 elements; Hearth uses the GEMV's order for every token, so a token's result never depends on its batch.)
#include <cmath>
#include <cstdint>

#include "kernels/cpu/quant_dot.h"
#include "tensor/blocks.h"
#include "tensor/quant.h"

namespace hearth::kernels::cpu {
namespace {

using tensor::BlockIQ4_NL;
using tensor::BlockQ2_K;
using tensor::BlockQ4_0;
using tensor::BlockQ4_K;
using tensor::BlockQ8_0;
using tensor::BlockQ8_K;
using tensor::fp16_to_fp32;
using tensor::kQK;
using tensor::kQK_K;

// Integer sum of 32 4-bit weights, mapped through `values` (nibble -> int8), times their activations.
int32_t dot_nibbles(const uint8_t (&qs)[kQK / 2], const int8_t (&values)[16], const int8_t* x) {
  int32_t sum = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    sum += values[qs[j] & 15] * x[j] + values[qs[j] >> 4] * x[j + kQK / 2];
  }
  return sum;
}

// Q4_0 and IQ4_NL: one fused multiply-add of the block's integer sum per block of 32, the scales multiplied first.
// llama.cpp: gemv_q4_b32_8x8_q8_0_lut_avx and gemm_q4_b32_8x8_q8_0_lut_avx (GEMV and GEMM agree).
template <typename Block>
float dot_b32(const Block* w, const BlockQ8_0* x, int64_t n, const int8_t (&values)[16]) {
  float acc = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float d = fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d);
    acc = std::fma(static_cast<float>(dot_nibbles(w[b].qs, values, x[b].qs)), d, acc);
  }
  return acc;
}

constexpr int8_t kQ4_0Values[16] = {-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7};

float dot_q4_0_q8_0(const std::byte* weight_row, const std::byte* activation_row, int64_t n) {
  return dot_b32(reinterpret_cast<const BlockQ4_0*>(weight_row), reinterpret_cast<const BlockQ8_0*>(activation_row),
                 n, kQ4_0Values);
}

float dot_iq4_nl_q8_0(const std::byte* weight_row, const std::byte* activation_row, int64_t n) {
  return dot_b32(reinterpret_cast<const BlockIQ4_NL*>(weight_row),
                 reinterpret_cast<const BlockQ8_0*>(activation_row), n, tensor::kIQ4Values);
}

// A K super-block's integer partial sums: per group of the weight's scales, scale * sum(q * x) and min * sum(x).
// The GEMV and GEMM below add `span` consecutive groups before converting to float.
struct KGroupSums {
  int32_t scaled[16];
  int32_t mins[16];
};

// Q4_K: 8 groups of 32 with 6-bit scales and mins packed in 12 bytes.
int groups_q4_K(const BlockQ4_K& w, const BlockQ8_K& x, KGroupSums& out) {
  for (int g = 0; g < 8; ++g) {
    int scale, min;
    if (g < 4) {
      scale = w.scales[g] & 63;
      min = w.scales[g + 4] & 63;
    } else {
      scale = (w.scales[g + 4] & 15) | ((w.scales[g - 4] >> 6) << 4);
      min = (w.scales[g + 4] >> 4) | ((w.scales[g] >> 6) << 4);
    }
    const uint8_t* qs = w.qs + 32 * (g / 2);
    const int shift = 4 * (g % 2);
    const int8_t* xq = x.qs + 32 * g;
    int32_t sum = 0;
    for (int l = 0; l < 32; ++l) sum += ((qs[l] >> shift) & 15) * xq[l];
    out.scaled[g] = scale * sum;
    out.mins[g] = min * (x.bsums[2 * g] + x.bsums[2 * g + 1]);
  }
  return 8;
}

// Q2_K: 16 groups of 16 with 4-bit scales (low nibble) and mins (high nibble).
int groups_q2_K(const BlockQ2_K& w, const BlockQ8_K& x, KGroupSums& out) {
  for (int g = 0; g < 16; ++g) {
    // Group g: elements 16g..16g+15, in half h = g / 8, bit pair (g % 8) / 2, bytes 16 * (g % 2) onwards.
    const uint8_t* qs = w.qs + 32 * (g / 8) + 16 * (g % 2);
    const int shift = 2 * ((g % 8) / 2);
    const int8_t* xq = x.qs + 16 * g;
    int32_t sum = 0;
    for (int l = 0; l < 16; ++l) sum += ((qs[l] >> shift) & 3) * xq[l];
    out.scaled[g] = (w.scales[g] & 15) * sum;
    out.mins[g] = (w.scales[g] >> 4) * x.bsums[g];
  }
  return 16;
}

// The K-type lanes: per `span` groups, acc += float(sum of scaled) * (d_w * d_x) and acc_min += float(sum of mins) *
// (dmin_w * d_x), both fused; the result is acc - acc_min. span = all groups of a super-block is the GEMV.
template <typename Block, int (*Groups)(const Block&, const BlockQ8_K&, KGroupSums&)>
float dot_k(const std::byte* weight_row, const std::byte* activation_row, int64_t n, int groups_per_step) {
  const auto* w = reinterpret_cast<const Block*>(weight_row);
  const auto* x = reinterpret_cast<const BlockQ8_K*>(activation_row);
  float acc = 0.0f;
  float acc_min = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    KGroupSums sums;
    const int groups = Groups(w[b], x[b], sums);
    const float d = fp16_to_fp32(w[b].d) * x[b].d;
    const float dmin = fp16_to_fp32(w[b].dmin) * x[b].d;
    for (int g0 = 0; g0 < groups; g0 += groups_per_step) {
      int32_t scaled = 0;
      int32_t mins = 0;
      for (int g = g0; g < g0 + groups_per_step; ++g) {
        scaled += sums.scaled[g];
        mins += sums.mins[g];
      }
      acc = std::fma(static_cast<float>(scaled), d, acc);
      acc_min = std::fma(static_cast<float>(mins), dmin, acc_min);
    }
  }
  return acc - acc_min;
}

// llama.cpp: ggml_gemv_q4_K_8x8_q8_K (one step per super-block).
float dot_q4_K(const std::byte* weight_row, const std::byte* activation_row, int64_t n) {
  return dot_k<BlockQ4_K, groups_q4_K>(weight_row, activation_row, n, 8);
}

// llama.cpp: ggml_gemv_q2_K_8x8_q8_K (one step per super-block).
float dot_q2_K(const std::byte* weight_row, const std::byte* activation_row, int64_t n) {
  return dot_k<BlockQ2_K, groups_q2_K>(weight_row, activation_row, n, 16);
}

}  // namespace

QuantDot repacked_quant_dot_kernel(TensorType weight_type) {
  switch (weight_type) {
    case TensorType::Q4_0: return dot_q4_0_q8_0;
    case TensorType::IQ4_NL: return dot_iq4_nl_q8_0;
    case TensorType::Q4_K: return dot_q4_K;
    case TensorType::Q2_K: return dot_q2_K;
    default: return nullptr;
  }
}

}  // namespace hearth::kernels::cpu
