// RMS normalization of rows: y = x / sqrt(mean(x^2) + eps) * gain.
#pragma once

#include <cstdint>

namespace hearth::kernels::cpu {

// For each of `n_rows` rows of `width` values; `gain` has `width` values. x and y may alias.
void rms_norm_rows(const float* x, const float* gain, float* y, int64_t n_rows, int64_t width, float eps);

}  // namespace hearth::kernels::cpu
