// Integer dot products of the weight types llama.cpp neither repacks nor handles in its k-quant kernels:
// IQ4_XS, Q5_0, Q4_1 and Q5_1 (see quant_dot.h for why the order of the float operations matters).
//
// All four follow one pattern from llama.cpp's x86 vec_dot kernels: eight float lanes, lane l holding the integer
// sum of elements 4l..4l+3 of each 32-element block (for IQ4_XS: of every 32-element group of a super-block, each
// weighted by its group scale), converted to float and accumulated with a fused multiply-add by the block's scale
// product, block after block; the lanes are then folded as their hsum does. Q4_1 and Q5_1 add the offset terms
// m * s in a separate scalar chain, added after the fold.
#include <cmath>
#include <cstring>

#include "kernels/cpu/quant_dot.h"
#include "tensor/blocks.h"
#include "tensor/quant.h"

namespace hearth::kernels::cpu {
namespace {

using tensor::fp16_to_fp32;
using tensor::kQK;
using tensor::kQK_K;

constexpr int kLanes = 8;

// The horizontal sum of llama.cpp's hsum_float_8 (high half onto low half, then pairs).
float fold_lanes(const float (&lane)[kLanes]) {
  return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

// lane[l] = fma(scale, sum of w[j] * x[j] over j = 4l..4l+3, lane[l]) for one 32-element block of integers.
void accumulate_block(const int8_t (&w)[kQK], const int8_t* x, float scale, float (&lane)[kLanes]) {
  for (int l = 0; l < kLanes; ++l) {
    int sum = 0;
    for (int j = 4 * l; j < 4 * l + 4; ++j) sum += w[j] * x[j];
    lane[l] = std::fma(scale, static_cast<float>(sum), lane[l]);
  }
}

// The 32 low-nibble values of a Q4_0-layout block: element j in the low nibble of qs[j], j + 16 in the high one.
void unpack_nibbles(const uint8_t (&qs)[kQK / 2], int8_t (&q)[kQK]) {
  for (int j = 0; j < kQK / 2; ++j) {
    q[j] = static_cast<int8_t>(qs[j] & 0x0F);
    q[j + kQK / 2] = static_cast<int8_t>(qs[j] >> 4);
  }
}

// Bit j of the 32-bit qh, moved to bit 4 of element j.
void add_high_bits(const uint8_t (&qh)[4], int8_t (&q)[kQK]) {
  uint32_t bits;
  std::memcpy(&bits, qh, sizeof(bits));
  for (int j = 0; j < kQK; ++j) q[j] = static_cast<int8_t>(q[j] | (((bits >> j) & 1) << 4));
}

// IQ4_XS by Q8_K: per super-block, lane l sums scale_g * w * x over elements 4l..4l+3 of each of the eight
// 32-element groups g in integers; then one fma per lane by d_w * d_x. llama.cpp: ggml_vec_dot_iq4_xs_q8_K (AVX2),
// the kernel of every IQ4_XS product of fewer than 8 tokens.
float dot_iq4_xs_q8_K(const std::byte* weight_row, const std::byte* activation_row, int64_t n) {
  const auto* w = reinterpret_cast<const tensor::BlockIQ4_XS*>(weight_row);
  const auto* x = reinterpret_cast<const tensor::BlockQ8_K*>(activation_row);
  float lane[kLanes] = {};
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int sum[kLanes] = {};
    for (int g = 0; g < kQK_K / kQK; ++g) {
      const int low = (w[b].scales_l[g / 2] >> (4 * (g % 2))) & 0x0F;
      const int high = (w[b].scales_h >> (2 * g)) & 3;
      const int scale = (low | (high << 4)) - 32;
      const uint8_t* qs = w[b].qs + 16 * g;
      const int8_t* xs = x[b].qs + kQK * g;
      for (int l = 0; l < kLanes; ++l) {
        int group = 0;
        for (int j = 4 * l; j < 4 * l + 4; ++j) {
          const int nibble = j < 16 ? qs[j] & 0x0F : qs[j - 16] >> 4;
          group += tensor::kIQ4Values[nibble] * xs[j];
        }
        sum[l] += scale * group;
      }
    }
    const float d = fp16_to_fp32(w[b].d) * x[b].d;
    for (int l = 0; l < kLanes; ++l) lane[l] = std::fma(d, static_cast<float>(sum[l]), lane[l]);
  }
  return fold_lanes(lane);
}

// Q5_0 by Q8_0, values (q | h << 4) - 16, scale d_w * d_x. llama.cpp: ggml_vec_dot_q5_0_q8_0 (one token) and
// tinyBLAS_Q0_AVX (two or more), which agree.
float dot_q5_0_q8_0(const std::byte* weight_row, const std::byte* activation_row, int64_t n) {
  const auto* w = reinterpret_cast<const tensor::BlockQ5_0*>(weight_row);
  const auto* x = reinterpret_cast<const tensor::BlockQ8_0*>(activation_row);
  float lane[kLanes] = {};
  for (int64_t b = 0; b < n / kQK; ++b) {
    int8_t q[kQK];
    unpack_nibbles(w[b].qs, q);
    add_high_bits(w[b].qh, q);
    for (int8_t& v : q) v = static_cast<int8_t>(v - 16);
    accumulate_block(q, x[b].qs, fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d), lane);
  }
  return fold_lanes(lane);
}

// Q4_1 or Q5_1 by Q8_1: the lanes hold d_w * d_x * sum(q * x) with q unsigned; the offsets m_w * s_x form their own
// fused chain, added to the folded lanes at the end. llama.cpp: ggml_vec_dot_q4_1_q8_1 / ggml_vec_dot_q5_1_q8_1,
// for every batch size (tinyBLAS does not take these types).
template <typename Block, bool kHighBits>
float dot_offset_q8_1(const std::byte* weight_row, const std::byte* activation_row, int64_t n) {
  const auto* w = reinterpret_cast<const Block*>(weight_row);
  const auto* x = reinterpret_cast<const tensor::BlockQ8_1*>(activation_row);
  float lane[kLanes] = {};
  float offsets = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    offsets = std::fma(fp16_to_fp32(w[b].m), fp16_to_fp32(x[b].s), offsets);
    int8_t q[kQK];
    unpack_nibbles(w[b].qs, q);
    if constexpr (kHighBits) add_high_bits(w[b].qh, q);
    accumulate_block(q, x[b].qs, fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d), lane);
  }
  return fold_lanes(lane) + offsets;
}

}  // namespace

QuantDot other_quant_dot_kernel(TensorType weight_type) {
  switch (weight_type) {
    case TensorType::IQ4_XS: return dot_iq4_xs_q8_K;
    case TensorType::Q5_0: return dot_q5_0_q8_0;
    case TensorType::Q4_1: return dot_offset_q8_1<tensor::BlockQ4_1, false>;
    case TensorType::Q5_1: return dot_offset_q8_1<tensor::BlockQ5_1, true>;
    default: return nullptr;
  }
}

}  // namespace hearth::kernels::cpu
