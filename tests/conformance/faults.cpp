#include "conformance/faults.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "hearth/gguf.h"
#include "hearth/tensor_type.h"

namespace hearth::conformance {
namespace {

// Where a block keeps its f16 scale d (the k-quants: the super-block's d), or nullopt for float types.
std::optional<size_t> scale_offset(TensorType type) {
  switch (type) {
    case TensorType::Q8_0:
    case TensorType::Q4_0:
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::IQ4_NL:
    case TensorType::IQ4_XS:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
      return 0;
    case TensorType::Q2_K:
      return 80;  // after 16 scale bytes and 64 bytes of 2-bit values
    case TensorType::Q3_K:
      return 108;  // after the 32-byte high-bit mask, 64 bytes of values and 12 scale bytes
    case TensorType::Q6_K:
      return 208;  // after 128 + 64 bytes of values and 16 scale bytes
    default:
      return std::nullopt;
  }
}

void apply(Fault fault, TensorType type, std::vector<char>& row, size_t block_bytes) {
  const size_t blocks = row.size() / block_bytes;
  switch (fault) {
    case Fault::kSkippedLastBlock:
      // Zero bytes are a zero scale (and zero values) in every format: the block adds nothing.
      std::fill(row.end() - static_cast<std::ptrdiff_t>(block_bytes), row.end(), char{0});
      return;
    case Fault::kNeighbourBlock:
      std::rotate(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(block_bytes), row.end());
      return;
    case Fault::kDroppedScale: {
      const auto offset = scale_offset(type);
      if (!offset) throw std::runtime_error(fmt::format("{} has no block scale to drop", type_name(type)));
      const uint16_t one = 0x3C00;  // 1.0 in f16
      for (size_t b = 0; b < blocks; ++b) std::memcpy(row.data() + b * block_bytes + *offset, &one, sizeof(one));
      return;
    }
  }
}

}  // namespace

std::string_view fault_name(Fault fault) {
  switch (fault) {
    case Fault::kSkippedLastBlock: return "last block skipped";
    case Fault::kNeighbourBlock: return "neighbouring block read";
    case Fault::kDroppedScale: return "block scale dropped";
  }
  return "?";
}

void write_faulty_copy(const std::filesystem::path& source, const std::filesystem::path& target, Fault fault,
                       const std::string& tensor) {
  const gguf::File file = gguf::File::open(source);
  const auto& tensors = file.tensors();
  const auto info = std::find_if(tensors.begin(), tensors.end(), [&](const auto& t) { return t.name == tensor; });
  if (info == tensors.end()) throw std::runtime_error(fmt::format("{} has no tensor {}", source.string(), tensor));
  const TypeTraits& traits = type_traits(info->type);
  const auto row_size = row_bytes(info->type, info->ne[0]);
  if (!row_size) throw std::runtime_error(fmt::format("{}: bad row size", tensor));
  std::filesystem::copy_file(source, target, std::filesystem::copy_options::overwrite_existing);
  std::fstream out(target, std::ios::binary | std::ios::in | std::ios::out);
  std::vector<char> row(*row_size);
  for (int64_t r = 0; r < info->n_rows(); ++r) {
    const auto offset = static_cast<std::streamoff>(file.data_offset() + info->offset + static_cast<uint64_t>(r) * *row_size);
    std::memcpy(row.data(), info->data + static_cast<size_t>(r) * *row_size, row.size());
    apply(fault, info->type, row, traits.block_bytes);
    out.seekp(offset);
    out.write(row.data(), static_cast<std::streamsize>(row.size()));
  }
  if (!out) throw std::runtime_error(fmt::format("cannot write {}", target.string()));
}

}  // namespace hearth::conformance
