// The Q8_0 integer dot product and the activation blocks it reads, against a plain double-precision reference.
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

// The weight row and the activation row as the kernels see them, and the exact dot of their dequantized values.
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
  for (int64_t i = 0; i < n; ++i) {
    const double p = static_cast<double>(wd[static_cast<size_t>(i)]) * xd[static_cast<size_t>(i)];
    o.exact += p;
    o.magnitude += std::fabs(p);
  }
  return o;
}

TEST(QuantDot, Q8_0MatchesTheExactDotWithinFloatRounding) {
  for (int64_t n : {int64_t{32}, int64_t{256}, int64_t{4096}}) {
    const Operands o = make_operands(TensorType::Q8_0, n, 41);
    const float got = dot_q8_0_q8_0(o.weight.data(), o.activation.data(), n);
    // One rounding per block and lane plus the final fold: far below n ulps of the magnitude.
    EXPECT_NEAR(got, o.exact, 1e-6 * o.magnitude) << n;
    EXPECT_NE(o.exact, 0.0);
  }
}

TEST(QuantDot, ActivationBlocksHoldTheRoundedValues) {
  // The blocks must dequantize to exactly what round_activations gives, for each activation format.
  const int64_t n = 512;
  const auto x = random_floats(static_cast<size_t>(n), 43, 5.0f);
  for (TensorType format : {TensorType::Q8_0, TensorType::Q8_1, TensorType::Q8_K}) {
    std::vector<std::byte> blocks(activation_row_bytes(format, n));
    quantize_activations(format, x.data(), blocks.data(), n);
    std::vector<float> from_blocks(static_cast<size_t>(n)), rounded(static_cast<size_t>(n));
    tensor::dequantize_row(format, blocks.data(), from_blocks.data(), n);
    round_activations(format, x.data(), rounded.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(from_blocks[static_cast<size_t>(i)], rounded[static_cast<size_t>(i)]) << type_name(format) << " " << i;
  }
}

TEST(QuantDot, Q8_KBlockSumsAreGroupSums) {
  const int64_t n = 256;
  const auto x = random_floats(static_cast<size_t>(n), 44, 1.0f);
  std::vector<std::byte> blocks(activation_row_bytes(TensorType::Q8_K, n));
  quantize_activations(TensorType::Q8_K, x.data(), blocks.data(), n);
  const auto* q = reinterpret_cast<const int8_t*>(blocks.data() + sizeof(float));
  const auto* bsums = reinterpret_cast<const int16_t*>(blocks.data() + sizeof(float) + n);
  for (int g = 0; g < 16; ++g) {
    int sum = 0;
    for (int i = 0; i < 16; ++i) sum += q[16 * g + i];
    EXPECT_EQ(bsums[g], sum) << g;
  }
}

TEST(QuantDot, KernelsCoverQ8_0) {
  EXPECT_EQ(quant_dot_kernel(TensorType::Q8_0), &dot_q8_0_q8_0);
  EXPECT_EQ(quant_dot_kernel(TensorType::F16), nullptr);
  EXPECT_EQ(quant_dot_kernel(TensorType::F32), nullptr);
}

}  // namespace
}  // namespace hearth::kernels::cpu
