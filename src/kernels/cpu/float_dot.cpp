#include "kernels/cpu/float_dot.h"

#include <cmath>
#include <limits>

#include "kernels/cpu/lanes.h"
#include "kernels/cpu/vec.h"

namespace hearth::kernels::cpu {
namespace {

// vec_dot's main loop covers whole steps of 64 elements.
constexpr int64_t kVecStep = 4 * kWideLanes;

float flush_subnormal(float value) {
  return std::abs(value) < std::numeric_limits<float>::min() ? std::copysign(0.0f, value) : value;
}

// Lane l of one dot instruction over the 32 elements at w and x: the pair 2l, 2l + 1.
void bf16_step(float (&lane)[kWideLanes], const float* w, const float* x) {
  for (int l = 0; l < kWideLanes; ++l) {
    lane[l] = bf16_pair_dot(lane[l], w[2 * l], x[2 * l], w[2 * l + 1], x[2 * l + 1]);
  }
}

// The four accumulators of vec_dot's main loop, folded (0 + 2, 1 + 3, then 0 + 1) and summed.
HEARTH_FMA_CLONES
float vec_main_loop(const float* w, const float* x, int64_t n_main) {
  float acc[4][kWideLanes] = {};
  for (int64_t i = 0; i < n_main; i += kVecStep) {
    for (int j = 0; j < 4; ++j) {
      for (int l = 0; l < kWideLanes; ++l) {
        const int64_t k = i + j * kWideLanes + l;
        acc[j][l] = std::fma(w[k], x[k], acc[j][l]);
      }
    }
  }
  float folded[kWideLanes];
  for (int l = 0; l < kWideLanes; ++l) folded[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
  return sum_wide_lanes(folded);
}

HEARTH_FMA_CLONES
float vec_dot_f32(const float* w, const float* x, int64_t n) {
  const int64_t n_main = n / kVecStep * kVecStep;
  float sum = vec_main_loop(w, x, n_main);
  // GCC fuses llama.cpp's `sumf += x[i]*y[i]`.
  for (int64_t i = n_main; i < n; ++i) sum = std::fma(w[i], x[i], sum);
  return sum;
}

HEARTH_FMA_CLONES
float vec_dot_f16(const float* w, const float* x, int64_t n) {
  const int64_t n_main = n / kVecStep * kVecStep;
  double sum = vec_main_loop(w, x, n_main);
  for (int64_t i = n_main; i < n; ++i) sum += static_cast<double>(w[i] * x[i]);
  return static_cast<float>(sum);
}

HEARTH_FMA_CLONES
float vec_dot_bf16(const float* w, const float* x, int64_t n) {
  float first[kWideLanes] = {}, second[kWideLanes] = {};
  int64_t i = 0;
  for (; i + kVecStep <= n; i += kVecStep) {
    bf16_step(first, w + i, x + i);
    bf16_step(second, w + i + 2 * kWideLanes, x + i + 2 * kWideLanes);
  }
  double sum = 0.0;
  sum += sum_wide_lanes(first);
  sum += sum_wide_lanes(second);
  for (; i < n; ++i) sum += static_cast<double>(w[i] * x[i]);
  return static_cast<float>(sum);
}

}  // namespace

float bf16_pair_dot(float acc, float a0, float b0, float a1, float b1) {
  acc = flush_subnormal(acc);
  acc = flush_subnormal(std::fma(flush_subnormal(a1), flush_subnormal(b1), acc));
  return flush_subnormal(std::fma(flush_subnormal(a0), flush_subnormal(b0), acc));
}

float float_dot_vec(TensorType weight_type, const float* w, const float* x, int64_t n) {
  switch (weight_type) {
    case TensorType::F16:
      return vec_dot_f16(w, x, n);
    case TensorType::BF16:
      return vec_dot_bf16(w, x, n);
    default:
      return vec_dot_f32(w, x, n);
  }
}

}  // namespace hearth::kernels::cpu
