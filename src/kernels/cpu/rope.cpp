#include "kernels/cpu/rope.h"

#include <cmath>
#include <vector>

namespace hearth::kernels::cpu {

void rope_rows(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, const int32_t* positions,
               const RopeParams& params) {
  const int64_t n_pairs = params.n_dims / 2;
  // The frequency of pair i is freq_base^(-2i/n_dims), built by repeated multiplication in f32 (as llama.cpp
  // does) so angles agree with the reference engine to the last bit as far as possible.
  const float step = std::pow(params.freq_base, -2.0f / static_cast<float>(params.n_dims));
  std::vector<float> cos_theta(n_pairs);
  std::vector<float> sin_theta(n_pairs);
  for (int64_t t = 0; t < n_tokens; ++t) {
    float theta = static_cast<float>(positions[t]);
    for (int64_t i = 0; i < n_pairs; ++i) {
      const float factor = params.freq_factors != nullptr ? params.freq_factors[i] : 1.0f;
      const float angle = params.freq_scale * (theta / factor);
      cos_theta[i] = std::cos(angle);
      sin_theta[i] = std::sin(angle);
      theta *= step;
    }
    for (int64_t h = 0; h < n_heads; ++h) {
      float* head = x + (t * n_heads + h) * head_dim;
      for (int64_t i = 0; i < n_pairs; ++i) {
        float* a = params.pairing == RopePairing::Adjacent ? head + 2 * i : head + i;
        float* b = params.pairing == RopePairing::Adjacent ? head + 2 * i + 1 : head + i + n_pairs;
        const float x0 = *a;
        const float x1 = *b;
        // One product of each pair fused, as llama.cpp's build (GCC contracting a*b - c*d) computes it.
        *a = std::fma(x0, cos_theta[i], -(x1 * sin_theta[i]));
        *b = std::fma(x1, cos_theta[i], x0 * sin_theta[i]);
      }
    }
  }
}

}  // namespace hearth::kernels::cpu
