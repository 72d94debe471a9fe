// The ggml tensor type table: every type id a GGUF file may name, with its block geometry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace hearth {

// Ids are fixed by the GGUF format. Gaps are ids that were removed from the format (4, 5, 31-33, 36-38) and
// are rejected like unknown ids.
enum class TensorType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

struct TypeTraits {
  TensorType type;
  std::string_view name;   // as llama.cpp spells it, e.g. "q4_K"
  int64_t block_size;      // elements per block
  size_t block_bytes;      // bytes per block
  bool quantized;
};

// The traits of a type id read from a file, or nullptr for unknown and removed ids.
const TypeTraits* find_type_traits(uint32_t id);
// The traits of a known type.
const TypeTraits& type_traits(TensorType type);
inline std::string_view type_name(TensorType type) { return type_traits(type).name; }
// Case-insensitive lookup by name ("Q4_K", "q4_k", "f16").
std::optional<TensorType> type_from_name(std::string_view name);

// Bytes of a row of `n` elements; nullopt when n is not a multiple of the block size or the size overflows.
std::optional<uint64_t> row_bytes(TensorType type, int64_t n);

// A NaN or infinity in a tensor's values (after dequantization: a block scale of NaN makes its whole block NaN).
struct NonFiniteValue {
  int64_t index;  // element index, row-major
  float value;
};
// The first non-finite value of a tensor of `type` whose rows hold `row_length` elements, or nullopt. `data` holds
// whole rows. Types without a dequantizer are std::invalid_argument.
std::optional<NonFiniteValue> find_non_finite(TensorType type, std::span<const std::byte> data, int64_t row_length);

// The name of a `general.file_type` value (llama.cpp's numbering), e.g. 15 -> "Q4_K - Medium"; nullopt if unknown.
std::optional<std::string_view> file_type_name(uint32_t file_type);

}  // namespace hearth
