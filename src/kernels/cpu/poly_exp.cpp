#include "kernels/cpu/poly_exp.h"

#include <cmath>
#include <limits>

namespace hearth::kernels::cpu {

float poly_exp(float x) {
  // n = round(x / ln 2) by the 1.5 * 2^23 shift; b = x - n ln 2 with ln 2 split in two parts; e^b by a polynomial.
  constexpr float kShift = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, kShift);
  const float n = z - kShift;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  const float u = b * b;
  const float j = std::fma(std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                           u, std::fma(0x1.ffffecp-1f, b, 1.0f));
  if (std::fabs(n) > 192.0f) return n <= 0.0f ? 0.0f : std::numeric_limits<float>::infinity();
  return std::ldexp(j, static_cast<int>(n));
}

}  // namespace hearth::kernels::cpu
