// The x86 vector kernels compiled for AVX-512 (F, BW, VL, VNNI) on top of AVX2 (CMake sets the flags for this file
// only): VNNI's dpbusd takes the Q8_0-family products to int32 in one instruction.
// GCC 12's own AVX-512 intrinsics (_mm512_broadcast_i64x4 and others) trip -Wmaybe-uninitialized inside their
// headers (GCC bug 105593); nothing in this file is read uninitialized.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "kernels/cpu/attention_x86.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/float_tiles_x86.h"
#include "kernels/cpu/quant_tiles_x86.h"

namespace hearth::kernels::cpu {

QuantTile avx512_quant_tile(TensorType weight_type) { return x86_quant_tile(weight_type); }
QuantRowTile avx512_quant_row_tile(TensorType weight_type) { return x86_quant_row_tile(weight_type); }
FloatTile avx512_float_tile(TensorType weight_type) { return x86_float_tile(weight_type); }
Swiglu avx512_swiglu() { return swiglu_x86; }
AttentionHead avx512_attention_head(const AttentionShape& shape) { return x86_attention_head(shape); }

}  // namespace hearth::kernels::cpu
