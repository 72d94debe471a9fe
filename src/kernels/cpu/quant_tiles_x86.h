// The vector kernels of quant_tiles.h, written once for x86 and compiled once per instruction set
// (x86_avx2.cpp, x86_avx512.cpp). Everything here has internal linkage so the two compilations,
// built with different target flags, never share a symbol.
//
// Each kernel computes one weight row against up to kMaxTileTokens activation rows. The weight's bits are loaded
// and unpacked once per block and reused by every token; each token has its own accumulators and goes through
// exactly the operations it would go through alone, so a result does not depend on how many tokens share the
// tile. Those operations are the ones of the scalar reference in quant_dot*.cpp: the same exact integer sums
// (per lane or per block), converted and multiplied-added in the same order, so the results are the reference's
// bits (tests/kernels/quant_tiles_test.cpp checks equality).
//
// 8-bit products: _mm256_maddubs_epi16 multiplies unsigned by signed bytes and adds pairs into int16; it cannot
// saturate here because one side is at most 128 in magnitude and the other at most 127 (Q8_0, via the sign trick),
// or one side is at most 63 (the other formats). With AVX-512 VNNI the Q8_0 products go straight to int32.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/activations.h"
#include "kernels/cpu/quant_tiles.h"
#include "kernels/cpu/simd_x86.h"
#include "tensor/blocks.h"

namespace hearth::kernels::cpu {
namespace {

using tensor::BlockIQ4_NL;
using tensor::BlockIQ4_XS;
using tensor::BlockQ4_1;
using tensor::BlockQ5_0;
using tensor::BlockQ5_1;
using tensor::BlockQ8_1;
using tensor::BlockQ2_K;
using tensor::BlockQ3_K;
using tensor::BlockQ4_0;
using tensor::BlockQ4_K;
using tensor::BlockQ5_K;
using tensor::BlockQ6_K;
using tensor::BlockQ8_0;
using tensor::BlockQ8_K;
using tensor::kQK;
using tensor::kQK_K;

// Lane l (of 8) = sum of u[e] * s[e] over bytes e = 4l..4l+3 (u unsigned, s signed), exactly.
inline __m256i dot_quads(__m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

// Lane l = scale_lo * sum over bytes 4l..4l+3 for l < 4, scale_hi for l >= 4 (the products fit int16: see above).
inline __m256i scaled_dot(__m256i u, __m256i s, __m256i scales16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scales16);
}

// acc + scaled_dot(u, s, scales16); VNNI's dpwssd fuses the pair multiply-add and the accumulation.
inline __m256i add_scaled_dot(__m256i acc, __m256i u, __m256i s, __m256i scales16) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpwssd_epi32(acc, _mm256_maddubs_epi16(u, s), scales16);
#else
  return _mm256_add_epi32(acc, scaled_dot(u, s, scales16));
#endif
}

inline __m256i two_scales(int lo, int hi) {
  return _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(hi)), _mm_set1_epi16(static_cast<int16_t>(lo)));
}

// The f32 block scales that follow a Q8_0 activation row of n elements (activations.h).
inline const float* q8_0_scales(const std::byte* activations, uint64_t row_bytes, int t, int64_t n) {
  return reinterpret_cast<const float*>(activations + row_bytes * static_cast<uint64_t>(t) + q8_0_scales_offset(n));
}

template <typename Block>
inline const Block* row_of(const std::byte* activations, uint64_t row_bytes, int t) {
  return reinterpret_cast<const Block*>(activations + row_bytes * static_cast<uint64_t>(t));
}

// A block of 32 signed weight values by Q8_0 activations in eight lanes, fma by d_w * d_x, folded at the end: the
// order of the references dot_q8_0_q8_0 and dot_q5_0_q8_0. `values(block)` gives the block's 32 int8 values.
template <typename Block, int NT, typename Values>
void tile_signed_lanes(const std::byte* weight_row, const std::byte* activations, uint64_t row_bytes, int64_t n,
                       float* out, Values values) {
  const auto* w = reinterpret_cast<const Block*>(weight_row);
  const BlockQ8_0* x[NT];
  const float* dx[NT];
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) {
    x[t] = row_of<BlockQ8_0>(activations, row_bytes, t);
    dx[t] = q8_0_scales(activations, row_bytes, t, n);
    acc[t] = _mm256_setzero_ps();
  }
  for (int64_t b = 0; b < n / kQK; ++b) {
    const __m256i qw = values(w[b]);
    const __m256i magnitude = _mm256_sign_epi8(qw, qw);
    const float dw = half_to_float(w[b].d);
    for (int t = 0; t < NT; ++t) {
      const __m256i lanes = dot_quads(magnitude, _mm256_sign_epi8(load(x[t][b].qs), qw));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * dx[t][b]), _mm256_cvtepi32_ps(lanes), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = fold_lanes(acc[t]);
}

template <int NT>
void tile_q8_0(const std::byte* weight_row, const std::byte* activations, uint64_t row_bytes, int64_t n, float* out) {
  tile_signed_lanes<BlockQ8_0, NT>(weight_row, activations, row_bytes, n, out,
                                   [](const BlockQ8_0& block) { return load(block.qs); });
}

// Q4_0 and IQ4_NL by Q8_0 (reference dot_b32): per block one exact integer sum, fma by d_w * d_x. The 4-bit codes
// become signed values through a 16-entry table (q - 8 for Q4_0, the IQ4 grid), then the Q8_0 sign trick.
template <typename Block, int NT>
void tile_b32(const std::byte* weight_row, const std::byte* activations, uint64_t row_bytes, int64_t n, float* out,
              __m256i table) {
  const auto* w = reinterpret_cast<const Block*>(weight_row);
  const BlockQ8_0* x[NT];
  const float* dx[NT];
  float acc[NT];
  for (int t = 0; t < NT; ++t) {
    x[t] = row_of<BlockQ8_0>(activations, row_bytes, t);
    dx[t] = q8_0_scales(activations, row_bytes, t, n);
    acc[t] = 0.0f;
  }
  const __m128i low_mask = _mm_set1_epi8(15);
  for (int64_t b = 0; b < n / kQK; ++b) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
    const __m256i codes = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(packed, 4), low_mask),
                                           _mm_and_si128(packed, low_mask));
    const __m256i qw = _mm256_shuffle_epi8(table, codes);
    const __m256i magnitude = _mm256_sign_epi8(qw, qw);
    const float dw = half_to_float(w[b].d);
    for (int t = 0; t < NT; ++t) {
      const int32_t sum = sum_lanes(dot_quads(magnitude, _mm256_sign_epi8(load(x[t][b].qs), qw)));
      acc[t] = std::fma(static_cast<float>(sum), dw * dx[t][b], acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = acc[t];
}

inline __m256i nibble_table(const int8_t (&values)[16]) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(values));
  return _mm256_set_m128i(v, v);
}

constexpr int8_t kQ4_0Values[16] = {-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7};

template <int NT>
void tile_q4_0(const std::byte* weight_row, const std::byte* activations, uint64_t row_bytes, int64_t n, float* out) {
  tile_b32<BlockQ4_0, NT>(weight_row, activations, row_bytes, n, out, nibble_table(kQ4_0Values));
}

template <int NT>
void tile_iq4_nl(const std::byte* weight_row, const std::byte* activations, uint64_t row_bytes, int64_t n,
                 float* out) {
  tile_b32<BlockIQ4_NL, NT>(weight_row, activations, row_bytes, n, out, nibble_table(tensor::kIQ4Values));
}

// The eight 6-bit scales and the eight mins of a Q4_K/Q5_K super-block as bytes (the layout unpack_scales_mins
// reads, rearranged four bytes at a time).
struct ScalesMins {
  uint8_t scale[8];
  uint8_t min[8];
};

inline ScalesMins unpack_scales_mins_bytes(const uint8_t (&packed)[tensor::kKScaleBytes]) {
  constexpr uint32_t kLow6 = 0x3f3f3f3f, kLow4 = 0x0f0f0f0f, kLow2 = 0x03030303;
  uint32_t word[3];
  std::memcpy(word, packed, sizeof(word));
  const uint32_t unpacked[4] = {
      word[0] & kLow6,                                          // scales 0..3
      (word[2] & kLow4) | (((word[0] >> 6) & kLow2) << 4),      // scales 4..7
      word[1] & kLow6,                                          // mins 0..3
      ((word[2] >> 4) & kLow4) | (((word[1] >> 6) & kLow2) << 4),  // mins 4..7
  };
  ScalesMins out;
  std::memcpy(&out, unpacked, sizeof(out));
  return out;
}

// Eight int16 group factors, each repeated for the group's two 16-value bsums, so madd(bsums, factors) gives
// factor[g] * (bsums[2g] + bsums[2g+1]) in lane g.
inline __m256i pair_factors(const uint8_t (&f)[8]) {
  uint64_t bytes;
  std::memcpy(&bytes, f, sizeof(bytes));
  const __m128i words = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<int64_t>(bytes)));
  return _mm256_set_m128i(_mm_unpackhi_epi16(words, words), _mm_unpacklo_epi16(words, words));
}

// The K types with a per-super-block integer sum (Q4_K, Q2_K): the tokens' sums and min sums, reduced together to
// one vector [sum_0 .. sum_3, min_0 .. min_3] (exact integers), converted once and multiply-added with
// [d_w * d_x0 ..., dmin_w * d_x0 ...] into acc (lane t: acc of token t, lane 4 + t: its acc_min), as the
// reference's two scalar fmas per token would.
// d[i] and dmin[i] are lane i's d_w * d_x and dmin_w * d_x. The lanes are a tile's tokens, or the weight rows
// of a row tile (one token).
template <int NT>
inline __m256 accumulate_super_block(const __m256i (&sums)[NT], const __m256i (&mins)[NT], const float (&d)[NT],
                                     const float (&dmin)[NT], __m256 acc) {
  if constexpr (NT == 1) {
    // One token: [sum, min] from two horizontal adds, instead of the four-token tree over zeros.
    __m256i pair = _mm256_hadd_epi32(sums[0], mins[0]);  // per half: s01 s23 m01 m23
    pair = _mm256_hadd_epi32(pair, pair);                  // per half: s m s m
    const __m128i total = _mm_add_epi32(_mm256_castsi256_si128(pair), _mm256_extracti128_si256(pair, 1));
    const __m128i s_total = _mm_and_si128(total, _mm_setr_epi32(-1, 0, 0, 0));
    const __m128i m_total = _mm_and_si128(_mm_shuffle_epi32(total, _MM_SHUFFLE(0, 0, 0, 1)), _mm_setr_epi32(-1, 0, 0, 0));
    const __m256 totals = _mm256_cvtepi32_ps(_mm256_set_m128i(m_total, s_total));
    const __m256 factors = _mm256_set_m128(_mm_set_ss(dmin[0]), _mm_set_ss(d[0]));
    return _mm256_fmadd_ps(totals, factors, acc);
  }
  __m256i s[4], m[4];
  float f[4], fmin[4];
  for (int t = 0; t < 4; ++t) {
    s[t] = t < NT ? sums[t] : _mm256_setzero_si256();
    m[t] = t < NT ? mins[t] : _mm256_setzero_si256();
    f[t] = t < NT ? d[t] : 0.0f;
    fmin[t] = t < NT ? dmin[t] : 0.0f;
  }
  const __m256i s4 = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
  const __m256i m4 = _mm256_hadd_epi32(_mm256_hadd_epi32(m[0], m[1]), _mm256_hadd_epi32(m[2], m[3]));
  const __m128i s_total = _mm_add_epi32(_mm256_castsi256_si128(s4), _mm256_extracti128_si256(s4, 1));
  const __m128i m_total = _mm_add_epi32(_mm256_castsi256_si128(m4), _mm256_extracti128_si256(m4, 1));
  const __m256 totals = _mm256_cvtepi32_ps(_mm256_set_m128i(m_total, s_total));
  const __m256 factors = _mm256_set_m128(_mm_setr_ps(fmin[0], fmin[1], fmin[2], fmin[3]),
                                         _mm_setr_ps(f[0], f[1], f[2], f[3]));
  return _mm256_fmadd_ps(totals, factors, acc);
}

inline void store_super_block_results(__m256 acc, int nt, float* out) {
  alignas(32) float lane[8];
  _mm256_store_ps(lane, acc);
  for (int t = 0; t < nt; ++t) out[t] = lane[t] - lane[4 + t];
}

inline __m256i load_bsums(const BlockQ8_K& x) { return load(x.bsums); }

// Q4_K by Q8_K (reference dot_q4_K): per super-block the exact integers sum(scale * q * x) and sum(min * bsum),
// each fused-multiply-added by d_w * d_x and dmin_w * d_x; the result is acc - acc_min.
// q4_K_block_sums gives one super-block's integers against NT activation blocks.
template <int NT>
inline void q4_K_block_sums(const BlockQ4_K& wb, const BlockQ8_K* const (&xb)[NT], __m256i (&sums)[NT],
                            __m256i (&mins)[NT]) {
  const ScalesMins factors = unpack_scales_mins_bytes(wb.scales);
  const __m256i group_mins = pair_factors(factors.min);
#if defined(__AVX512BW__) && defined(__AVX512VNNI__)
  // One 512-bit register per 64 elements: low nibbles then high nibbles, as the activations lie, so each token
  // takes one multiply and one accumulate per 64 elements; the scale words come from one permute.
  const __m512i scale_words = _mm512_zextsi128_si512(_mm_cvtepu8_epi16(_mm_loadl_epi64(
      reinterpret_cast<const __m128i*>(factors.scale))));
  constexpr __mmask32 kUpperWords = 0xFFFF0000u;
  const __m512i low_mask512 = _mm512_set1_epi8(15);
  __m512i wide[NT];
  for (int t = 0; t < NT; ++t) wide[t] = _mm512_setzero_si512();
  for (int j = 0; j < 4; ++j) {
    // Both halves hold the 32 packed bytes; the upper half's words are shifted to bring up the high nibbles.
    const __m512i both = _mm512_broadcast_i64x4(load(wb.qs + 32 * j));
    const __m512i q = _mm512_and_si512(_mm512_mask_srli_epi16(both, kUpperWords, both, 4), low_mask512);
    const __m512i scales = _mm512_permutexvar_epi16(
        _mm512_mask_blend_epi16(kUpperWords, _mm512_set1_epi16(static_cast<int16_t>(2 * j)),
                                _mm512_set1_epi16(static_cast<int16_t>(2 * j + 1))),
        scale_words);
    for (int t = 0; t < NT; ++t) {
      wide[t] = _mm512_dpwssd_epi32(wide[t], _mm512_maddubs_epi16(q, _mm512_loadu_si512(xb[t]->qs + 64 * j)), scales);
    }
  }
  for (int t = 0; t < NT; ++t) {
    sums[t] = _mm256_add_epi32(_mm512_castsi512_si256(wide[t]), _mm512_extracti64x4_epi64(wide[t], 1));
#else
  // Two accumulators per token (low and high nibbles) keep twice as many independent chains in flight.
  const __m256i low_mask = _mm256_set1_epi8(15);
  __m256i high_sums[NT];
  for (int t = 0; t < NT; ++t) sums[t] = high_sums[t] = _mm256_setzero_si256();
  for (int j = 0; j < 4; ++j) {  // 64 elements: low nibbles are group 2j, high nibbles group 2j + 1
    const __m256i packed = load(wb.qs + 32 * j);
    const __m256i low = _mm256_and_si256(packed, low_mask);
    const __m256i high = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_mask);
    const __m256i scale_low = _mm256_set1_epi16(factors.scale[2 * j]);
    const __m256i scale_high = _mm256_set1_epi16(factors.scale[2 * j + 1]);
    for (int t = 0; t < NT; ++t) {
      const int8_t* xq = xb[t]->qs + 64 * j;
      sums[t] = add_scaled_dot(sums[t], low, load(xq), scale_low);
      high_sums[t] = add_scaled_dot(high_sums[t], high, load(xq + 32), scale_high);
    }
  }
  for (int t = 0; t < NT; ++t) {
    sums[t] = _mm256_add_epi32(sums[t], high_sums[t]);
#endif
    mins[t] = _mm256_madd_epi16(load_bsums(*xb[t]), group_mins);
  }
}

template <int NT>
void tile_q4_K(const std::byte* weight_row, const std::byte* activations, uint64_t row_bytes, int64_t n, float* out) {
  const auto* w = reinterpret_cast<const BlockQ4_K*>(weight_row);
  const BlockQ8_K* x[NT];
  for (int t = 0; t < NT; ++t) x[t] = row_of<BlockQ8_K>(activations, row_bytes, t);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ8_K* xb[NT];
    __m256i sums[NT], mins[NT];
    float d[NT], dmin[NT];
    for (int t = 0; t < NT; ++t) xb[t] = x[t] + b;
    q4_K_block_sums<NT>(w[b], xb, sums, mins);
    const float dw = half_to_float(w[b].d), dminw = half_to_float(w[b].dmin);
    for (int t = 0; t < NT; ++t) d[t] = dw * xb[t]->d, dmin[t] = dminw * xb[t]->d;
    acc = accumulate_super_block<NT>(sums, mins, d, dmin, acc);
  }
  store_super_block_results(acc, NT, out);
}

// NR weight rows by one token: the same integers and fmas per row as tile_q4_K<1>, with the rows' reductions and
// conversions shared (one token's tile spends a third of its time there) and each activation block loaded once.
template <int NR>
void rows_q4_K(const std::byte* weight_rows, uint64_t weight_row_bytes, const std::byte* activation, int64_t n,
               float* out) {
  const BlockQ4_K* w[NR];
  for (int r = 0; r < NR; ++r) w[r] = row_of<BlockQ4_K>(weight_rows, weight_row_bytes, r);
  const auto* x = reinterpret_cast<const BlockQ8_K*>(activation);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ8_K* const xb[1] = {x + b};
    __m256i sums[NR], mins[NR];
    float d[NR], dmin[NR];
    for (int r = 0; r < NR; ++r) {
      __m256i row_sums[1], row_mins[1];
      q4_K_block_sums<1>(w[r][b], xb, row_sums, row_mins);
      sums[r] = row_sums[0];
      mins[r] = row_mins[0];
      d[r] = half_to_float(w[r][b].d) * x[b].d;
      dmin[r] = half_to_float(w[r][b].dmin) * x[b].d;
    }
    acc = accumulate_super_block<NR>(sums, mins, d, dmin, acc);
  }
  store_super_block_results(acc, NR, out);
}

// Q5_K by Q8_K (reference dot_q5_K_q8_K): eight lanes per super-block, group c's scale over chunk c, fma by
// d_x * d_w; the mins in a separate float chain added after the fold.
template <int NT>
void tile_q5_K(const std::byte* weight_row, const std::byte* activations, uint64_t row_bytes, int64_t n, float* out) {
  const auto* w = reinterpret_cast<const BlockQ5_K*>(weight_row);
  const BlockQ8_K* x[NT];
  __m256 acc[NT];
  float mins_sum[NT];
  for (int t = 0; t < NT; ++t) {
    x[t] = row_of<BlockQ8_K>(activations, row_bytes, t);
    acc[t] = _mm256_setzero_ps();
    mins_sum[t] = 0.0f;
  }
  const __m256i low_mask = _mm256_set1_epi8(15);
  const __m256i bit4 = _mm256_set1_epi8(16);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ5_K& wb = w[b];
    const ScalesMins factors = unpack_scales_mins_bytes(wb.scales);
    const __m256i mins = pair_factors(factors.min);
    const __m256i high_bits = load(wb.qh);
    __m256i sums[NT];
    for (int t = 0; t < NT; ++t) sums[t] = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {  // chunks 2j (low nibbles, qh bit 2j) and 2j + 1 (high nibbles, bit 2j + 1)
      const __m256i packed = load(wb.qs + 32 * j);
      const __m256i low = _mm256_or_si256(
          _mm256_and_si256(packed, low_mask),
          _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(high_bits, 2 * j), 4), bit4));
      const __m256i high = _mm256_or_si256(
          _mm256_and_si256(_mm256_srli_epi16(packed, 4), low_mask),
          _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(high_bits, 2 * j + 1), 4), bit4));
      const __m256i scale_low = _mm256_set1_epi16(factors.scale[2 * j]);
      const __m256i scale_high = _mm256_set1_epi16(factors.scale[2 * j + 1]);
      for (int t = 0; t < NT; ++t) {
        const int8_t* xq = x[t][b].qs + 64 * j;
        sums[t] = add_scaled_dot(add_scaled_dot(sums[t], low, load(xq), scale_low), high, load(xq + 32), scale_high);
      }
    }
    const float dw = half_to_float(wb.d);
    const float dminw = half_to_float(wb.dmin);
    for (int t = 0; t < NT; ++t) {
      const BlockQ8_K& xb = x[t][b];
      const int32_t min_dot = sum_lanes(_mm256_madd_epi16(load_bsums(xb), mins));
      mins_sum[t] = std::fma(-xb.d * dminw, static_cast<float>(min_dot), mins_sum[t]);
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(xb.d * dw), _mm256_cvtepi32_ps(sums[t]), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = fold_lanes(acc[t]) + mins_sum[t];
}

// Q6_K by Q8_K (reference dot_q6_K_q8_K): q in 0..63 with int8 scales per 16 in eight lanes, the -32 offset
// taken off per lane as 32 * madd(bsums, scales), fma by d_x * d_w, folded at the end.
template <int NT>
void tile_q6_K(const std::byte* weight_row, const std::byte* activations, uint64_t row_bytes, int64_t n, float* out) {
  const auto* w = reinterpret_cast<const BlockQ6_K*>(weight_row);
  const BlockQ8_K* x[NT];
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) x[t] = row_of<BlockQ8_K>(activations, row_bytes, t), acc[t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ6_K& wb = w[b];
    const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb.scales)));
    __m256i sums[NT];
#if defined(__AVX512BW__) && defined(__AVX512VNNI__)
    // Two 32-value chunks per 512-bit register (chunks 2p and 2p + 1 of each half h, as the activations lie):
    // lane i of either half sums the same products as the 256-bit form's lane i, so adding the halves at the end
    // gives its exact integers.
    const __m512i scale_words = _mm512_castsi256_si512(scales16);
    const __m512i low_mask512 = _mm512_set1_epi8(15);
    const __m512i two_bits512 = _mm512_set1_epi8(3);
    __m512i wide[NT];
    for (int t = 0; t < NT; ++t) wide[t] = _mm512_setzero_si512();
    for (int h = 0; h < 2; ++h) {
      const __m512i ql = _mm512_loadu_si512(wb.ql + 64 * h);  // chunk 0|1 low nibbles, chunk 2|3 high nibbles
      const __m512i qh = _mm512_broadcast_i64x4(load(wb.qh + 32 * h));
      for (int p = 0; p < 2; ++p) {
        const __m512i low = _mm512_and_si512(p == 0 ? ql : _mm512_srli_epi16(ql, 4), low_mask512);
        // Chunk k's two high bits sit at bit 2k of qh: shift the lower half by 4p, the upper by 4p + 2.
        const __m512i shifts = _mm512_mask_blend_epi64(0xF0, _mm512_set1_epi16(static_cast<int16_t>(4 * p)),
                                                       _mm512_set1_epi16(static_cast<int16_t>(4 * p + 2)));
        const __m512i high = _mm512_and_si512(_mm512_srlv_epi16(qh, shifts), two_bits512);
        const __m512i q = _mm512_or_si512(low, _mm512_slli_epi16(high, 4));
        // Sixteen words per chunk, eight per scale: scales 8h + 4p .. 8h + 4p + 3.
        const __m512i scale_index = _mm512_add_epi16(
            _mm512_set1_epi16(static_cast<int16_t>(8 * h + 4 * p)),
            _mm512_srli_epi16(_mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14,
                                               13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 3));
        const __m512i scales = _mm512_permutexvar_epi16(scale_index, scale_words);
        for (int t = 0; t < NT; ++t) {
          wide[t] = _mm512_dpwssd_epi32(
              wide[t], _mm512_maddubs_epi16(q, _mm512_loadu_si512(x[t][b].qs + 128 * h + 64 * p)), scales);
        }
      }
    }
    for (int t = 0; t < NT; ++t) {
      sums[t] = _mm256_add_epi32(_mm512_castsi512_si256(wide[t]), _mm512_extracti64x4_epi64(wide[t], 1));
    }
#else
    const __m256i low_mask = _mm256_set1_epi8(15);
    const __m256i two_bits = _mm256_set1_epi8(3);
    for (int t = 0; t < NT; ++t) sums[t] = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = load(wb.ql + 64 * h);
      const __m256i ql1 = load(wb.ql + 64 * h + 32);
      const __m256i qh = load(wb.qh + 32 * h);
      const int8_t* scale = wb.scales + 8 * h;
      for (int k = 0; k < 4; ++k) {
        const __m256i ql = k & 1 ? ql1 : ql0;
        const __m256i low = k < 2 ? _mm256_and_si256(ql, low_mask)
                                  : _mm256_and_si256(_mm256_srli_epi16(ql, 4), low_mask);
        const __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), two_bits);
        const __m256i q = _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
        const __m256i scales = two_scales(scale[2 * k], scale[2 * k + 1]);
        for (int t = 0; t < NT; ++t) {
          sums[t] = add_scaled_dot(sums[t], q, load(x[t][b].qs + 128 * h + 32 * k), scales);
        }
      }
    }
#endif
    const float dw = half_to_float(wb.d);
    for (int t = 0; t < NT; ++t) {
      const BlockQ8_K& xb = x[t][b];
      const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(load_bsums(xb), scales16), 5);
      const __m256i lanes = _mm256_sub_epi32(sums[t], offset);
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(xb.d * dw), _mm256_cvtepi32_ps(lanes), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = fold_lanes(acc[t]);
}

// Q3_K's 16 signed 6-bit scales (as the reference unpacks them).
inline void unpack_q3_scales(const uint8_t (&packed)[tensor::kKScaleBytes], int (&scale)[16]) {
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? packed[j] & 15 : packed[j - 8] >> 4;
    const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    scale[j] = (low | (high << 4)) - 32;
  }
}

// Q3_K by Q8_K (reference dot_q3_K_q8_K): (q - 4) * x as q * x - 4 * x in int16 (both exact), signed scales per
// 16 in eight lanes, fma by d_x * d_w, folded at the end.
template <int NT>
void tile_q3_K(const std::byte* weight_row, const std::byte* activations, uint64_t row_bytes, int64_t n, float* out) {
  const auto* w = reinterpret_cast<const BlockQ3_K*>(weight_row);
  const BlockQ8_K* x[NT];
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) x[t] = row_of<BlockQ8_K>(activations, row_bytes, t), acc[t] = _mm256_setzero_ps();
  const __m256i two_bits = _mm256_set1_epi8(3);
  const __m256i bit2 = _mm256_set1_epi8(4);
  const __m256i fours = _mm256_set1_epi8(4);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ3_K& wb = w[b];
    int scale[16];
    unpack_q3_scales(wb.scales, scale);
    const __m256i hmask = load(wb.hmask);
    __m256i sums[NT];
    for (int t = 0; t < NT; ++t) sums[t] = _mm256_setzero_si256();
    for (int c = 0; c < 8; ++c) {
      const __m256i packed = load(wb.qs + 32 * (c / 4));
      const __m256i low = _mm256_and_si256(_mm256_srli_epi16(packed, 2 * (c % 4)), two_bits);
      const __m256i high = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(hmask, c), 2), bit2);
      const __m256i q = _mm256_or_si256(low, high);
      const __m256i scales = two_scales(scale[2 * c], scale[2 * c + 1]);
      for (int t = 0; t < NT; ++t) {
        const __m256i xq = load(x[t][b].qs + 32 * c);
        const __m256i centered = _mm256_sub_epi16(_mm256_maddubs_epi16(q, xq), _mm256_maddubs_epi16(fours, xq));
        sums[t] = _mm256_add_epi32(sums[t], _mm256_madd_epi16(centered, scales));
      }
    }
    const float dw = half_to_float(wb.d);
    for (int t = 0; t < NT; ++t) {
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(x[t][b].d * dw), _mm256_cvtepi32_ps(sums[t]), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = fold_lanes(acc[t]);
}

// Q2_K by Q8_K (reference dot_q2_K): per super-block the exact integers sum(scale * q * x) and sum(min * bsum),
// fma by d_w * d_x and dmin_w * d_x; the result is acc - acc_min.
template <int NT>
void tile_q2_K(const std::byte* weight_row, const std::byte* activations, uint64_t row_bytes, int64_t n, float* out) {
  const auto* w = reinterpret_cast<const BlockQ2_K*>(weight_row);
  const BlockQ8_K* x[NT];
  for (int t = 0; t < NT; ++t) x[t] = row_of<BlockQ8_K>(activations, row_bytes, t);
  __m256 acc = _mm256_setzero_ps();
  const __m256i two_bits = _mm256_set1_epi8(3);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockQ2_K& wb = w[b];
    const __m128i packed_scales = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wb.scales));
    const __m256i group_mins =
        _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed_scales, 4), _mm_set1_epi8(15)));
    __m256i sums[NT], mins[NT];
    for (int t = 0; t < NT; ++t) sums[t] = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i packed = load(wb.qs + 32 * h);
      for (int p = 0; p < 4; ++p) {  // bit pair p: groups 8h + 2p (bytes 0..15) and 8h + 2p + 1 (bytes 16..31)
        const __m256i q = _mm256_and_si256(_mm256_srli_epi16(packed, 2 * p), two_bits);
        const int g = 8 * h + 2 * p;
        const __m256i scales = two_scales(wb.scales[g] & 15, wb.scales[g + 1] & 15);
        for (int t = 0; t < NT; ++t) sums[t] = add_scaled_dot(sums[t], q, load(x[t][b].qs + 128 * h + 32 * p), scales);
      }
    }
    const float dw = half_to_float(wb.d), dminw = half_to_float(wb.dmin);
    float d[NT], dmin[NT];
    for (int t = 0; t < NT; ++t) {
      mins[t] = _mm256_madd_epi16(load_bsums(x[t][b]), group_mins);
      d[t] = dw * x[t][b].d;
      dmin[t] = dminw * x[t][b].d;
    }
    acc = accumulate_super_block<NT>(sums, mins, d, dmin, acc);
  }
  store_super_block_results(acc, NT, out);
}

// The 32 nibble codes of a Q4_0-layout block (element j in the low nibble of qs[j], j + 16 in the high one), one
// per byte.
inline __m256i nibble_codes(const uint8_t* qs) {
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i low_mask = _mm_set1_epi8(15);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(packed, 4), low_mask), _mm_and_si128(packed, low_mask));
}

// Bit j of the 32-bit qh as 16 (bit 4) in byte j.
inline __m256i high_bit_bytes(const uint8_t (&qh)[4]) {
  uint32_t bits;
  std::memcpy(&bits, qh, sizeof(bits));
  // Byte j takes the qh byte j / 8, then tests bit j % 8 of it.
  const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int32_t>(bits)),
                                             _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202,
                                                                0x0303030303030303));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(16));
}

// Q5_0 by Q8_0 (reference dot_q5_0_q8_0): values (q | h << 4) - 16, then as Q8_0.
template <int NT>
void tile_q5_0(const std::byte* weight_row, const std::byte* activations, uint64_t row_bytes, int64_t n, float* out) {
  tile_signed_lanes<BlockQ5_0, NT>(weight_row, activations, row_bytes, n, out, [](const BlockQ5_0& block) {
    return _mm256_sub_epi8(_mm256_or_si256(nibble_codes(block.qs), high_bit_bytes(block.qh)), _mm256_set1_epi8(16));
  });
}

// Q4_1 and Q5_1 by Q8_1 (reference dot_offset_q8_1): unsigned q by x in eight lanes, fma by d_w * d_x; the offsets
// m_w * s_x in their own chain, added after the fold.
template <typename Block, bool kHighBits, int NT>
void tile_offset(const std::byte* weight_row, const std::byte* activations, uint64_t row_bytes, int64_t n,
                 float* out) {
  const auto* w = reinterpret_cast<const Block*>(weight_row);
  const BlockQ8_1* x[NT];
  __m256 acc[NT];
  float offsets[NT];
  for (int t = 0; t < NT; ++t) {
    x[t] = row_of<BlockQ8_1>(activations, row_bytes, t);
    acc[t] = _mm256_setzero_ps();
    offsets[t] = 0.0f;
  }
  for (int64_t b = 0; b < n / kQK; ++b) {
    __m256i q = nibble_codes(w[b].qs);
    if constexpr (kHighBits) q = _mm256_or_si256(q, high_bit_bytes(w[b].qh));
    const float dw = half_to_float(w[b].d);
    const float mw = half_to_float(w[b].m);
    for (int t = 0; t < NT; ++t) {
      offsets[t] = std::fma(mw, half_to_float(x[t][b].s), offsets[t]);
      const __m256i lanes = dot_quads(q, load(x[t][b].qs));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * half_to_float(x[t][b].d)), _mm256_cvtepi32_ps(lanes), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = fold_lanes(acc[t]) + offsets[t];
}

template <int NT>
void tile_q4_1(const std::byte* weight_row, const std::byte* activations, uint64_t row_bytes, int64_t n, float* out) {
  tile_offset<BlockQ4_1, false, NT>(weight_row, activations, row_bytes, n, out);
}

template <int NT>
void tile_q5_1(const std::byte* weight_row, const std::byte* activations, uint64_t row_bytes, int64_t n, float* out) {
  tile_offset<BlockQ5_1, true, NT>(weight_row, activations, row_bytes, n, out);
}

// IQ4_XS by Q8_K (reference dot_iq4_xs_q8_K): per super-block, lane l sums scale_g * w * x over bytes 4l..4l+3 of
// each 32-element group g in integers; one fma per lane by d_w * d_x; folded at the end.
template <int NT>
void tile_iq4_xs(const std::byte* weight_row, const std::byte* activations, uint64_t row_bytes, int64_t n,
                 float* out) {
  const auto* w = reinterpret_cast<const BlockIQ4_XS*>(weight_row);
  const BlockQ8_K* x[NT];
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) x[t] = row_of<BlockQ8_K>(activations, row_bytes, t), acc[t] = _mm256_setzero_ps();
  const __m256i table = nibble_table(tensor::kIQ4Values);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const BlockIQ4_XS& wb = w[b];
    __m256i sums[NT];
    for (int t = 0; t < NT; ++t) sums[t] = _mm256_setzero_si256();
    for (int g = 0; g < kQK_K / kQK; ++g) {
      const int low = (wb.scales_l[g / 2] >> (4 * (g % 2))) & 0x0F;
      const int high = (wb.scales_h >> (2 * g)) & 3;
      const __m256i scale = _mm256_set1_epi16(static_cast<int16_t>((low | (high << 4)) - 32));
      const __m256i qw = _mm256_shuffle_epi8(table, nibble_codes(wb.qs + 16 * g));
      const __m256i magnitude = _mm256_sign_epi8(qw, qw);
      for (int t = 0; t < NT; ++t) {
        sums[t] = add_scaled_dot(sums[t], magnitude, _mm256_sign_epi8(load(x[t][b].qs + kQK * g), qw), scale);
      }
    }
    const float dw = half_to_float(wb.d);
    for (int t = 0; t < NT; ++t) {
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * x[t][b].d), _mm256_cvtepi32_ps(sums[t]), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = fold_lanes(acc[t]);
}

// One entry point per type: the token count picks the instantiation, so every count runs the same operations.
template <template <int> class Kernel>
void dispatch_tokens(const std::byte* weight_row, const std::byte* activations, uint64_t row_bytes, int n_tokens,
                     int64_t n, float* out) {
  static_assert(kMaxTileTokens == 4);
  switch (n_tokens) {
    case 1: Kernel<1>::run(weight_row, activations, row_bytes, n, out); break;
    case 2: Kernel<2>::run(weight_row, activations, row_bytes, n, out); break;
    case 3: Kernel<3>::run(weight_row, activations, row_bytes, n, out); break;
    default: Kernel<4>::run(weight_row, activations, row_bytes, n, out); break;
  }
}

#define HEARTH_TILE_ENTRY(fn)                                                                                  \
  template <int NT>                                                                                           \
  struct fn##_kernel {                                                                                        \
    static void run(const std::byte* w, const std::byte* x, uint64_t rb, int64_t n, float* out) {             \
      fn<NT>(w, x, rb, n, out);                                                                               \
    }                                                                                                         \
  };                                                                                                          \
  void fn##_entry(const std::byte* w, const std::byte* x, uint64_t rb, int nt, int64_t n, float* out) {       \
    dispatch_tokens<fn##_kernel>(w, x, rb, nt, n, out);                                                       \
  }

HEARTH_TILE_ENTRY(tile_q8_0)
HEARTH_TILE_ENTRY(tile_q4_0)
HEARTH_TILE_ENTRY(tile_iq4_nl)
HEARTH_TILE_ENTRY(tile_q4_K)
HEARTH_TILE_ENTRY(tile_q5_K)
HEARTH_TILE_ENTRY(tile_q6_K)
HEARTH_TILE_ENTRY(tile_q3_K)
HEARTH_TILE_ENTRY(tile_q2_K)
HEARTH_TILE_ENTRY(tile_q5_0)
HEARTH_TILE_ENTRY(tile_q4_1)
HEARTH_TILE_ENTRY(tile_q5_1)
HEARTH_TILE_ENTRY(tile_iq4_xs)
#undef HEARTH_TILE_ENTRY

inline QuantTile x86_quant_tile(TensorType weight_type) {
  switch (weight_type) {
    case TensorType::Q8_0: return tile_q8_0_entry;
    case TensorType::Q4_0: return tile_q4_0_entry;
    case TensorType::IQ4_NL: return tile_iq4_nl_entry;
    case TensorType::Q4_K: return tile_q4_K_entry;
    case TensorType::Q5_K: return tile_q5_K_entry;
    case TensorType::Q6_K: return tile_q6_K_entry;
    case TensorType::Q3_K: return tile_q3_K_entry;
    case TensorType::Q2_K: return tile_q2_K_entry;
    case TensorType::Q5_0: return tile_q5_0_entry;
    case TensorType::Q4_1: return tile_q4_1_entry;
    case TensorType::Q5_1: return tile_q5_1_entry;
    case TensorType::IQ4_XS: return tile_iq4_xs_entry;
    default: return nullptr;
  }
}

void rows_q4_K_entry(const std::byte* w, uint64_t wb, int nr, const std::byte* x, int64_t n, float* out) {
  static_assert(kMaxTileRows == 4);
  switch (nr) {
    case 1: rows_q4_K<1>(w, wb, x, n, out); break;
    case 2: rows_q4_K<2>(w, wb, x, n, out); break;
    case 3: rows_q4_K<3>(w, wb, x, n, out); break;
    default: rows_q4_K<4>(w, wb, x, n, out); break;
  }
}

inline QuantRowTile x86_quant_row_tile(TensorType weight_type) {
  return weight_type == TensorType::Q4_K ? rows_q4_K_entry : nullptr;
}

}  // namespace
}  // namespace hearth::kernels::cpu
