// The float-weight dot products (F32, F16, BF16): the scalar reference in llama.cpp's vec_dot order and the vector
// tiles of each instruction set this CPU runs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include "kernels/cpu/activations.h"
#include "kernels/cpu/float_dot.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quant_tiles.h"
#include "kernels/random_data.h"
#include "tensor/quant.h"

namespace hearth::kernels::cpu {
namespace {

using test::random_floats;

// Random values exactly representable in the weight type (what a widened weight row and rounded activations are).
std::vector<float> representable(TensorType type, size_t n, uint32_t seed) {
  std::vector<float> values = random_floats(n, seed);
  round_activations(type, values.data(), values.data(), static_cast<int64_t>(n));
  return values;
}

TEST(FloatDot, EveryKernelIsCloseToTheExactSum) {
  for (const TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
    for (const int64_t n : {32, 64, 96, 128, 200, 4096}) {
      const auto w = representable(type, n, 1 + n);
      const auto x = representable(type, n, 2 + n);
      double exact = 0, magnitude = 0;
      for (int64_t i = 0; i < n; ++i) {
        exact += double{w[i]} * x[i];
        magnitude += std::fabs(double{w[i]} * x[i]);
      }
      const double bound = 1e-6 * magnitude;
      EXPECT_NEAR(float_dot_vec(type, w.data(), x.data(), n), exact, bound) << type_name(type) << " n " << n;
      std::vector<std::byte> stored(*row_bytes(type, n));
      tensor::quantize_row(type, w.data(), stored.data(), n);
      for (Isa isa : {Isa::avx512, Isa::avx2}) {
        if (!isa_supported(isa)) continue;
        float got = NAN;
        float_tile(type, isa)(stored.data(), x.data(), n, 1, n, &got);
        EXPECT_NEAR(got, exact, bound) << type_name(type) << " " << isa_name(isa) << " n " << n;
      }
    }
  }
}

TEST(FloatDot, MatmulGivesEveryTokenTheBitsItGetsAlone) {
  const int64_t rows = 8, cols = 128;
  for (const TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
    const auto values = random_floats(rows * cols, 5);
    std::vector<std::byte> bytes(*row_bytes(type, cols) * rows);
    std::vector<float> widened(rows * cols);
    for (int64_t r = 0; r < rows; ++r) {
      tensor::quantize_row(type, values.data() + r * cols, bytes.data() + r * *row_bytes(type, cols), cols);
      tensor::dequantize_row(type, bytes.data() + r * *row_bytes(type, cols), widened.data() + r * cols, cols);
    }
    const QuantMatrix w{type, bytes.data(), *row_bytes(type, cols), rows, cols};
    std::vector<FloatTile> kernels{nullptr};  // the scalar reference path first
    for (Isa isa : {Isa::avx512, Isa::avx2}) {
      if (isa_supported(isa)) kernels.push_back(float_tile(type, isa));
    }
    for (FloatTile kernel : kernels) {
      std::vector<float> scratch(matmul_tile_floats(cols)), batch(5 * rows), single(rows);
      const auto x = representable(type, 5 * cols, 6);
      matmul_rows(w, kernel, x.data(), 5, batch.data(), rows, 0, rows, scratch.data());
      for (int64_t t = 0; t < 5; ++t) {
        matmul_rows(w, kernel, x.data() + t * cols, 1, single.data(), rows, 0, rows, scratch.data());
        for (int64_t r = 0; r < rows; ++r) {
          EXPECT_EQ(batch[t * rows + r], single[r]) << type_name(type) << " token " << t << " row " << r;
          if (kernel == nullptr) {
            EXPECT_EQ(single[r], float_dot_vec(type, widened.data() + r * cols, x.data() + t * cols, cols));
          }
        }
      }
    }
  }
}

// 1 + 2^-24 + 2^-24: each sum of the instruction is rounded on its own, so both halves of an ulp tie to even and
// vanish; one rounding of the whole sum would keep them.
TEST(FloatDot, Bf16PairDotRoundsEachSum) {
  const float half_ulp = std::ldexp(1.0f, -24);
  EXPECT_EQ(bf16_pair_dot(1.0f, half_ulp, 1.0f, half_ulp, 1.0f), 1.0f);
  // Subnormal inputs read as zero, subnormal results are flushed.
  const float subnormal = std::numeric_limits<float>::denorm_min() * 8;
  EXPECT_EQ(bf16_pair_dot(0.0f, subnormal, 1.0f, 1.0f, 1.0f), 1.0f + 0.0f);
  EXPECT_EQ(bf16_pair_dot(subnormal, 0.0f, 0.0f, 0.0f, 0.0f), 0.0f);
  EXPECT_EQ(bf16_pair_dot(0.0f, std::ldexp(1.0f, -70), std::ldexp(1.0f, -70), 0.0f, 0.0f), 0.0f);
}

#if defined(__x86_64__)
bool has_avx512_bf16() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 5)) != 0 &&
         __builtin_cpu_supports("avx512f");
}

__attribute__((target("avx512f,avx512bf16"))) void hardware_dot(const uint16_t* a, const uint16_t* b, float* acc) {
  __m512bh va, vb;
  std::memcpy(&va, a, 64);
  std::memcpy(&vb, b, 64);
  _mm512_storeu_ps(acc, _mm512_dpbf16_ps(_mm512_loadu_ps(acc), va, vb));
}

float widen(uint16_t bits) {
  const uint32_t word = uint32_t{bits} << 16;
  float value;
  std::memcpy(&value, &word, sizeof value);
  return value;
}

// Random bf16 values, half of them with tiny exponents so that subnormal inputs and results occur.
uint16_t random_bf16(std::mt19937& rng) {
  const uint32_t sign = rng() & 1, exponent = (rng() & 1) ? 100 + rng() % 60 : rng() % 70, mantissa = rng() & 127;
  return static_cast<uint16_t>(sign << 15 | exponent << 7 | mantissa);
}

// The model against the instruction itself, where the CPU has it (the scalar rules above run everywhere).
TEST(FloatDot, Bf16PairDotIsTheAvx512Bf16Instruction) {
  if (!has_avx512_bf16()) GTEST_SKIP() << "this CPU has no AVX512-BF16 to compare with";
  std::mt19937 rng(9);
  for (int trial = 0; trial < 20000; ++trial) {
    uint16_t a[32], b[32];
    float acc[16];
    for (int i = 0; i < 32; ++i) a[i] = random_bf16(rng), b[i] = random_bf16(rng);
    for (float& value : acc) value = widen(random_bf16(rng)) * 1.37f;
    float expected[16];
    for (int l = 0; l < 16; ++l) {
      expected[l] = bf16_pair_dot(acc[l], widen(a[2 * l]), widen(b[2 * l]), widen(a[2 * l + 1]), widen(b[2 * l + 1]));
    }
    hardware_dot(a, b, acc);
    for (int l = 0; l < 16; ++l) {
      ASSERT_EQ(std::memcmp(&acc[l], &expected[l], sizeof(float)), 0) << "trial " << trial << " lane " << l;
    }
  }
}
#endif

}  // namespace
}  // namespace hearth::kernels::cpu
