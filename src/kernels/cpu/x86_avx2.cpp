// The x86 vector kernels compiled for AVX2 + FMA + F16C (CMake sets the flags for this file only).
#include "kernels/cpu/attention_x86.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/float_tiles_x86.h"
#include "kernels/cpu/quant_tiles_x86.h"

namespace hearth::kernels::cpu {

QuantTile avx2_quant_tile(TensorType weight_type) { return x86_quant_tile(weight_type); }
QuantRowTile avx2_quant_row_tile(TensorType weight_type) { return x86_quant_row_tile(weight_type); }
FloatTile avx2_float_tile(TensorType weight_type) { return x86_float_tile(weight_type); }
Swiglu avx2_swiglu() { return swiglu_x86; }
AttentionHead avx2_attention_head(const AttentionShape& shape) { return x86_attention_head(shape); }

}  // namespace hearth::kernels::cpu
