// Integer dot products of quant_dot_other.cpp against a plain double-precision reference on random blocks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <vector>

#include "kernels/cpu/activations.h"
#include "kernels/cpu/quant_dot.h"
#include "kernels/random_data.h"
#include "tensor/blocks.h"
#include "tensor/quant.h"

namespace hearth::kernels::cpu {
namespace {

using test::random_floats;

const TensorType kTypes[] = {TensorType::IQ4_XS, TensorType::Q5_0, TensorType::Q4_1, TensorType::Q5_1};

// A weight row and an activation row as the kernels see them, the exact dot of their dequantized values, and the
// error a correct kernel may show.
struct Operands {
  std::vector<std::byte> weight, activation;
  double exact = 0;
  double tolerance = 0;
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
  double magnitude = 0;
  for (size_t i = 0; i < wd.size(); ++i) {
    const double p = static_cast<double>(wd[i]) * xd[i];
    o.exact += p;
    magnitude += std::fabs(p);
  }
  // Float rounding of the per-block scales, lanes and fold: far below n ulps of the magnitude.
  o.tolerance = 1e-6 * magnitude;
  if (format == TensorType::Q8_1) {
    // The offset term uses Q8_1's s = d * sum(q) as stored, rounded to fp16: up to 2^-11 of each |m * s|.
    const auto* x_blocks = reinterpret_cast<const tensor::BlockQ8_1*>(o.activation.data());
    for (int64_t b = 0; b < n / tensor::kQK; ++b) {
      const uint16_t m = weight_type == TensorType::Q4_1
                             ? reinterpret_cast<const tensor::BlockQ4_1*>(o.weight.data())[b].m
                             : reinterpret_cast<const tensor::BlockQ5_1*>(o.weight.data())[b].m;
      o.tolerance += std::ldexp(std::fabs(tensor::fp16_to_fp32(m) * tensor::fp16_to_fp32(x_blocks[b].s)), -11);
    }
  }
  return o;
}

TEST(QuantDotOther, KernelsMatchTheExactDotWithinFloatRounding) {
  for (TensorType type : kTypes) {
    const QuantDot dot = quant_dot_kernel(type);
    ASSERT_NE(dot, nullptr) << type_name(type);
    uint32_t seed = 51;
    for (int64_t n : {int64_t{256}, int64_t{1024}, int64_t{4096}}) {
      for (int row = 0; row < 8; ++row, seed += 2) {
        const Operands o = make_operands(type, n, seed);
        ASSERT_NE(o.exact, 0.0);
        EXPECT_NEAR(dot(o.weight.data(), o.activation.data(), n), o.exact, o.tolerance)
            << type_name(type) << " n=" << n << " row " << row;
      }
    }
  }
}

}  // namespace
}  // namespace hearth::kernels::cpu
