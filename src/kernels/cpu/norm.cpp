#include "kernels/cpu/norm.h"

#include <cmath>

namespace hearth::kernels::cpu {

void rms_norm_rows(const float* x, const float* gain, float* y, int64_t n_rows, int64_t width, float eps) {
  for (int64_t row = 0; row < n_rows; ++row) {
    const float* xr = x + row * width;
    float* yr = y + row * width;
    // The sum of squares is kept in double: rows of thousands of values lose digits in f32.
    double sum = 0.0;
    for (int64_t i = 0; i < width; ++i) sum += static_cast<double>(xr[i] * xr[i]);
    const float mean = static_cast<float>(sum / static_cast<double>(width));
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < width; ++i) yr[i] = (xr[i] * scale) * gain[i];
  }
}

}  // namespace hearth::kernels::cpu
