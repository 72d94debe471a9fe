// Integer dot products of quant_dot_repacked.cpp against a plain double-precision reference on random blocks.
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

constexpr TensorType kRepackedTypes[] = {TensorType::Q4_0, TensorType::IQ4_NL, TensorType::Q4_K, TensorType::Q2_K};

// A weight row and an activation row as the kernels read them, and the exact dot of their dequantized values.
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
  const TensorType format = activation_format(weight_type);
  o.activation.resize(activation_row_bytes(format, n));
  quantize_activations(format, x.data(), o.activation.data(), n);
  std::vector<float> wd(static_cast<size_t>(n)), xd(static_cast<size_t>(n));
  tensor::dequantize_row(weight_type, o.weight.data(), wd.data(), n);
  tensor::dequantize_row(format, o.activation.data(), xd.data(), n);
  for (size_t i = 0; i < wd.size(); ++i) {
    const double p = static_cast<double>(wd[i]) * xd[i];
    o.exact += p;
    o.magnitude += std::fabs(p);
  }
  return o;
}

TEST(QuantDotRepacked, KernelsMatchTheExactDotWithinFloatRounding) {
  for (TensorType type : kRepackedTypes) {
    const QuantDot dot = quant_dot_kernel(type);
    ASSERT_NE(dot, nullptr) << type_name(type);
    for (int64_t n : {int64_t{256}, int64_t{1024}, int64_t{4096}}) {
      for (uint32_t seed : {11u, 12u, 13u}) {
        const Operands o = make_operands(type, n, seed);
        ASSERT_NE(o.exact, 0.0);
        // A few float roundings per block (scales, conversion, fused add, the final min subtraction); the K types'
        // min term can be as large as the result, hence a bound on the magnitude rather than on the result.
        EXPECT_NEAR(dot(o.weight.data(), o.activation.data(), n), o.exact, 1e-5 * o.magnitude)
            << type_name(type) << " n=" << n << " seed=" << seed;
      }
    }
  }
}

TEST(QuantDotRepacked, FamilyCoversItsTypesOnly) {
  for (TensorType type : kRepackedTypes) EXPECT_NE(repacked_quant_dot_kernel(type), nullptr) << type_name(type);
  EXPECT_EQ(repacked_quant_dot_kernel(TensorType::Q6_K), nullptr);
  EXPECT_EQ(repacked_quant_dot_kernel(TensorType::Q8_0), nullptr);
}

}  // namespace
}  // namespace hearth::kernels::cpu
