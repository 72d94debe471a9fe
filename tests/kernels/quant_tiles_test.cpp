// The vector tile kernels (quant_tiles.h) against the scalar references (quant_dot.h): the same bits, for every
// token of every tile size, on every instruction set this CPU has; and the matmul over them is batch invariant.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/activations.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quant_dot.h"
#include "kernels/cpu/quant_tiles.h"
#include "kernels/random_data.h"
#include "tensor/quant.h"

namespace hearth::kernels::cpu {
namespace {

constexpr TensorType kTiledTypes[] = {TensorType::Q8_0, TensorType::Q4_0, TensorType::IQ4_NL, TensorType::Q4_K,
                                      TensorType::Q5_K, TensorType::Q6_K, TensorType::Q3_K, TensorType::Q2_K,
                                      TensorType::Q5_0, TensorType::Q4_1, TensorType::Q5_1, TensorType::IQ4_XS};

// Byte offsets of a block's fp16 scale fields, which raw random bytes would fill with NaN or infinity.
std::vector<size_t> half_fields(TensorType type) {
  switch (type) {
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q4_1:
    case TensorType::Q5_1: return {0, 2};
    case TensorType::Q6_K: return {208};
    case TensorType::Q3_K: return {108};
    case TensorType::Q2_K: return {80, 82};
    default: return {0};
  }
}

// `rows` weight rows of raw random bytes (every quant value and sub-scale a format can hold, extremes included),
// each fp16 scale a random finite value.
std::vector<std::byte> random_weight(TensorType type, int64_t rows, int64_t n, uint32_t seed) {
  const TypeTraits& traits = type_traits(type);
  const uint64_t bytes = *row_bytes(type, n) * static_cast<uint64_t>(rows);
  std::mt19937 rng(seed);
  std::vector<std::byte> weight(bytes);
  for (auto& b : weight) b = static_cast<std::byte>(rng());
  std::uniform_real_distribution<float> scale(-2.0f, 2.0f);
  for (uint64_t block = 0; block < bytes / traits.block_bytes; ++block) {
    for (size_t field : half_fields(type)) {
      const uint16_t h = tensor::fp32_to_fp16(scale(rng));
      std::memcpy(weight.data() + block * traits.block_bytes + field, &h, sizeof(h));
    }
  }
  return weight;
}

std::vector<std::byte> random_activations(TensorType weight_type, int64_t tokens, int64_t n, uint32_t seed) {
  const TensorType format = activation_format(weight_type);
  const uint64_t row = activation_row_bytes(format, n);
  std::vector<std::byte> blocks(row * static_cast<uint64_t>(tokens));
  const auto x = test::random_floats(static_cast<size_t>(tokens * n), seed, 3.0f);
  for (int64_t t = 0; t < tokens; ++t) quantize_activations(format, x.data() + t * n, blocks.data() + t * row, n);
  return blocks;
}

std::vector<Isa> supported_vector_isas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::avx512, Isa::avx2}) {
    if (isa_supported(isa)) isas.push_back(isa);
  }
  return isas;
}

TEST(QuantTiles, GiveTheReferenceBitsForEveryTokenOfEveryTileSize) {
  const auto isas = supported_vector_isas();
  if (isas.empty()) GTEST_SKIP() << "this CPU has no AVX2: only the scalar references run here";
  for (Isa isa : isas) {
    for (TensorType type : kTiledTypes) {
      const QuantTile tile = quant_tile(type, isa);
      ASSERT_NE(tile, nullptr) << type_name(type) << " " << isa_name(isa);
      const QuantDot reference = quant_dot_kernel(type);
      for (int64_t n : {int64_t{256}, int64_t{2048}}) {
        const auto weight = random_weight(type, 3, n, static_cast<uint32_t>(n) + 7);
        const auto x = random_activations(type, kMaxTileTokens, n, static_cast<uint32_t>(n) + 8);
        const uint64_t w_row = *row_bytes(type, n);
        const uint64_t x_row = activation_row_bytes(activation_format(type), n);
        for (int64_t r = 0; r < 3; ++r) {
          for (int tokens = 1; tokens <= kMaxTileTokens; ++tokens) {
            float out[kMaxTileTokens];
            tile(weight.data() + r * w_row, x.data(), x_row, tokens, n, out);
            for (int t = 0; t < tokens; ++t) {
              const float expected = reference(weight.data() + r * w_row, x.data() + t * x_row, n);
              ASSERT_NE(expected, 0.0f);
              ASSERT_EQ(std::bit_cast<uint32_t>(out[t]), std::bit_cast<uint32_t>(expected))
                  << type_name(type) << " " << isa_name(isa) << " n=" << n << " row " << r << " token " << t << " of "
                  << tokens << ": " << out[t] << " vs " << expected;
            }
          }
        }
      }
    }
  }
}

TEST(QuantTiles, RowTilesGiveTheReferenceBitsForEveryRowOfEveryTileSize) {
  const auto isas = supported_vector_isas();
  if (isas.empty()) GTEST_SKIP() << "this CPU has no AVX2: only the scalar references run here";
  int tested = 0;
  for (Isa isa : isas) {
    for (TensorType type : kTiledTypes) {
      const QuantRowTile row_tile = quant_row_tile(type, isa);
      if (row_tile == nullptr) continue;
      ++tested;
      const QuantDot reference = quant_dot_kernel(type);
      for (int64_t n : {int64_t{256}, int64_t{2048}}) {
        const auto weight = random_weight(type, kMaxTileRows, n, static_cast<uint32_t>(n) + 9);
        const auto x = random_activations(type, 1, n, static_cast<uint32_t>(n) + 10);
        const uint64_t w_row = *row_bytes(type, n);
        for (int rows = 1; rows <= kMaxTileRows; ++rows) {
          float out[kMaxTileRows];
          row_tile(weight.data(), w_row, rows, x.data(), n, out);
          for (int r = 0; r < rows; ++r) {
            const float expected = reference(weight.data() + r * w_row, x.data(), n);
            ASSERT_NE(expected, 0.0f);
            ASSERT_EQ(std::bit_cast<uint32_t>(out[r]), std::bit_cast<uint32_t>(expected))
                << type_name(type) << " " << isa_name(isa) << " n=" << n << " row " << r << " of " << rows << ": "
                << out[r] << " vs " << expected;
          }
        }
      }
    }
  }
  EXPECT_GT(tested, 0) << "no type has a row tile";
}

TEST(QuantTiles, MatmulResultsDoNotDependOnTheBatch) {
  // Each token's outputs from a batch of 9 (two full tiles and a remainder) must be the bits of that token alone.
  const int64_t n = 512, rows = 24, tokens = 9;
  for (TensorType type : kTiledTypes) {
    const auto weight = random_weight(type, rows, n, 31);
    const auto x = random_activations(type, tokens, n, 32);
    const QuantMatrix w{type, weight.data(), *row_bytes(type, n), rows, n};
    const uint64_t x_row = activation_row_bytes(activation_format(type), n);
    const QuantTile tile = quant_tile(type, cpu_isa());
    const QuantRowTile row_tile = quant_row_tile(type, cpu_isa());
    std::vector<float> batch(static_cast<size_t>(rows * tokens)), alone(static_cast<size_t>(rows));
    matmul_quant_rows(w, quant_dot_kernel(type), tile, row_tile, x.data(), x_row, tokens, batch.data(), rows, 0, rows);
    for (int64_t t = 0; t < tokens; ++t) {
      // The token alone, its rows in two ranges (as two threads would split them).
      matmul_quant_rows(w, quant_dot_kernel(type), tile, row_tile, x.data() + t * x_row, x_row, 1, alone.data(), rows, 0, 10);
      matmul_quant_rows(w, quant_dot_kernel(type), tile, row_tile, x.data() + t * x_row, x_row, 1, alone.data(), rows, 10, rows);
      for (int64_t r = 0; r < rows; ++r) {
        ASSERT_EQ(std::bit_cast<uint32_t>(batch[static_cast<size_t>(t * rows + r)]),
                  std::bit_cast<uint32_t>(alone[static_cast<size_t>(r)]))
            << type_name(type) << " token " << t << " row " << r;
      }
    }
  }
}

TEST(QuantTiles, IsaRequestsBelowTheBestAreSupported) {
  EXPECT_TRUE(isa_supported(Isa::scalar));
  EXPECT_TRUE(isa_supported(cpu_isa()));
  EXPECT_EQ(quant_tile(TensorType::Q8_0, Isa::scalar), nullptr);
  EXPECT_EQ(quant_tile(TensorType::F16, Isa::avx2), nullptr);
}

}  // namespace
}  // namespace hearth::kernels::cpu
