// Finding NaN and infinite values in a tensor, for `hearth info --check-tensors`.
#include <cmath>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "hearth/tensor_type.h"
#include "tensor/quant.h"

namespace hearth {

std::optional<NonFiniteValue> find_non_finite(TensorType type, std::span<const std::byte> data, int64_t row_length) {
  if (!tensor::can_dequantize(type)) {
    throw std::invalid_argument(fmt::format("cannot check tensors of type {}", type_name(type)));
  }
  const auto bytes_per_row = row_bytes(type, row_length);
  if (!bytes_per_row || *bytes_per_row == 0 || data.size() % *bytes_per_row != 0) {
    throw std::invalid_argument("the tensor's bytes are not whole rows");
  }
  std::vector<float> row(static_cast<size_t>(row_length));
  const uint64_t rows = data.size() / *bytes_per_row;
  for (uint64_t r = 0; r < rows; ++r) {
    tensor::dequantize_row(type, data.data() + r * *bytes_per_row, row.data(), row_length);
    for (size_t i = 0; i < row.size(); ++i) {
      if (!std::isfinite(row[i])) return NonFiniteValue{static_cast<int64_t>(r) * row_length + static_cast<int64_t>(i), row[i]};
    }
  }
  return std::nullopt;
}

}  // namespace hearth
