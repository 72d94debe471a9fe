// Block formats on fresh data: round-trip error bounds, float conversions, edge rows, argument checks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/blocks.h"
#include "tensor/quant.h"

namespace hearth::tensor {
namespace {

// Every type quantize_row / dequantize_row handle, with the relative RMS error a normal-distributed row
// must stay under (the measured worst case is about 80% of each bound).
struct TypeBound {
  TensorType type;
  double max_relative_rmse;
};

const TypeBound kBounds[] = {
    {TensorType::F32, 0.0},       {TensorType::F16, 2.9e-4},   {TensorType::BF16, 2.1e-3},
    {TensorType::Q4_0, 0.11},     {TensorType::Q4_1, 0.102},   {TensorType::Q5_0, 0.056},
    {TensorType::Q5_1, 0.05},     {TensorType::Q8_0, 0.0068},  {TensorType::Q8_1, 0.0068},
    {TensorType::Q2_K, 0.36},     {TensorType::Q3_K, 0.2},     {TensorType::Q4_K, 0.092},
    {TensorType::Q5_K, 0.045},    {TensorType::Q6_K, 0.023},   {TensorType::Q8_K, 0.009},
    {TensorType::IQ4_NL, 0.1},    {TensorType::IQ4_XS, 0.1},
};

std::string name_of(TensorType type) { return std::string(type_name(type)); }

std::vector<float> normal_row(int64_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> row(static_cast<size_t>(n));
  for (float& v : row) v = dist(rng);
  return row;
}

std::vector<float> round_trip(TensorType type, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<std::byte> packed(*row_bytes(type, n));
  quantize_row(type, x.data(), packed.data(), n);
  std::vector<float> back(x.size());
  dequantize_row(type, packed.data(), back.data(), n);
  return back;
}

double relative_rmse(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (static_cast<double>(y[i]) - x[i]) * (static_cast<double>(y[i]) - x[i]);
    ref += static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(err / ref);
}

TEST(QuantBlocks, StructSizesMatchTheTypeTable) {
  EXPECT_EQ(sizeof(BlockQ4_0), type_traits(TensorType::Q4_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ4_1), type_traits(TensorType::Q4_1).block_bytes);
  EXPECT_EQ(sizeof(BlockQ5_0), type_traits(TensorType::Q5_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ5_1), type_traits(TensorType::Q5_1).block_bytes);
  EXPECT_EQ(sizeof(BlockQ8_0), type_traits(TensorType::Q8_0).block_bytes);
  EXPECT_EQ(sizeof(BlockQ8_1), type_traits(TensorType::Q8_1).block_bytes);
  EXPECT_EQ(sizeof(BlockQ2_K), type_traits(TensorType::Q2_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ3_K), type_traits(TensorType::Q3_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ4_K), type_traits(TensorType::Q4_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ5_K), type_traits(TensorType::Q5_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ6_K), type_traits(TensorType::Q6_K).block_bytes);
  EXPECT_EQ(sizeof(BlockQ8_K), type_traits(TensorType::Q8_K).block_bytes);
  EXPECT_EQ(sizeof(BlockIQ4_NL), type_traits(TensorType::IQ4_NL).block_bytes);
  EXPECT_EQ(sizeof(BlockIQ4_XS), type_traits(TensorType::IQ4_XS).block_bytes);
  EXPECT_EQ(type_traits(TensorType::Q4_K).block_size, kQK_K);
  EXPECT_EQ(type_traits(TensorType::IQ4_NL).block_size, kQK);
}

// The nearest value of a sorted list of representable floats, ties to the one with an even bit pattern:
// an independent (slow) definition of round-to-nearest-even.
uint16_t nearest_by_search(float f, const std::vector<std::pair<float, uint16_t>>& sorted) {
  auto it = std::lower_bound(sorted.begin(), sorted.end(), f, [](const auto& e, float v) { return e.first < v; });
  if (it == sorted.end()) return sorted.back().second;
  if (it == sorted.begin() || it->first == f) return it->second;
  const auto below = *(it - 1);
  const double up = static_cast<double>(it->first) - f, down = static_cast<double>(f) - below.first;
  if (up < down) return it->second;
  if (down < up) return below.second;
  return (it->second & 1) == 0 ? it->second : below.second;
}

TEST(FloatConversion, Fp16RoundsToNearestEven) {
  // Every finite non-negative half, plus where Inf starts (65520 rounds up to it).
  std::vector<std::pair<float, uint16_t>> halves;
  for (uint32_t h = 0; h < 0x7c00; ++h) halves.emplace_back(fp16_to_fp32(static_cast<uint16_t>(h)), static_cast<uint16_t>(h));
  halves.emplace_back(65536.0f, 0x7c00);
  for (size_t i = 1; i < halves.size(); ++i) ASSERT_LT(halves[i - 1].first, halves[i].first) << i;

  std::mt19937 rng(7);
  std::uniform_real_distribution<float> exponent(-27.0f, 17.0f);
  for (int i = 0; i < 200000; ++i) {
    const float f = std::exp2(exponent(rng));
    const uint16_t expected = f >= 65520.0f ? 0x7c00 : nearest_by_search(f, halves);
    ASSERT_EQ(fp32_to_fp16(f), expected) << f;
    ASSERT_EQ(fp32_to_fp16(-f), expected | 0x8000) << -f;
  }
  // Exact halfway cases.
  EXPECT_EQ(fp32_to_fp16(1.0f + 0x1p-11f), 0x3c00);        // tie, to even (down)
  EXPECT_EQ(fp32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3c02);    // tie, to even (up)
  EXPECT_EQ(fp32_to_fp16(0x1p-25f), 0x0000);               // half the smallest subnormal: to even zero
  EXPECT_EQ(fp32_to_fp16(0x1.8p-24f), 0x0002);             // 1.5 subnormal steps: to even 2
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(fp32_to_fp16(65519.996f), 0x7bff);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);
  EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(fp32_to_fp16(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
  const uint16_t nan = fp32_to_fp16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x3ff, 0);
}

TEST(FloatConversion, Fp16RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff) != 0) << h;
      EXPECT_TRUE(std::isnan(fp16_to_fp32(fp32_to_fp16(f))));
      continue;
    }
    ASSERT_EQ(fp32_to_fp16(f), h) << h;
  }
  EXPECT_EQ(fp16_to_fp32(0x0001), 0x1p-24f);
  EXPECT_EQ(fp16_to_fp32(0x3c00), 1.0f);
  EXPECT_EQ(fp16_to_fp32(0xc000), -2.0f);
}

TEST(FloatConversion, Bf16RoundsToNearestEven) {
  std::mt19937 rng(11);
  for (int i = 0; i < 200000; ++i) {
    uint32_t bits = rng();
    float f;
    std::memcpy(&f, &bits, sizeof f);
    if (std::isnan(f)) continue;
    // The two bf16 neighbours of f and the exact halfway decision, computed in double.
    const uint32_t down = bits & 0xffff0000u;
    const uint16_t result = fp32_to_bf16(f);
    const uint32_t rest = bits & 0xffffu;
    uint16_t expected = static_cast<uint16_t>(down >> 16);
    if (rest > 0x8000u || (rest == 0x8000u && (expected & 1))) ++expected;
    ASSERT_EQ(result, expected) << f;
  }
  EXPECT_EQ(bf16_to_fp32(fp32_to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(fp32_to_bf16(1.0f + 0x1p-8f), 0x3f80);   // tie to even (down)
  EXPECT_EQ(fp32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);  // tie to even (up)
  EXPECT_EQ(fp32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds past the largest: Inf
  const uint16_t nan = fp32_to_bf16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(std::isnan(bf16_to_fp32(nan)));
  uint32_t signaling = 0x7f800001u;  // a NaN whose payload sits only in the dropped bits
  float snan;
  std::memcpy(&snan, &signaling, sizeof snan);
  EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(snan))));
}

class RandomRows : public ::testing::TestWithParam<TypeBound> {};

TEST_P(RandomRows, RoundTripWithinBound) {
  const TypeBound bound = GetParam();
  const int64_t block = type_traits(bound.type).block_size;
  const int64_t lengths[] = {256, 768, 4096};
  const float scales[] = {0.02f, 1.0f, 300.0f};
  uint32_t seed = 1;
  for (int64_t n : lengths) {
    ASSERT_EQ(n % block, 0);
    for (float scale : scales) {
      const std::vector<float> x = normal_row(n, scale, seed++);
      const double error = relative_rmse(x, round_trip(bound.type, x));
      EXPECT_LE(error, bound.max_relative_rmse) << name_of(bound.type) << " n=" << n << " scale=" << scale;
      if (bound.type != TensorType::F32) EXPECT_GT(error, 0.0) << name_of(bound.type);
    }
  }
}

TEST_P(RandomRows, QuantizationIsDeterministic) {
  const TensorType type = GetParam().type;
  const std::vector<float> x = normal_row(512, 0.5f, 99);
  std::vector<std::byte> a(*row_bytes(type, 512)), b(a.size());
  quantize_row(type, x.data(), a.data(), 512);
  quantize_row(type, x.data(), b.data(), 512);
  EXPECT_EQ(a, b);
}

TEST_P(RandomRows, AllZeroRowStaysZero) {
  const TensorType type = GetParam().type;
  const std::vector<float> x(512, 0.0f);
  for (float v : round_trip(type, x)) ASSERT_EQ(v, 0.0f) << name_of(type);
}

TEST_P(RandomRows, ConstantRowComesBackClose) {
  const TensorType type = GetParam().type;
  for (float c : {0.75f, -3.0f}) {
    const std::vector<float> x(512, c);
    for (float v : round_trip(type, x)) ASSERT_NEAR(v, c, std::fabs(c) * 0.04f) << name_of(type) << " c=" << c;
  }
}

TEST_P(RandomRows, HugeValuesSaturateFinite) {
  const TensorType type = GetParam().type;
  std::vector<float> x = normal_row(512, 1.0f, 5);
  x[3] = 1e30f;
  x[300] = -3e38f;
  const std::vector<float> y = round_trip(type, x);
  if (type == TensorType::F32 || type == TensorType::BF16) {
    EXPECT_EQ(y[3], type == TensorType::F32 ? 1e30f : bf16_to_fp32(fp32_to_bf16(1e30f)));
    return;
  }
  if (type == TensorType::F16) {
    EXPECT_EQ(y[3], std::numeric_limits<float>::infinity());
    EXPECT_EQ(y[300], -std::numeric_limits<float>::infinity());
    return;
  }
  for (float v : y) ASSERT_TRUE(std::isfinite(v)) << name_of(type);
  // The outliers keep their sign and come out at least at a large fraction of the fp16 range.
  EXPECT_GT(y[3], 30000.0f) << name_of(type);
  EXPECT_LT(y[300], -30000.0f) << name_of(type);
}

TEST_P(RandomRows, SubnormalValuesStayTinyAndFinite) {
  const TensorType type = GetParam().type;
  std::vector<float> x(512);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(static_cast<int>(i % 7) - 3) * 1e-40f;
  for (float v : round_trip(type, x)) {
    ASSERT_TRUE(std::isfinite(v)) << name_of(type);
    ASSERT_LE(std::fabs(v), 1e-39f) << name_of(type);
  }
}

TEST_P(RandomRows, NonFiniteValues) {
  const TensorType type = GetParam().type;
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::vector<float> x = normal_row(512, 1.0f, 8);
    x[260] = bad;
    std::vector<std::byte> packed(*row_bytes(type, 512));
    if (!type_traits(type).quantized) {
      quantize_row(type, x.data(), packed.data(), 512);
      std::vector<float> y(512);
      dequantize_row(type, packed.data(), y.data(), 512);
      EXPECT_EQ(std::isnan(y[260]), std::isnan(bad)) << name_of(type);
      EXPECT_EQ(std::isinf(y[260]), std::isinf(bad)) << name_of(type);
      continue;
    }
    try {
      quantize_row(type, x.data(), packed.data(), 512);
      ADD_FAILURE() << name_of(type) << " accepted " << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("element 260"), std::string::npos) << e.what();
    }
  }
}

TEST_P(RandomRows, RejectsPartialBlocks) {
  const TensorType type = GetParam().type;
  const int64_t block = type_traits(type).block_size;
  if (block == 1) return;  // every length is whole for plain floats
  std::vector<float> x(static_cast<size_t>(block) * 2, 1.0f);
  std::vector<std::byte> packed(*row_bytes(type, block * 2));
  EXPECT_THROW(quantize_row(type, x.data(), packed.data(), block + 1), std::invalid_argument);
  EXPECT_THROW(dequantize_row(type, packed.data(), x.data(), block - 1), std::invalid_argument);
  EXPECT_THROW(dequantize_row(type, packed.data(), x.data(), -block), std::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, RandomRows, ::testing::ValuesIn(kBounds),
                         [](const auto& info) { return name_of(info.param.type); });

TEST(QuantRow, RejectsTypesWithoutACodec) {
  float x[256] = {};
  std::byte packed[1024] = {};
  for (TensorType type : {TensorType::IQ2_XXS, TensorType::IQ3_S, TensorType::I8, TensorType::F64, TensorType::MXFP4}) {
    EXPECT_FALSE(can_quantize(type));
    EXPECT_FALSE(can_dequantize(type));
    EXPECT_THROW(quantize_row(type, x, packed, 256), std::invalid_argument);
    EXPECT_THROW(dequantize_row(type, packed, x, 256), std::invalid_argument);
  }
  EXPECT_THROW(quantize_row(static_cast<TensorType>(4), x, packed, 256), std::invalid_argument);
  for (const TypeBound& b : kBounds) EXPECT_TRUE(can_quantize(b.type) && can_dequantize(b.type));
}

TEST(QuantRow, Q8AuxiliarySumsMatchTheValues) {
  const std::vector<float> x = normal_row(256, 2.0f, 3);
  BlockQ8_K k;
  quantize_row(TensorType::Q8_K, x.data(), reinterpret_cast<std::byte*>(&k), 256);
  for (int g = 0; g < 16; ++g) {
    int sum = 0;
    for (int l = 0; l < 16; ++l) sum += k.qs[16 * g + l];
    EXPECT_EQ(k.bsums[g], sum);
  }
  BlockQ8_1 blocks[8];
  quantize_row(TensorType::Q8_1, x.data(), reinterpret_cast<std::byte*>(blocks), 256);
  for (const BlockQ8_1& b : blocks) {
    int sum = 0;
    for (int8_t q : b.qs) sum += q;
    EXPECT_NEAR(fp16_to_fp32(b.s), fp16_to_fp32(b.d) * static_cast<float>(sum), std::fabs(fp16_to_fp32(b.s)) * 1e-3f + 1e-6f);
  }
}

TEST(QuantRow, ZeroLengthRowIsANoOp) {
  for (const TypeBound& b : kBounds) {
    quantize_row(b.type, nullptr, nullptr, 0);
    dequantize_row(b.type, nullptr, nullptr, 0);
  }
}

}  // namespace
}  // namespace hearth::tensor
