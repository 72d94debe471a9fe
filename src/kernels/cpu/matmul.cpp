#include "kernels/cpu/matmul.h"

#include <algorithm>

#include "kernels/cpu/dequant.h"
#include "kernels/cpu/vec.h"
#include "tensor/quant.h"

namespace hearth::kernels::cpu {
namespace {

HEARTH_VECTOR_CLONES
void dot_tile(const float* tile, int64_t tile_rows, int64_t cols, const float* x, int64_t n_tokens, float* y,
              int64_t y_stride) {
  for (int64_t t = 0; t < n_tokens; ++t) dot_many(tile, cols, tile_rows, x + t * cols, cols, y + t * y_stride);
}

}  // namespace

void matmul_rows(const QuantMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin,
                 int64_t row_end, float* tile) {
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kMatmulTileRows) {
    const int64_t tile_rows = std::min(kMatmulTileRows, row_end - r0);
    // Each weight row is dequantized once per call however many tokens use it.
    for (int64_t r = 0; r < tile_rows; ++r) dequantize_row(w.type, w.row(r0 + r), tile + r * w.cols, w.cols);
    dot_tile(tile, tile_rows, w.cols, x, n_tokens, y + r0, y_stride);
  }
}

void matmul_quant_rows(const QuantMatrix& w, const QuantDotKernels& kernels, const std::byte* x, uint64_t x_row_bytes,
                       int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin, int64_t row_end) {
  // Row by row, every token in turn: the weight row stays in the nearest cache while the tokens pass over it.
  const int64_t grouped = grouped_tokens(kernels, n_tokens);
  for (int64_t r = row_begin; r < row_end; ++r) {
    const std::byte* row = w.row(r);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const QuantDot dot = t < grouped ? kernels.grouped : kernels.single;
      y[t * y_stride + r] = dot(row, x + static_cast<uint64_t>(t) * x_row_bytes, w.cols);
    }
  }
}

void get_rows(const QuantMatrix& w, std::span<const int32_t> ids, float* out) {
  for (size_t i = 0; i < ids.size(); ++i) {
    dequantize_row(w.type, w.row(ids[i]), out + static_cast<int64_t>(i) * w.cols, w.cols);
  }
}

void set_rows(TensorType type, std::byte* data, uint64_t row_bytes, int64_t cols, std::span<const int32_t> ids,
              const float* src) {
  for (size_t i = 0; i < ids.size(); ++i) {
    tensor::quantize_row(type, src + static_cast<int64_t>(i) * cols, data + static_cast<uint64_t>(ids[i]) * row_bytes,
                         cols);
  }
}

}  // namespace hearth::kernels::cpu
