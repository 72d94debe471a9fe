#include "kernels/cpu/quant_dot.h"

#include <cmath>

#include "tensor/blocks.h"
#include "tensor/quant.h"

namespace hearth::kernels::cpu {
namespace {

using tensor::fp16_to_fp32;

// The horizontal sum of an 8-lane register as llama.cpp's x86 code does it (high half onto low half, then pairs).
float fold_lanes(const float (&lane)[8]) {
  return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

}  // namespace

float dot_q8_0_q8_0(const std::byte* weight_row, const std::byte* activation_row, int64_t n) {
  const auto* w = reinterpret_cast<const tensor::BlockQ8_0*>(weight_row);
  const auto* x = reinterpret_cast<const tensor::BlockQ8_0*>(activation_row);
  float lane[8] = {};
  for (int64_t b = 0; b < n / tensor::kQK; ++b) {
    const float d = fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d);
    for (int l = 0; l < 8; ++l) {
      int32_t sum = 0;
      for (int j = 4 * l; j < 4 * l + 4; ++j) sum += w[b].qs[j] * x[b].qs[j];
      lane[l] = std::fma(d, static_cast<float>(sum), lane[l]);
    }
  }
  return fold_lanes(lane);
}

QuantDot quant_dot_kernel(TensorType weight_type) {
  if (weight_type == TensorType::Q8_0) return dot_q8_0_q8_0;
  if (const QuantDot kernel = repacked_quant_dot_kernel(weight_type)) return kernel;
  if (const QuantDot kernel = kquant_dot_kernel(weight_type)) return kernel;
  return other_quant_dot_kernel(weight_type);
}

}  // namespace hearth::kernels::cpu
