// Builds GGUF files byte by byte, so tests can break any rule of the format on purpose.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace hearth::test {

class GgufBytes {
 public:
  template <typename T>
  GgufBytes& put(T value) {
    const auto* raw = reinterpret_cast<const std::byte*>(&value);
    bytes.insert(bytes.end(), raw, raw + sizeof(T));
    return *this;
  }
  GgufBytes& str(std::string_view text) {
    put<uint64_t>(text.size());
    const auto* raw = reinterpret_cast<const std::byte*>(text.data());
    bytes.insert(bytes.end(), raw, raw + text.size());
    return *this;
  }
  GgufBytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return put<uint32_t>(0x46554747).put<uint32_t>(version).put<uint64_t>(n_tensors).put<uint64_t>(n_kv);
  }
  GgufBytes& kv_u32(std::string_view key, uint32_t value) { return str(key).put<uint32_t>(4).put<uint32_t>(value); }
  GgufBytes& kv_str(std::string_view key, std::string_view value) { return str(key).put<uint32_t>(8).str(value); }
  GgufBytes& tensor(std::string_view name, std::initializer_list<int64_t> dims, uint32_t type, uint64_t offset) {
    str(name).put<uint32_t>(static_cast<uint32_t>(dims.size()));
    for (int64_t d : dims) put<int64_t>(d);
    return put<uint32_t>(type).put<uint64_t>(offset);
  }
  GgufBytes& pad_to(size_t alignment) {
    while (bytes.size() % alignment != 0) bytes.push_back(std::byte{0});
    return *this;
  }
  GgufBytes& zeros(size_t n) {
    bytes.insert(bytes.end(), n, std::byte{0});
    return *this;
  }
  std::span<const std::byte> span() const { return bytes; }

  std::vector<std::byte> bytes;
};

}  // namespace hearth::test
