#include <gtest/gtest.h>

#include "hearth/tensor_type.h"

namespace hearth {
namespace {

TEST(TensorType, TableMatchesTheFormat) {
  struct Expected {
    uint32_t id;
    const char* name;
    int64_t block;
    size_t bytes;
  };
  const Expected expected[] = {
      {0, "f32", 1, 4},        {1, "f16", 1, 2},          {2, "q4_0", 32, 18},       {3, "q4_1", 32, 20},
      {6, "q5_0", 32, 22},     {7, "q5_1", 32, 24},       {8, "q8_0", 32, 34},       {9, "q8_1", 32, 36},
      {10, "q2_K", 256, 84},   {11, "q3_K", 256, 110},    {12, "q4_K", 256, 144},    {13, "q5_K", 256, 176},
      {14, "q6_K", 256, 210},  {15, "q8_K", 256, 292},    {16, "iq2_xxs", 256, 66},  {17, "iq2_xs", 256, 74},
      {18, "iq3_xxs", 256, 98}, {19, "iq1_s", 256, 50},   {20, "iq4_nl", 32, 18},    {21, "iq3_s", 256, 110},
      {22, "iq2_s", 256, 82},  {23, "iq4_xs", 256, 136},  {24, "i8", 1, 1},          {25, "i16", 1, 2},
      {26, "i32", 1, 4},       {27, "i64", 1, 8},         {28, "f64", 1, 8},         {29, "iq1_m", 256, 56},
      {30, "bf16", 1, 2},      {34, "tq1_0", 256, 54},    {35, "tq2_0", 256, 66},    {39, "mxfp4", 32, 17},
  };
  for (const Expected& e : expected) {
    const TypeTraits* traits = find_type_traits(e.id);
    ASSERT_NE(traits, nullptr) << e.id;
    EXPECT_EQ(traits->name, e.name);
    EXPECT_EQ(traits->block_size, e.block) << e.name;
    EXPECT_EQ(traits->block_bytes, e.bytes) << e.name;
    EXPECT_EQ(type_from_name(e.name), traits->type);
  }
  for (uint32_t removed : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 40u, 1000u}) EXPECT_EQ(find_type_traits(removed), nullptr) << removed;
  EXPECT_EQ(type_from_name("Q4_K"), TensorType::Q4_K);
  EXPECT_EQ(type_from_name("q4_k_m"), std::nullopt);
  EXPECT_THROW((void)type_traits(static_cast<TensorType>(5)), std::invalid_argument);
}

TEST(TensorType, RowBytesChecksBlocksAndOverflow) {
  EXPECT_EQ(row_bytes(TensorType::Q4_K, 4096), 4096u / 256 * 144);
  EXPECT_EQ(row_bytes(TensorType::F16, 7), 14u);
  EXPECT_EQ(row_bytes(TensorType::Q4_0, 33), std::nullopt);
  EXPECT_EQ(row_bytes(TensorType::F32, -1), std::nullopt);
  EXPECT_EQ(row_bytes(TensorType::F64, int64_t{1} << 62), std::nullopt);
}

TEST(TensorType, FileTypeNames) {
  EXPECT_EQ(file_type_name(15), "Q4_K - Medium");
  EXPECT_EQ(file_type_name(7), "Q8_0");
  EXPECT_EQ(file_type_name(1024 + 1), "F16");
  EXPECT_EQ(file_type_name(4), std::nullopt);
}

}  // namespace
}  // namespace hearth
