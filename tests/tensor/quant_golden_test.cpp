// The block formats against llama.cpp's own output (../shared/golden/quant): dequantization bit for bit,
// quantization at least as accurate.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "hearth/gguf.h"
#include "support/shared_data.h"
#include "tensor/quant.h"

namespace hearth::tensor {
namespace {

class GoldenQuant : public ::testing::TestWithParam<std::string> {
 protected:
  static gguf::File open(const std::string& name) {
    return gguf::File::open(test::shared_dir() / "golden" / "quant" / ("quant-" + name + ".gguf"));
  }
};

std::vector<float> floats_of(const gguf::TensorInfo& tensor) {
  std::vector<float> values(static_cast<size_t>(tensor.n_elements()));
  std::memcpy(values.data(), tensor.data, values.size() * sizeof(float));
  return values;
}

TEST_P(GoldenQuant, DequantizesBitForBit) {
  const gguf::File file = open(GetParam());
  const gguf::TensorInfo& quantized = file.tensor("quantized");
  const gguf::TensorInfo& dequantized = file.tensor("dequantized");
  ASSERT_EQ(type_from_name(GetParam()), quantized.type);
  ASSERT_EQ(dequantized.type, TensorType::F32);
  const int64_t row = quantized.ne[0];
  const uint64_t row_size = *row_bytes(quantized.type, row);
  const std::vector<float> expected = floats_of(dequantized);
  std::vector<float> actual(static_cast<size_t>(row));
  for (int64_t r = 0; r < quantized.n_rows(); ++r) {
    dequantize_row(quantized.type, quantized.data + r * row_size, actual.data(), row);
    for (int64_t i = 0; i < row; ++i) {
      const float want = expected[static_cast<size_t>(r * row + i)];
      ASSERT_EQ(std::memcmp(&actual[static_cast<size_t>(i)], &want, sizeof(float)), 0)
          << "row " << r << " element " << i << ": " << actual[static_cast<size_t>(i)] << " != " << want;
    }
  }
}

TEST_P(GoldenQuant, QuantizesAtLeastAsAccuratelyAsLlamaCpp) {
  const gguf::File file = open(GetParam());
  const gguf::TensorInfo& input = file.tensor("input");
  const gguf::TensorInfo& quantized = file.tensor("quantized");
  const float golden_rmse = file.get<float>("golden.rmse");
  const int64_t row = input.ne[0];
  const uint64_t row_size = *row_bytes(quantized.type, row);
  const std::vector<float> x = floats_of(input);

  std::vector<std::byte> packed(row_size);
  std::vector<float> back(static_cast<size_t>(row));
  double sum_sq = 0;
  bool same_bytes = true;
  for (int64_t r = 0; r < input.n_rows(); ++r) {
    const float* source = x.data() + r * row;
    quantize_row(quantized.type, source, packed.data(), row);
    same_bytes = same_bytes && std::memcmp(packed.data(), quantized.data + r * row_size, row_size) == 0;
    dequantize_row(quantized.type, packed.data(), back.data(), row);
    for (int64_t i = 0; i < row; ++i) {
      const double diff = static_cast<double>(back[static_cast<size_t>(i)]) - source[i];
      sum_sq += diff * diff;
    }
  }
  const double rmse = std::sqrt(sum_sq / static_cast<double>(x.size()));
  std::printf("[ %-6s ] rmse %.9g, llama.cpp %.9g (ratio %.6f)%s\n", GetParam().c_str(), rmse, golden_rmse,
              golden_rmse > 0 ? rmse / golden_rmse : 1.0, same_bytes ? ", identical bytes" : "");
  EXPECT_LE(rmse, static_cast<double>(golden_rmse) * 1.001);
  // Plain conversions are fully determined by round-to-nearest-even.
  if (quantized.type == TensorType::F16 || quantized.type == TensorType::BF16) EXPECT_TRUE(same_bytes);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, GoldenQuant,
                         ::testing::Values("f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K", "q3_K", "q4_K",
                                           "q5_K", "q6_K", "iq4_nl", "iq4_xs"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace hearth::tensor
