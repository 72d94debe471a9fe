#include "kernels/cpu/quant_dot.h"

#include <cmath>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include "tensor/blocks.h"
#include "tensor/quant.h"

namespace hearth::kernels::cpu {
namespace {

using tensor::fp16_to_fp32;

// The horizontal sum of an 8-lane register as llama.cpp's x86 code does it (high half onto low half, then pairs).
float fold_lanes(const float (&lane)[8]) {
  return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

}  // namespace

float dot_q8_0_q8_0(const std::byte* weight_row, const std::byte* activation_row, int64_t n) {
  const auto* w = reinterpret_cast<const tensor::BlockQ8_0*>(weight_row);
  const auto* x = reinterpret_cast<const tensor::BlockQ8_0*>(activation_row);
  float lane[8] = {};
  for (int64_t b = 0; b < n / tensor::kQK; ++b) {
    const float d = fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d);
    for (int l = 0; l < 8; ++l) {
      int32_t sum = 0;
      for (int j = 4 * l; j < 4 * l + 4; ++j) sum += w[b].qs[j] * x[b].qs[j];
      lane[l] = std::fma(d, static_cast<float>(sum), lane[l]);
    }
  }
  return fold_lanes(lane);
}

#if defined(__x86_64__)
// The same arithmetic with AVX2: |w| . sign(x, w) by maddubs, pairs of those by madd (exact: at most 2 * 128 * 127 per
// 16-bit pair), eight f32 lanes by one fused multiply-add per block.
__attribute__((target("avx2,fma,f16c"))) float dot_q8_0_q8_0_avx2(const std::byte* weight_row,
                                                                   const std::byte* activation_row, int64_t n) {
  const auto* w = reinterpret_cast<const tensor::BlockQ8_0*>(weight_row);
  const auto* x = reinterpret_cast<const tensor::BlockQ8_0*>(activation_row);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / tensor::kQK; ++b) {
    const __m256i qw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs));
    const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qx, qw));
    const __m256 sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
    const float d = _cvtsh_ss(w[b].d) * _cvtsh_ss(x[b].d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), sums, acc);
  }
  alignas(32) float lane[8];
  _mm256_store_ps(lane, acc);
  return fold_lanes(lane);
}
#endif

bool has_avx2_fma() {
#if defined(__x86_64__)
  // clang 14 has no "f16c" for __builtin_cpu_supports, so F16C comes from CPUID leaf 1 (ECX bit 29).
  static const bool supported = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
    return f16c && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return supported;
#else
  return false;
#endif
}

QuantDotKernels quant_dot_kernels(TensorType weight_type) {
  if (weight_type == TensorType::Q8_0) {
    const QuantDot dot = has_avx2_fma() ? dot_q8_0_q8_0_avx2 : dot_q8_0_q8_0;
    return {dot, dot};
  }
  if (const QuantDotKernels kernels = repacked_quant_dot_kernels(weight_type)) return kernels;
  if (const QuantDotKernels kernels = kquant_dot_kernels(weight_type)) return kernels;
  return other_quant_dot_kernels(weight_type);
}

}  // namespace hearth::kernels::cpu
