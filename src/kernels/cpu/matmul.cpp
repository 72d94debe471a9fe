#include "kernels/cpu/matmul.h"

#include <algorithm>

#include "kernels/cpu/dequant.h"
#include "kernels/cpu/float_dot.h"
#include "tensor/quant.h"

namespace hearth::kernels::cpu {

void matmul_rows(const QuantMatrix& w, FloatTile float_tile, const float* x, int64_t n_tokens, float* y,
                 int64_t y_stride, int64_t row_begin, int64_t row_end, float* scratch) {
  if (float_tile != nullptr) {
    // As matmul_quant_rows: token groups outside, the caller's few weight rows stay in L1.
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kMaxTileTokens) {
      const int group = static_cast<int>(std::min<int64_t>(kMaxTileTokens, n_tokens - t0));
      for (int64_t r = row_begin; r < row_end; ++r) {
        float out[kMaxTileTokens];
        float_tile(w.row(r), x + t0 * w.cols, w.cols, group, w.cols, out);
        for (int t = 0; t < group; ++t) y[(t0 + t) * y_stride + r] = out[t];
      }
    }
    return;
  }
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kMatmulTileRows) {
    const int64_t tile_rows = std::min(kMatmulTileRows, row_end - r0);
    // Each weight row is dequantized once per call however many tokens use it.
    for (int64_t r = 0; r < tile_rows; ++r) dequantize_row(w.type, w.row(r0 + r), scratch + r * w.cols, w.cols);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* token = x + t * w.cols;
      for (int64_t r = 0; r < tile_rows; ++r) {
        y[t * y_stride + r0 + r] = float_dot_vec(w.type, scratch + r * w.cols, token, w.cols);
      }
    }
  }
}

void matmul_quant_rows(const QuantMatrix& w, QuantDot dot, QuantTile tile, QuantRowTile row_tile, const std::byte* x,
                       uint64_t x_row_bytes, int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin,
                       int64_t row_end) {
  if (tile == nullptr) {
    // Row by row, every token in turn: the weight row stays in the nearest cache while the tokens pass over it.
    for (int64_t r = row_begin; r < row_end; ++r) {
      for (int64_t t = 0; t < n_tokens; ++t) {
        y[t * y_stride + r] = dot(w.row(r), x + static_cast<uint64_t>(t) * x_row_bytes, w.cols);
      }
    }
    return;
  }
  // Token groups in the outer loop: the caller's few weight rows stay in L1 while every group passes over them,
  // and each group's activation rows stay there while they meet each weight row.
  for (int64_t t0 = 0; t0 < n_tokens; t0 += kMaxTileTokens) {
    const int group = static_cast<int>(std::min<int64_t>(kMaxTileTokens, n_tokens - t0));
    const std::byte* activations = x + static_cast<uint64_t>(t0) * x_row_bytes;
    if (group == 1 && row_tile != nullptr) {
      for (int64_t r = row_begin; r < row_end; r += kMaxTileRows) {
        const int rows = static_cast<int>(std::min<int64_t>(kMaxTileRows, row_end - r));
        float out[kMaxTileRows];
        row_tile(w.row(r), w.row_bytes, rows, activations, w.cols, out);
        for (int i = 0; i < rows; ++i) y[t0 * y_stride + r + i] = out[i];
      }
      continue;
    }
    for (int64_t r = row_begin; r < row_end; ++r) {
      float out[kMaxTileTokens];
      tile(w.row(r), activations, x_row_bytes, group, w.cols, out);
      for (int t = 0; t < group; ++t) y[(t0 + t) * y_stride + r] = out[t];
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
