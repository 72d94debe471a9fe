// Integer dot products of quant_dot_kquants.cpp against a plain double-precision reference on random blocks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <vector>

#include "kernels/cpu/activations.h"
#include "kernels/cpu/quant_dot.h"
#include "kernels/random_data.h"
#include "tensor/quant.h"

namespace hearth::kernels::cpu {
namespace {

using test::random_floats;

constexpr TensorType kTypes[] = {TensorType::Q3_K, TensorType::Q5_K, TensorType::Q6_K};

// A weight row and a Q8_K activation row as the kernels see them, and the exact dot of their dequantized values.
struct Operands {
  std::vector<std::byte> weight, activation;
  double exact = 0, magnitude = 0;  // sum of products, and sum of their absolute values
};

Operands make_operands(TensorType weight_type, int64_t n, uint32_t seed) {
  Operands o;
  const auto w = random_floats(static_cast<size_t>(n), seed, 2.0f);
  const auto x = random_floats(static_cast<size_t>(n), seed + 1, 3.0f);
  o.weight.resize(*row_bytes(weight_type, n));
  tensor::quantize_row(weight_type, w.data(), o.weight.data(), n);
  o.activation.resize(activation_row_bytes(TensorType::Q8_K, n));
  quantize_activations(TensorType::Q8_K, x.data(), o.activation.data(), n);
  std::vector<float> wd(static_cast<size_t>(n)), xd(static_cast<size_t>(n));
  tensor::dequantize_row(weight_type, o.weight.data(), wd.data(), n);
  tensor::dequantize_row(TensorType::Q8_K, o.activation.data(), xd.data(), n);
  for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
    const double p = static_cast<double>(wd[i]) * xd[i];
    o.exact += p;
    o.magnitude += std::fabs(p);
  }
  return o;
}

TEST(KQuantDot, MatchesTheExactDotWithinFloatRounding) {
  for (TensorType type : kTypes) {
    const QuantDot dot = kquant_dot_kernel(type);
    ASSERT_NE(dot, nullptr) << type_name(type);
    for (int64_t n : {int64_t{256}, int64_t{1024}, int64_t{4096}}) {
      for (uint32_t seed = 1; seed <= 20; ++seed) {
        const Operands o = make_operands(type, n, 100 * seed);
        const float got = dot(o.weight.data(), o.activation.data(), n);
        // The integer lane sums are exact; only one f32 rounding per block and lane, the fold, and (Q5_K) the
        // separately summed min terms, which may be a few times the products they cancel down to: 1e-5 is still
        // thousands of times below the quantization error, and far above f32 rounding.
        EXPECT_NEAR(got, o.exact, 1e-5 * o.magnitude) << type_name(type) << " n=" << n << " seed=" << seed;
        EXPECT_NE(o.exact, 0.0);
      }
    }
  }
}

TEST(KQuantDot, CoversOnlyItsFamily) {
  for (TensorType type : {TensorType::Q4_K, TensorType::Q2_K, TensorType::Q8_0, TensorType::F32}) {
    EXPECT_EQ(kquant_dot_kernel(type), nullptr) << type_name(type);
  }
}

}  // namespace
}  // namespace hearth::kernels::cpu
