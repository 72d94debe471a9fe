#include "kernels/cpu/quant_tiles.h"

namespace hearth::kernels::cpu {

QuantTile quant_tile(TensorType weight_type, Isa isa) {
  switch (isa) {
    case Isa::avx512: return avx512_quant_tile(weight_type);
    case Isa::avx2: return avx2_quant_tile(weight_type);
    case Isa::scalar: return nullptr;
  }
  return nullptr;
}

QuantRowTile quant_row_tile(TensorType weight_type, Isa isa) {
  switch (isa) {
    case Isa::avx512: return avx512_quant_row_tile(weight_type);
    case Isa::avx2: return avx2_quant_row_tile(weight_type);
    case Isa::scalar: return nullptr;
  }
  return nullptr;
}

FloatTile float_tile(TensorType weight_type, Isa isa) {
  switch (isa) {
    case Isa::avx512: return avx512_float_tile(weight_type);
    case Isa::avx2: return avx2_float_tile(weight_type);
    case Isa::scalar: return nullptr;
  }
  return nullptr;
}

}  // namespace hearth::kernels::cpu
