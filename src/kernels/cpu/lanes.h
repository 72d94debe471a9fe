// The horizontal sum of a sixteen-lane AVX-512 register as llama.cpp's CPU backend computes it (GCC's
// _mm512_reduce_add_ps): the halves added lane by lane, 8 + 8, then 4 + 4, 2 + 2 and 1 + 1.
#pragma once

namespace hearth::kernels::cpu {

inline constexpr int kWideLanes = 16;

inline float sum_wide_lanes(const float (&lane)[kWideLanes]) {
  float half[8], quarter[4];
  for (int i = 0; i < 8; ++i) half[i] = lane[i] + lane[i + 8];
  for (int i = 0; i < 4; ++i) quarter[i] = half[i] + half[i + 4];
  return (quarter[0] + quarter[2]) + (quarter[1] + quarter[3]);
}

}  // namespace hearth::kernels::cpu
