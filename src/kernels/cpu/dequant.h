// Vectorizable dequantizers of the block formats that dominate real models (Q8_0, Q4_K, Q6_K, F16). They are the
// fast twins of tensor::dequantize_row and produce bit-identical floats (tests compare them); every other type
// falls back to the reference.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hearth/tensor_type.h"

namespace hearth::kernels::cpu {

// Writes n floats from the blocks at src; n is a multiple of the type's block size.
void dequantize_row(TensorType type, const std::byte* src, float* dst, int64_t n);

}  // namespace hearth::kernels::cpu
