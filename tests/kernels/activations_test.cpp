// Activation rounding: the formats llama.cpp multiplies activations in, with its scale and tie rules.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "kernels/cpu/activations.h"
#include "kernels/random_data.h"
#include "tensor/quant.h"

namespace hearth::kernels::cpu {
namespace {

using test::random_floats;

TEST(ActivationFormat, FollowsTheWeightTypesPartner) {
  EXPECT_EQ(activation_format(TensorType::F32), TensorType::F32);
  EXPECT_EQ(activation_format(TensorType::F16), TensorType::F16);
  EXPECT_EQ(activation_format(TensorType::BF16), TensorType::BF16);
  for (TensorType t : {TensorType::Q4_0, TensorType::Q5_0, TensorType::Q8_0, TensorType::IQ4_NL}) {
    EXPECT_EQ(activation_format(t), TensorType::Q8_0) << type_name(t);
  }
  for (TensorType t : {TensorType::Q4_1, TensorType::Q5_1}) EXPECT_EQ(activation_format(t), TensorType::Q8_1);
  for (TensorType t : {TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K,
                       TensorType::IQ4_XS}) {
    EXPECT_EQ(activation_format(t), TensorType::Q8_K) << type_name(t);
  }
  EXPECT_EQ(activation_block(TensorType::Q8_0), 32);
  EXPECT_EQ(activation_block(TensorType::Q8_K), 256);
  EXPECT_EQ(activation_block(TensorType::F16), 1);
}

TEST(RoundActivations, Q8_0ScalesByTheLargestMagnitudeAndRoundsTiesToEven) {
  // amax = 127: the step is exactly 1, so the values show the rounding rule directly.
  std::vector<float> x(32, 0.0f);
  x[0] = -127.0f;
  x[1] = 2.5f;
  x[2] = 3.5f;
  x[3] = -2.5f;
  x[4] = 0.49f;
  x[5] = 126.6f;
  std::vector<float> out(32, NAN);
  round_activations(TensorType::Q8_0, x.data(), out.data(), 32);
  EXPECT_EQ(out[0], -127.0f);
  EXPECT_EQ(out[1], 2.0f);
  EXPECT_EQ(out[2], 4.0f);
  EXPECT_EQ(out[3], -2.0f);
  EXPECT_EQ(out[4], 0.0f);
  EXPECT_EQ(out[5], 127.0f);
  EXPECT_EQ(out[31], 0.0f);
}

TEST(RoundActivations, Q8_0StepIsTheFp16RoundedScale) {
  // amax = 1: the step 1/127 is stored as fp16, so values are multiples of fp16(1/127), not of 1/127.
  std::vector<float> x(32, 0.5f), out(32);
  x[7] = 1.0f;
  round_activations(TensorType::Q8_0, x.data(), out.data(), 32);
  const float step = tensor::fp16_to_fp32(tensor::fp32_to_fp16(1.0f / 127.0f));
  ASSERT_NE(step, 1.0f / 127.0f);
  EXPECT_EQ(out[7], 127.0f * step);
  EXPECT_EQ(out[0], 64.0f * step);  // 0.5 * 127 = 63.5 rounds to the even 64
}

TEST(RoundActivations, Q8_KMapsTheSignedMaximumToMinus127) {
  for (const float sign : {1.0f, -1.0f}) {
    std::vector<float> x(256, 0.0f), out(256);
    x[3] = 2.0f * sign;  // the maximum: iscale = -127 / max
    x[4] = 1.0f;         // 63.5 in steps: a tie, rounded to even (64 or -64)
    x[5] = -2.0f * sign * 0.999f;
    round_activations(TensorType::Q8_K, x.data(), out.data(), 256);
    const float d = 1.0f / (-127.0f / (2.0f * sign));
    EXPECT_EQ(out[3], d * -127.0f);
    EXPECT_FLOAT_EQ(out[3], x[3]);
    EXPECT_EQ(out[4], d * std::nearbyint(-127.0f / (2.0f * sign)));
    EXPECT_EQ(std::fabs(out[4]), 64.0f / 63.5f);
    EXPECT_EQ(out[5], d * 127.0f);  // 126.87 steps round to 127: the opposite of the maximum
  }
}

TEST(RoundActivations, BlockFormatsStayWithinHalfAStepOnRandomRows) {
  for (const TensorType format : {TensorType::Q8_0, TensorType::Q8_1, TensorType::Q8_K}) {
    const int64_t block = activation_block(format);
    const int64_t n = 8 * 256;
    auto x = random_floats(n, 21, 3.0f);
    for (int64_t i = 0; i < n; ++i) x[i] *= static_cast<float>(1 + (i / block) % 5);  // blocks of varied scale
    std::vector<float> out(n);
    round_activations(format, x.data(), out.data(), n);
    for (int64_t b = 0; b < n; b += block) {
      float amax = 0;
      for (int64_t i = b; i < b + block; ++i) amax = std::max(amax, std::fabs(x[i]));
      const float step = amax / 127.0f;
      // Q8_0/Q8_1 store the step as fp16: values are off by up to 127 times its rounding error besides.
      const float stored = format == TensorType::Q8_K ? step : tensor::fp16_to_fp32(tensor::fp32_to_fp16(step));
      const float bound = (0.5f * stored + 127.0f * std::fabs(stored - step)) * 1.0001f;
      int distinct_nonzero = 0;
      for (int64_t i = b; i < b + block; ++i) {
        EXPECT_LE(std::fabs(out[i] - x[i]), bound) << type_name(format) << " element " << i;
        if (out[i] != 0.0f) ++distinct_nonzero;
      }
      EXPECT_GT(distinct_nonzero, block / 2);
    }
    // The rounding is idempotent: rounded values are representable.
    std::vector<float> twice(n);
    round_activations(format, out.data(), twice.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(twice[i], out[i], 1e-6f * std::fabs(out[i])) << type_name(format);
  }
}

TEST(RoundActivations, HalfFormatsConvertLikeTheTensorLayer) {
  const auto x = random_floats(999, 22, 10.0f);
  std::vector<float> f16(999), bf16(999);
  round_activations(TensorType::F16, x.data(), f16.data(), 999);
  round_activations(TensorType::BF16, x.data(), bf16.data(), 999);
  int changed = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(f16[i], tensor::fp16_to_fp32(tensor::fp32_to_fp16(x[i])));
    EXPECT_EQ(bf16[i], tensor::bf16_to_fp32(tensor::fp32_to_bf16(x[i])));
    changed += f16[i] != x[i];
  }
  EXPECT_GT(changed, 900);
}

TEST(RoundActivations, ZerosNaNAndBadLengths) {
  std::vector<float> x(256, 0.0f), out(256, NAN);
  round_activations(TensorType::Q8_K, x.data(), out.data(), 256);
  for (float v : out) EXPECT_EQ(v, 0.0f);
  x[9] = NAN;
  x[10] = 127.0f;  // the block maximum, with a step of exactly 1
  for (const TensorType format : {TensorType::Q8_0, TensorType::Q8_K, TensorType::F16}) {
    round_activations(format, x.data(), out.data(), 256);
    EXPECT_TRUE(std::isnan(out[9])) << type_name(format);
    EXPECT_EQ(out[10], 127.0f) << type_name(format);
  }
  EXPECT_THROW(round_activations(TensorType::Q8_0, x.data(), out.data(), 48), std::invalid_argument);
  EXPECT_THROW(round_activations(TensorType::Q4_K, x.data(), out.data(), 256), std::invalid_argument);
}

TEST(RoundActivations, InPlaceEqualsOutOfPlace) {
  const auto x = random_floats(512, 23);
  for (const TensorType format : {TensorType::F16, TensorType::Q8_0, TensorType::Q8_K}) {
    std::vector<float> out(512), in_place = x;
    round_activations(format, x.data(), out.data(), 512);
    round_activations(format, in_place.data(), in_place.data(), 512);
    EXPECT_EQ(out, in_place) << type_name(format);
  }
}

}  // namespace
}  // namespace hearth::kernels::cpu
