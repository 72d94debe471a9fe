// Vector products of a quantized weight row by up to kMaxTileTokens rows of 8-bit activations (activations.h),
// one instruction-set file each (x86_avx2.cpp, x86_avx512.cpp) behind the dispatch of isa.h.
//
// Every kernel gives, for each token, the bits of the type's scalar reference (quant_dot.h, the `single` kernel):
// the same exact integer sums, converted and added in the same order. So a result never depends on how many tokens
// share a tile or on how a batch was cut (batch invariance), and which instruction set runs changes speed only.
// The weight's blocks are unpacked once per tile and reused by each token, which is what makes prompt processing
// cheaper per token than generation.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hearth/tensor_type.h"
#include "kernels/cpu/isa.h"

namespace hearth::kernels::cpu {

inline constexpr int kMaxTileTokens = 4;

// out[t] = dot(weight_row, activations + t * activation_row_bytes) over n elements, for t in [0, n_tokens),
// 1 <= n_tokens <= kMaxTileTokens.
using QuantTile = void (*)(const std::byte* weight_row, const std::byte* activations, uint64_t activation_row_bytes,
                           int n_tokens, int64_t n, float* out);

// The kernel for a weight type on `isa`, or nullptr where that set has none (scalar: always nullptr).
QuantTile quant_tile(TensorType weight_type, Isa isa);
QuantTile avx512_quant_tile(TensorType weight_type);  // x86_avx512.cpp
QuantTile avx2_quant_tile(TensorType weight_type);    // x86_avx2.cpp

inline constexpr int kMaxTileRows = 4;

// One token against several weight rows (generation): out[r] = dot(weight_rows + r * weight_row_bytes, activation)
// over n elements, for r in [0, n_rows), 1 <= n_rows <= kMaxTileRows; the bits of the reference, as QuantTile's.
using QuantRowTile = void (*)(const std::byte* weight_rows, uint64_t weight_row_bytes, int n_rows,
                              const std::byte* activation, int64_t n, float* out);
// nullptr where the type has none on `isa` (QuantTile then serves one token too).
QuantRowTile quant_row_tile(TensorType weight_type, Isa isa);
QuantRowTile avx512_quant_row_tile(TensorType weight_type);
QuantRowTile avx2_quant_row_tile(TensorType weight_type);

// The float weights (F32, F16, BF16) by f32 activations already rounded through their partner format:
// out[t] = dot(weight_row, activations + t * activation_stride). Exact products; the vector kernels sum in their
// own order (float_tiles_x86.h), the same for every token of any tile.
using FloatTile = void (*)(const std::byte* weight_row, const float* activations, int64_t activation_stride,
                           int n_tokens, int64_t n, float* out);
FloatTile float_tile(TensorType weight_type, Isa isa);  // nullptr: no vector kernel (scalar, or not a float type)
FloatTile avx512_float_tile(TensorType weight_type);
FloatTile avx2_float_tile(TensorType weight_type);

}  // namespace hearth::kernels::cpu
