// Building blocks of the CPU kernels: f32 dot products with one fixed summation order.
//
// Every dot product in the kernels is computed the same way, whatever the blocking around it, the instruction set
// the clone was compiled for, or the batch a token came in: eight partial sums (lane l adds elements l, l+8, ...),
// folded as ((s0+s4)+(s2+s6)) + ((s1+s5)+(s3+s7)), then the elements past the last multiple of eight added in order.
// That is what makes a token's logits independent of how it was batched.
#pragma once

#include <cstdint>
#include <cstring>

// Hot loops get an AVX2 clone picked at load time (ifunc), keeping the baseline build portable.
#if defined(__x86_64__)
#define HEARTH_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define HEARTH_VECTOR_CLONES
#endif

// GCC notes that passing 32-byte vectors changes ABI between targets; these helpers are always inlined.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace hearth::kernels::cpu {

// Eight floats as one value (GCC/Clang vector extension): an AVX register in the AVX2 clone, two SSE registers
// otherwise. Element-wise arithmetic on it is exactly the scalar arithmetic of each lane.
typedef float f32x8 __attribute__((vector_size(32)));

inline f32x8 load8(const float* p) {
  f32x8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline float fold8(f32x8 s) { return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7])); }

// out[r] = dot(rows + r * stride, x) for r < R. R rows share each load of x.
template <int R>
inline void dot_rows(const float* rows, int64_t stride, const float* x, int64_t n, float* out) {
  f32x8 acc[R] = {};
  const int64_t n8 = n / 8 * 8;
  for (int64_t i = 0; i < n8; i += 8) {
    const f32x8 xv = load8(x + i);
    for (int r = 0; r < R; ++r) acc[r] += load8(rows + r * stride + i) * xv;
  }
  for (int r = 0; r < R; ++r) {
    float sum = fold8(acc[r]);
    for (int64_t i = n8; i < n; ++i) sum += rows[r * stride + i] * x[i];
    out[r] = sum;
  }
}

// out[j] = dot(rows + j * stride, x) for j < n_rows, four rows at a time.
inline void dot_many(const float* rows, int64_t stride, int64_t n_rows, const float* x, int64_t n, float* out) {
  int64_t j = 0;
  for (; j + 4 <= n_rows; j += 4) dot_rows<4>(rows + j * stride, stride, x, n, out + j);
  for (; j < n_rows; ++j) dot_rows<1>(rows + j * stride, stride, x, n, out + j);
}

// y[i] += a * x[i]
inline void axpy_f32(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

}  // namespace hearth::kernels::cpu

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
