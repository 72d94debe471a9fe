#include "kernels/cpu/quant_dot.h"

namespace hearth::kernels::cpu {

QuantDotKernels other_quant_dot_kernels(TensorType) { return {}; }

}  // namespace hearth::kernels::cpu
