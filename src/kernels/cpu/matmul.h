// Matrix products of a weight stored in any dequantizable block format with f32 activations.
//
// The weight is `rows` rows of `cols` elements, each row `row_bytes` bytes of blocks (as GGUF stores a matrix whose
// ne[0] is `cols`). Activations and results are row-major f32, one row per token. The kernels work on a range of
// weight rows so a caller can spread rows over threads; they know nothing of models.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "hearth/tensor_type.h"
#include "kernels/cpu/quant_dot.h"
#include "kernels/cpu/quant_tiles.h"

namespace hearth::kernels::cpu {

struct QuantMatrix {
  TensorType type;
  const std::byte* data;
  uint64_t row_bytes;
  int64_t rows;
  int64_t cols;

  const std::byte* row(int64_t r) const { return data + static_cast<uint64_t>(r) * row_bytes; }
};

// Weight rows are dequantized this many at a time into the caller's tile scratch, then dotted with every token.
inline constexpr int64_t kMatmulTileRows = 16;

// Floats of tile scratch matmul_rows needs for a weight with `cols` columns.
inline int64_t matmul_tile_floats(int64_t cols) { return kMatmulTileRows * cols; }

// y[t * y_stride + r] = dot(w row r, x[t * w.cols ...]) for r in [row_begin, row_end), t in [0, n_tokens): by
// `float_tile` straight from the weight's storage where there is one (F32, F16, BF16 on a vector ISA), else with
// each weight row dequantized into `scratch` (matmul_tile_floats(w.cols) floats) and float_dot_vec's order
// (float_dot.h). Either way each output depends only on its weight row and its token.
void matmul_rows(const QuantMatrix& w, FloatTile float_tile, const float* x, int64_t n_tokens, float* y,
                 int64_t y_stride, int64_t row_begin, int64_t row_end, float* scratch);

// The same product with the activations already quantized to blocks (activations.h), token t's row at
// x + t * x_row_bytes: by `tile` (quant_tiles.h) where there is one, a token left alone by `row_tile` where there is
// one, else by the reference `dot` (quant_dot.h); all give the same bits. Each output depends only on its weight row
// and its token.
void matmul_quant_rows(const QuantMatrix& w, QuantDot dot, QuantTile tile, QuantRowTile row_tile, const std::byte* x,
                       uint64_t x_row_bytes, int64_t n_tokens, float* y, int64_t y_stride, int64_t row_begin,
                       int64_t row_end);

// out[i * w.cols ...] = weight row ids[i], dequantized (an embedding lookup). Ids must be in [0, w.rows).
void get_rows(const QuantMatrix& w, std::span<const int32_t> ids, float* out);

// Row ids[i] of a writable matrix = src[i * cols ...], converted to `type` (any quantizable type; F16 and F32
// for the KV cache). Ids must be in range.
void set_rows(TensorType type, std::byte* data, uint64_t row_bytes, int64_t cols, std::span<const int32_t> ids,
              const float* src);

}  // namespace hearth::kernels::cpu
