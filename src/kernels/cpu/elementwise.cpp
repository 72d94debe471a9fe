#include "kernels/cpu/elementwise.h"

#include <cmath>

#include "kernels/cpu/poly_exp.h"

namespace hearth::kernels::cpu {

void add(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void add_rows(float* x, const float* bias, int64_t n_rows, int64_t width) {
  for (int64_t r = 0; r < n_rows; ++r) add(x + r * width, bias, width);
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  // SiLU as llama.cpp computes it: poly_exp on whole vector chunks, libm's expf on the rest.
  const int64_t vectorized = n / kPolyExpLanes * kPolyExpLanes;
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    const float e = i < vectorized ? poly_exp(-g) : std::exp(-g);
    out[i] = g / (1.0f + e) * up[i];
  }
}

Swiglu swiglu_kernel(Isa isa) {
  switch (isa) {
    case Isa::avx512: return avx512_swiglu();
    case Isa::avx2: return avx2_swiglu();
    case Isa::scalar: return swiglu;
  }
  return swiglu;
}

}  // namespace hearth::kernels::cpu
