// The vector attention of attention.h, written once for x86 and compiled once per instruction set (x86_avx2.cpp,
// x86_avx512.cpp); internal linkage, like quant_tiles_x86.h.
//
// One query head against its visible keys, in three passes over f32 rows: scores (one 8-lane fused dot per key),
// a softmax with an 8-lane form of poly_exp, then the weighted sum of values, each value row scaled into eight
// accumulators per 64 dimensions. Every query takes the same operations whatever else is in its batch. Summation
// orders differ from the scalar reference's (which follow llama.cpp's), so tests bound the difference.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/cpu/activations.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/poly_exp.h"
#include "kernels/cpu/simd_x86.h"

namespace hearth::kernels::cpu {
namespace {

// poly_exp in eight lanes: the same range reduction and polynomial, so the same bits wherever the result is at
// least 2^-126; below that it is zero (poly_exp gives a subnormal there, which the f16 rounding of softmax weights
// takes to zero anyway).
inline __m256 exp_lanes(__m256 x) {
  const __m256 shift = _mm256_set1_ps(0x1.8p23f);
  const __m256 n = _mm256_sub_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift), shift);
  const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                    _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 high = _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)),
                                      u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f)));
  const __m256 j = _mm256_fmadd_ps(high, u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f)));
  const __m256 clamped = _mm256_min_ps(_mm256_max_ps(n, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(128.0f));
  const __m256i biased = _mm256_add_epi32(_mm256_cvtps_epi32(clamped), _mm256_set1_epi32(127));
  const __m256 scaled = _mm256_mul_ps(j, _mm256_castsi256_ps(_mm256_slli_epi32(biased, 23)));
  const __m256 zero = _mm256_setzero_ps();
  const __m256 inf = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  const __m256 low = _mm256_blendv_ps(scaled, zero, _mm256_cmp_ps(n, _mm256_set1_ps(-126.0f), _CMP_LT_OQ));
  return _mm256_blendv_ps(low, inf, _mm256_cmp_ps(n, _mm256_set1_ps(127.0f), _CMP_GT_OQ));
}

// swiglu with the chunks of kPolyExpLanes in eight lanes; the same operations as the reference, so its bits (for
// e^-g below 2^-126, 1 + e^-g is 1 either way), and libm's expf on the rest of the row as there.
void swiglu_x86(const float* gate, const float* up, float* out, int64_t n) {
  const int64_t vectorized = n / kPolyExpLanes * kPolyExpLanes;
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t i = 0; i < vectorized; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = exp_lanes(_mm256_sub_ps(_mm256_setzero_ps(), g));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
  }
  for (int64_t i = vectorized; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

inline float dot_f32(const float* a, const float* b, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  return fold_lanes(acc);
}

inline float max_f32(const float* x, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

// weights[j] = exp(weights[j] - max); returns their sum (eight lanes, folded).
inline float exp_in_place(float* weights, int64_t n, float max) {
  const __m256 m = _mm256_set1_ps(max);
  __m256 sum = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = exp_lanes(_mm256_sub_ps(_mm256_loadu_ps(weights + j), m));
    _mm256_storeu_ps(weights + j, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (j < n) {
    alignas(32) float tail[8] = {};
    const int rest = static_cast<int>(n - j);
    for (int i = 0; i < rest; ++i) tail[i] = weights[j + i] - max;
    __m256 e = exp_lanes(_mm256_load_ps(tail));
    // Lanes past the end must add nothing.
    const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    e = _mm256_and_ps(e, _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(rest), index)));
    _mm256_store_ps(tail, e);
    for (int i = 0; i < rest; ++i) weights[j + i] = tail[i];
    sum = _mm256_add_ps(sum, e);
  }
  return fold_lanes(sum);
}

// out[0 .. width) = sum_j weights[j] * v[j * stride ...], 64 dimensions (eight registers) at a time.
inline void weighted_sum(const float* weights, const float* v, int64_t stride, int64_t n, int64_t width, float* out) {
  for (int64_t d0 = 0; d0 < width; d0 += 64) {
    const int chunks = static_cast<int>(std::min<int64_t>(64, width - d0) / 8);
    __m256 acc[8];
    for (int c = 0; c < 8; ++c) acc[c] = _mm256_setzero_ps();
    for (int64_t j = 0; j < n; ++j) {
      const __m256 w = _mm256_set1_ps(weights[j]);
      const float* row = v + j * stride + d0;
      for (int c = 0; c < chunks; ++c) acc[c] = _mm256_fmadd_ps(w, _mm256_loadu_ps(row + 8 * c), acc[c]);
    }
    for (int c = 0; c < chunks; ++c) _mm256_storeu_ps(out + d0 + 8 * c, acc[c]);
  }
}

void attention_head_x86(const AttentionShape& shape, TensorType cache_type, const float* q_row, const float* keys,
                        const float* values, int64_t n_visible, int64_t head, float* out_row, float* scratch) {
  const int64_t kv_head = head / (shape.n_head / shape.n_head_kv);
  const int64_t key_stride = shape.n_head_kv * shape.head_dim;
  const int64_t value_stride = shape.n_head_kv * shape.head_dim_v;
  float* out = out_row + head * shape.head_dim_v;
  if (n_visible == 0) {
    std::fill(out, out + shape.head_dim_v, 0.0f);
    return;
  }
  const TensorType operands = activation_format(cache_type);
  float* weights = scratch;
  float* q = scratch + n_visible;
  round_activations(operands, q_row + head * shape.head_dim, q, shape.head_dim);
  const float* k = keys + kv_head * shape.head_dim;
  for (int64_t j = 0; j < n_visible; ++j) weights[j] = dot_f32(k + j * key_stride, q, shape.head_dim) * shape.scale;
  const float sum = exp_in_place(weights, n_visible, max_f32(weights, n_visible));
  const float inv_sum = 1.0f / sum;
  for (int64_t j = 0; j < n_visible; ++j) weights[j] *= inv_sum;
  round_activations(operands, weights, weights, n_visible);
  weighted_sum(weights, values + kv_head * shape.head_dim_v, value_stride, n_visible, shape.head_dim_v, out);
}

inline AttentionHead x86_attention_head(const AttentionShape& shape) {
  return shape.head_dim % 8 == 0 && shape.head_dim_v % 8 == 0 ? attention_head_x86 : nullptr;
}

}  // namespace
}  // namespace hearth::kernels::cpu
