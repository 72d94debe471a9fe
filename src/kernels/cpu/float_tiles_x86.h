// Vector products of float weights (F32, F16, BF16) by f32 activations, up to kMaxTileTokens tokens per weight row,
// compiled once per instruction set like quant_tiles_x86.h (internal linkage).
//
// The activations arrive already rounded through the weight's partner format (activations.h: f16 values for F16
// weights, bf16 for BF16), so every product is exact in f32 and only the order of the sums rounds. That order is
// this kernel's own: two 8-lane accumulators per token over steps of 16 elements, folded, then any tail added in
// index order; every token takes it alone or in a tile. Tests bound it against an exact sum.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/cpu/quant_tiles.h"
#include "kernels/cpu/simd_x86.h"
#include "tensor/quant.h"

namespace hearth::kernels::cpu {
namespace {

struct F32Weights {
  static __m256 load8(const std::byte* row, int64_t i) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
  }
  static float at(const std::byte* row, int64_t i) { return reinterpret_cast<const float*>(row)[i]; }
};

struct F16Weights {
  static __m256 load8(const std::byte* row, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + i)));
  }
  static float at(const std::byte* row, int64_t i) { return half_to_float(reinterpret_cast<const uint16_t*>(row)[i]); }
};

struct BF16Weights {
  // bf16 is the top half of an f32: widening is a shift, exact.
  static __m256 load8(const std::byte* row, int64_t i) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
  }
  static float at(const std::byte* row, int64_t i) {
    return tensor::bf16_to_fp32(reinterpret_cast<const uint16_t*>(row)[i]);
  }
};

template <typename Weights, int NT>
void tile_float(const std::byte* weight_row, const float* activations, int64_t stride, int64_t n, float* out) {
  __m256 even[NT], odd[NT];
  for (int t = 0; t < NT; ++t) even[t] = odd[t] = _mm256_setzero_ps();
  const int64_t main = n / 16 * 16;
  for (int64_t i = 0; i < main; i += 16) {
    const __m256 w0 = Weights::load8(weight_row, i);
    const __m256 w1 = Weights::load8(weight_row, i + 8);
    for (int t = 0; t < NT; ++t) {
      const float* x = activations + t * stride + i;
      even[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x), even[t]);
      odd[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + 8), odd[t]);
    }
  }
  for (int t = 0; t < NT; ++t) {
    float sum = fold_lanes(_mm256_add_ps(even[t], odd[t]));
    for (int64_t i = main; i < n; ++i) sum = std::fma(Weights::at(weight_row, i), activations[t * stride + i], sum);
    out[t] = sum;
  }
}

template <typename Weights>
void float_tile_entry(const std::byte* weight_row, const float* activations, int64_t stride, int n_tokens, int64_t n,
                      float* out) {
  static_assert(kMaxTileTokens == 4);
  switch (n_tokens) {
    case 1: tile_float<Weights, 1>(weight_row, activations, stride, n, out); break;
    case 2: tile_float<Weights, 2>(weight_row, activations, stride, n, out); break;
    case 3: tile_float<Weights, 3>(weight_row, activations, stride, n, out); break;
    default: tile_float<Weights, 4>(weight_row, activations, stride, n, out); break;
  }
}

inline FloatTile x86_float_tile(TensorType weight_type) {
  switch (weight_type) {
    case TensorType::F32: return float_tile_entry<F32Weights>;
    case TensorType::F16: return float_tile_entry<F16Weights>;
    case TensorType::BF16: return float_tile_entry<BF16Weights>;
    default: return nullptr;
  }
}

}  // namespace
}  // namespace hearth::kernels::cpu
