// How a gguf::Value stores an array: scalars packed little-endian as in the file, strings as views (backed by
// the mapped file or by `owned_strings`), nested arrays as Values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "hearth/gguf.h"

namespace hearth::gguf {

struct Value::ArrayData {
  ValueType element_type = ValueType::UINT8;
  size_t count = 0;
  std::vector<std::byte> packed;           // fixed-size scalars
  std::vector<std::string_view> strings;   // STRING elements
  std::vector<std::string> owned_strings;  // backing for writer-made strings
  std::vector<Value> arrays;               // ARRAY elements
};

// Bytes of one fixed-size element, or 0 for STRING and ARRAY (and invalid ids).
size_t scalar_size(ValueType type);
bool is_valid_value_type(uint32_t id);

}  // namespace hearth::gguf
