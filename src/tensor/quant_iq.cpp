// IQ4_NL and IQ4_XS: 4-bit indices into the fixed non-linear grid kIQ4Values, with a scale per 32 values.
#include <algorithm>
#include <array>
#include <cmath>

#include "tensor/quant_impl.h"

namespace hearth::tensor::impl {
namespace {

constexpr int kGroup = 32;
constexpr int kGridSize = 16;
// Grids tried on each side of the one through the extreme value.
constexpr int kScaleTries = 7;

// The index of the grid value nearest to v (the upper one on ties; NaN gives 0): the number of midpoints
// between neighbouring grid values that v reaches. Branch-free, so the search loops vectorize.
int nearest_grid_index(float v) {
  constexpr auto kMidpoints = [] {
    std::array<float, kGridSize - 1> mid{};
    for (int k = 0; k + 1 < kGridSize; ++k) mid[k] = 0.5f * static_cast<float>(kIQ4Values[k] + kIQ4Values[k + 1]);
    return mid;
  }();
  int index = 0;
  for (float mid : kMidpoints) index += v >= mid ? 1 : 0;
  return index;
}

// The scale d of x ~= d * grid[q] for one group, weighting values by x^2: the grid mapped so the extreme value
// reaches the top end, then 2 * kScaleTries + 1 grids around mapping it to the bottom end, each with its
// least-squares scale; the best is kept. Returns 0 for a zero group.
float fit_group_scale(const float* x) {
  const float max = signed_absmax(x, kGroup);
  if (std::fabs(max) < kTinyGroupMax) return 0.0f;
  // Exact power-of-two scaling keeps the cubic sums in range (see quant_k.cpp).
  int exponent;
  std::frexp(std::fabs(max), &exponent);
  const float p = std::ldexp(1.0f, 1 - exponent);
  float xs[kGroup];
  for (int j = 0; j < kGroup; ++j) xs[j] = x[j] * p;
  const float max_s = max * p;

  const auto evaluate = [&](float id, float& sum_qx, float& sum_q2) {
    sum_qx = 0;
    sum_q2 = 0;
    for (int j = 0; j < kGroup; ++j) {
      const float q = kIQ4Values[nearest_grid_index(id * xs[j])];
      const float w = xs[j] * xs[j];
      sum_qx += w * q * xs[j];
      sum_q2 += w * q * q;
    }
  };
  const float grid_low = kIQ4Values[0];
  float sum_qx, sum_q2;
  evaluate(-grid_low / max_s, sum_qx, sum_q2);
  float d = sum_q2 > 0 ? sum_qx / sum_q2 : 0.0f;
  float best = d * sum_qx;
  for (int t = -kScaleTries; t <= kScaleTries; ++t) {
    evaluate((static_cast<float>(t) + grid_low) / max_s, sum_qx, sum_q2);
    if (sum_q2 > 0 && sum_qx * sum_qx > best * sum_q2) {
      d = sum_qx / sum_q2;
      best = d * sum_qx;
    }
  }
  return d / p;
}

// Rounds a group against its decoded scale into grid indices; returns the squared error.
float round_group(const float* x, float step, int* index) {
  const float inverse = step != 0 ? 1.0f / step : 0.0f;
  float error = 0;
  for (int j = 0; j < kGroup; ++j) {
    index[j] = nearest_grid_index(inverse * x[j]);
    const float diff = step * static_cast<float>(kIQ4Values[index[j]]) - x[j];
    error += diff * diff;
  }
  return error;
}

// Nibbles ordered as Q4_0.
void pack_group(const int* index, uint8_t* qs) {
  for (int j = 0; j < kGroup / 2; ++j) qs[j] = static_cast<uint8_t>(index[j] | (index[j + kGroup / 2] << 4));
}

}  // namespace

void dequantize(const BlockIQ4_NL& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int j = 0; j < kGroup / 2; ++j) {
    y[j] = d * static_cast<float>(kIQ4Values[b.qs[j] & 0xf]);
    y[j + kGroup / 2] = d * static_cast<float>(kIQ4Values[b.qs[j] >> 4]);
  }
}

void dequantize(const BlockIQ4_XS& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int g = 0; g < kQK_K / kGroup; ++g) {
    const int stored = ((b.scales_l[g / 2] >> (4 * (g % 2))) & 0xf) | (((b.scales_h >> (2 * g)) & 3) << 4);
    const float dl = d * static_cast<float>(stored - 32);
    const uint8_t* qs = b.qs + 16 * g;
    float* out = y + kGroup * g;
    for (int j = 0; j < kGroup / 2; ++j) {
      out[j] = dl * static_cast<float>(kIQ4Values[qs[j] & 0xf]);
      out[j + kGroup / 2] = dl * static_cast<float>(kIQ4Values[qs[j] >> 4]);
    }
  }
}

void quantize(const float* x, BlockIQ4_NL& b) {
  // The fitted scale rounded to fp16, or one of its fp16 neighbours when that decodes closer.
  const uint16_t fitted = scale_to_fp16(fit_group_scale(x));
  int index[kGroup] = {}, trial[kGroup];  // index stays defined should every candidate scale be refused
  float best = -1;
  for (int delta = -2; delta <= 2; ++delta) {
    const uint16_t candidate = static_cast<uint16_t>(fitted + delta);
    if ((candidate & 0x7c00) == 0x7c00 || ((candidate ^ fitted) & 0x8000) != 0) continue;  // Inf/NaN or sign flip
    const float error = round_group(x, fp16_to_fp32(candidate), trial);
    if (best < 0 || error < best) {
      best = error;
      b.d = candidate;
      std::copy(trial, trial + kGroup, index);
    }
  }
  pack_group(index, b.qs);
}

void quantize(const float* x, BlockIQ4_XS& b) {
  constexpr int kGroups = kQK_K / kGroup;
  float scales[kGroups];
  float max_scale = 0, amax_scale = 0;
  for (int g = 0; g < kGroups; ++g) {
    scales[g] = fit_group_scale(x + kGroup * g);
    if (std::fabs(scales[g]) > amax_scale) {
      amax_scale = std::fabs(scales[g]);
      max_scale = scales[g];
    }
  }
  // Signed 6-bit group scales: the largest lands on -32.
  b.d = scale_to_fp16(-max_scale / 32.0f);
  const float d = fp16_to_fp32(b.d);
  const float id = d != 0 ? 1.0f / d : 0.0f;
  uint16_t scales_h = 0;
  int index[kGroup] = {}, trial[kGroup];
  for (int g = 0; g < kGroups; ++g) {
    // The nearest scale level, or a neighbour of it when that decodes closer.
    const int level0 = clamp_int(nearest_int(id * scales[g]), -32, 31);
    int best_level = level0;
    float best = -1;
    for (int level = level0 - 1; level <= level0 + 1; ++level) {
      if (level < -32 || level > 31) continue;
      const float error = round_group(x + kGroup * g, d * static_cast<float>(level), trial);
      if (best < 0 || error < best) {
        best = error;
        best_level = level;
        std::copy(trial, trial + kGroup, index);
      }
    }
    const int stored = best_level + 32;
    b.scales_l[g / 2] = static_cast<uint8_t>(b.scales_l[g / 2] | ((stored & 0xf) << (4 * (g % 2))));
    scales_h = static_cast<uint16_t>(scales_h | ((stored >> 4) << (2 * g)));
    pack_group(index, b.qs + 16 * g);
  }
  b.scales_h = scales_h;
}

}  // namespace hearth::tensor::impl
