#include "hearth/tensor_type.h"

#include <array>
#include <cctype>
#include <limits>
#include <stdexcept>
#include <string>

namespace hearth {
namespace {

constexpr int64_t kQK = 32;    // block of the legacy formats
constexpr int64_t kQK_K = 256;  // super-block of the K, IQ and TQ formats

constexpr std::array<TypeTraits, 32> kTypes{{
    {TensorType::F32, "f32", 1, 4, false},
    {TensorType::F16, "f16", 1, 2, false},
    {TensorType::Q4_0, "q4_0", kQK, 18, true},
    {TensorType::Q4_1, "q4_1", kQK, 20, true},
    {TensorType::Q5_0, "q5_0", kQK, 22, true},
    {TensorType::Q5_1, "q5_1", kQK, 24, true},
    {TensorType::Q8_0, "q8_0", kQK, 34, true},
    {TensorType::Q8_1, "q8_1", kQK, 36, true},
    {TensorType::Q2_K, "q2_K", kQK_K, 84, true},
    {TensorType::Q3_K, "q3_K", kQK_K, 110, true},
    {TensorType::Q4_K, "q4_K", kQK_K, 144, true},
    {TensorType::Q5_K, "q5_K", kQK_K, 176, true},
    {TensorType::Q6_K, "q6_K", kQK_K, 210, true},
    {TensorType::Q8_K, "q8_K", kQK_K, 292, true},
    {TensorType::IQ2_XXS, "iq2_xxs", kQK_K, 66, true},
    {TensorType::IQ2_XS, "iq2_xs", kQK_K, 74, true},
    {TensorType::IQ3_XXS, "iq3_xxs", kQK_K, 98, true},
    {TensorType::IQ1_S, "iq1_s", kQK_K, 50, true},
    {TensorType::IQ4_NL, "iq4_nl", kQK, 18, true},
    {TensorType::IQ3_S, "iq3_s", kQK_K, 110, true},
    {TensorType::IQ2_S, "iq2_s", kQK_K, 82, true},
    {TensorType::IQ4_XS, "iq4_xs", kQK_K, 136, true},
    {TensorType::I8, "i8", 1, 1, false},
    {TensorType::I16, "i16", 1, 2, false},
    {TensorType::I32, "i32", 1, 4, false},
    {TensorType::I64, "i64", 1, 8, false},
    {TensorType::F64, "f64", 1, 8, false},
    {TensorType::IQ1_M, "iq1_m", kQK_K, 56, true},
    {TensorType::BF16, "bf16", 1, 2, false},
    {TensorType::TQ1_0, "tq1_0", kQK_K, 54, true},
    {TensorType::TQ2_0, "tq2_0", kQK_K, 66, true},
    {TensorType::MXFP4, "mxfp4", kQK, 17, true},
}};

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

}  // namespace

const TypeTraits* find_type_traits(uint32_t id) {
  for (const TypeTraits& traits : kTypes) {
    if (static_cast<uint32_t>(traits.type) == id) return &traits;
  }
  return nullptr;
}

const TypeTraits& type_traits(TensorType type) {
  const TypeTraits* traits = find_type_traits(static_cast<uint32_t>(type));
  if (traits == nullptr) throw std::invalid_argument("unknown tensor type id " + std::to_string(static_cast<uint32_t>(type)));
  return *traits;
}

std::optional<TensorType> type_from_name(std::string_view name) {
  for (const TypeTraits& traits : kTypes) {
    if (equal_ignoring_case(traits.name, name)) return traits.type;
  }
  return std::nullopt;
}

std::optional<uint64_t> row_bytes(TensorType type, int64_t n) {
  const TypeTraits& traits = type_traits(type);
  if (n < 0 || n % traits.block_size != 0) return std::nullopt;
  const uint64_t blocks = static_cast<uint64_t>(n / traits.block_size);
  if (blocks > std::numeric_limits<uint64_t>::max() / traits.block_bytes) return std::nullopt;
  return blocks * traits.block_bytes;
}

std::optional<std::string_view> file_type_name(uint32_t file_type) {
  constexpr uint32_t kGuessed = 1024;  // set by tools that inferred the type from the tensors
  switch (file_type & ~kGuessed) {
    case 0: return "all F32";
    case 1: return "F16";
    case 2: return "Q4_0";
    case 3: return "Q4_1";
    case 7: return "Q8_0";
    case 8: return "Q5_0";
    case 9: return "Q5_1";
    case 10: return "Q2_K - Medium";
    case 11: return "Q3_K - Small";
    case 12: return "Q3_K - Medium";
    case 13: return "Q3_K - Large";
    case 14: return "Q4_K - Small";
    case 15: return "Q4_K - Medium";
    case 16: return "Q5_K - Small";
    case 17: return "Q5_K - Medium";
    case 18: return "Q6_K";
    case 19: return "IQ2_XXS - 2.0625 bpw";
    case 20: return "IQ2_XS - 2.3125 bpw";
    case 21: return "Q2_K - Small";
    case 22: return "IQ3_XS - 3.3 bpw";
    case 23: return "IQ3_XXS - 3.0625 bpw";
    case 24: return "IQ1_S - 1.5625 bpw";
    case 25: return "IQ4_NL - 4.5 bpw";
    case 26: return "IQ3_S - 3.4375 bpw";
    case 27: return "IQ3_S mix - 3.66 bpw";
    case 28: return "IQ2_S - 2.5 bpw";
    case 29: return "IQ2_M - 2.7 bpw";
    case 30: return "IQ4_XS - 4.25 bpw";
    case 31: return "IQ1_M - 1.75 bpw";
    case 32: return "BF16";
    case 36: return "TQ1_0 - 1.69 bpw";
    case 37: return "TQ2_0 - 2.06 bpw";
    case 38: return "MXFP4 MoE";
    default: return std::nullopt;
  }
}

}  // namespace hearth
