// Building blocks of the CPU kernels: an f32 dot product shaped so compilers vectorize it without -ffast-math.
#pragma once

#include <cstdint>

// Hot loops get an AVX2 clone picked at load time (ifunc), keeping the baseline build portable.
#if defined(__x86_64__) && !defined(__clang_analyzer__)
#define HEARTH_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define HEARTH_VECTOR_CLONES
#endif

namespace hearth::kernels::cpu {

// Sixteen independent partial sums: each lane is its own sequence of additions, so the compiler may map the
// lanes onto SIMD registers without reassociating anything, and the result does not depend on the vector width.
inline constexpr int kDotLanes = 16;

inline float dot_f32(const float* a, const float* b, int64_t n) {
  float acc[kDotLanes] = {};
  int64_t i = 0;
  for (; i + kDotLanes <= n; i += kDotLanes) {
    for (int lane = 0; lane < kDotLanes; ++lane) acc[lane] += a[i + lane] * b[i + lane];
  }
  for (int width = kDotLanes / 2; width > 0; width /= 2) {
    for (int lane = 0; lane < width; ++lane) acc[lane] += acc[lane + width];
  }
  float sum = acc[0];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// y[i] += a * x[i]
inline void axpy_f32(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

}  // namespace hearth::kernels::cpu
