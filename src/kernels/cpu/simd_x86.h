// Small AVX2 helpers shared by the x86 kernel headers (quant_tiles_x86.h, attention_x86.h); internal linkage, as
// each instruction-set file compiles its own copy with its own flags.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace hearth::kernels::cpu {
namespace {

inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

inline __m256i load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// The hsum_float_8 fold of the references: high half onto low half, then pairs.
inline float fold_lanes(__m256 v) {
  alignas(32) float lane[8];
  _mm256_store_ps(lane, v);
  return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

// Exact sum of eight int32 lanes (any order: integers).
inline int32_t sum_lanes(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

}  // namespace
}  // namespace hearth::kernels::cpu
