// The 256-element K formats (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K).
//
// Quantization is two-level, as in ggml's reference quantizers: first each group (16 or 32 values) gets the
// best float scale (and offset) a small search finds, then those are themselves quantized against one fp16
// super-scale, and finally every value is rounded against the group scale exactly as it will be decoded.
#include <cmath>
#include <cstring>

#include "tensor/quant_impl.h"

namespace hearth::tensor::impl {
namespace {

enum class ErrorNorm { kAbsolute, kSquared };

struct ScaleOffset {
  float scale;   // x ~= scale * q - offset
  float offset;  // >= 0
};

// Fits x ~= scale * q - offset with q in [0, nmax] and offset >= 0, minimizing the weighted error.
// The starting grid maps [min(x, 0), max(x)] onto [0, nmax]; then `steps` + 1 slightly stretched or shrunk grids
// (nmax + rmin + rdelta * k steps over the range) are tried, each followed by the weighted least-squares scale and
// offset for its rounding; the best is kept.
// Sums in the search loops run in kLanes independent accumulators so that they vectorize (a sequential float sum
// cannot be reordered by the compiler); group sizes are multiples of kLanes.
constexpr int kLanes = 8;

float lane_total(const float (&lanes)[kLanes]) {
  return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
}

template <ErrorNorm norm>
ScaleOffset fit_scale_offset(const float* x, const float* w, int n, int nmax, float rmin, float rdelta, int steps) {
  float lo = x[0], hi = x[0];
  float sum_w = w[0], sum_x = w[0] * x[0];
  for (int i = 1; i < n; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  lo = lo > 0 ? 0 : lo;  // the offset only ever shifts down
  if (hi == lo) return {0.0f, -lo};

  const float top = static_cast<float>(nmax);
  float q[kQK];
  const auto error_of = [&](float scale, float min) {
    float error[kLanes] = {};
    for (int i = 0; i < n; i += kLanes) {
      for (int k = 0; k < kLanes; ++k) {
        const float diff = scale * q[i + k] + min - x[i + k];
        error[k] += w[i + k] * (norm == ErrorNorm::kAbsolute ? std::fabs(diff) : diff * diff);
      }
    }
    return lane_total(error);
  };

  float iscale = top / (hi - lo);
  float best_scale = 1.0f / iscale;
  float best_min = lo;
  for (int i = 0; i < n; ++i) q[i] = round_clamp(iscale * (x[i] - lo), 0, top);
  float best_error = error_of(best_scale, best_min);

  for (int step = 0; step <= steps; ++step) {
    iscale = (rmin + rdelta * static_cast<float>(step) + top) / (hi - lo);
    float lanes_l[kLanes] = {}, lanes_l2[kLanes] = {}, lanes_xl[kLanes] = {};
    for (int i = 0; i < n; i += kLanes) {
      for (int k = 0; k < kLanes; ++k) {
        const float l = round_clamp(iscale * (x[i + k] - lo), 0, top);
        q[i + k] = l;
        lanes_l[k] += w[i + k] * l;
        lanes_l2[k] += w[i + k] * l * l;
        lanes_xl[k] += w[i + k] * l * x[i + k];
      }
    }
    const float sum_l = lane_total(lanes_l), sum_l2 = lane_total(lanes_l2), sum_xl = lane_total(lanes_xl);
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0)) continue;
    float scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (min > 0) {
      min = 0;
      scale = sum_xl / sum_l2;
    }
    const float error = error_of(scale, min);
    if (error < best_error) {
      best_error = error;
      best_scale = scale;
      best_min = min;
    }
  }
  return {best_scale, -best_min};
}

// A power of two p with amax * p in [1, 2). Scaling by it is exact, so searches that square and cube values run
// where they can neither overflow nor underflow, and give the same answer as unscaled (divide the scale by p).
float normalizing_factor(float amax) {
  int exponent;
  std::frexp(amax, &exponent);
  return std::ldexp(1.0f, 1 - exponent);
}

// Fits x ~= scale * q with q in [-nmax, nmax - 1], weighting each value by x^2: the plain grid through the
// extreme value plus 18 nearby grids, each with its least-squares scale. Returns the scale (0 for a zero group).
float fit_symmetric_scale(const float* x, int n, int nmax) {
  const float max = signed_absmax(x, n);
  if (std::fabs(max) < kTinyGroupMax) return 0.0f;
  const float p = normalizing_factor(std::fabs(max));
  float xs[kQK];
  for (int i = 0; i < n; ++i) xs[i] = x[i] * p;
  const float max_s = max * p;

  const float lo = -static_cast<float>(nmax), hi = static_cast<float>(nmax - 1);
  const auto evaluate = [&](float iscale, float& sum_lx, float& sum_l2) {
    float lanes_lx[kLanes] = {}, lanes_l2[kLanes] = {};
    for (int i = 0; i < n; i += kLanes) {
      for (int k = 0; k < kLanes; ++k) {
        const float v = xs[i + k];
        const float l = round_clamp(iscale * v, lo, hi);
        const float w = v * v;
        lanes_lx[k] += w * v * l;
        lanes_l2[k] += w * l * l;
      }
    }
    sum_lx = lane_total(lanes_lx);
    sum_l2 = lane_total(lanes_l2);
  };
  float sum_lx, sum_l2;
  evaluate(-static_cast<float>(nmax) / max_s, sum_lx, sum_l2);
  float scale = sum_l2 > 0 ? sum_lx / sum_l2 : 0.0f;
  float best = scale * sum_lx;
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    evaluate(-(static_cast<float>(nmax) + 0.1f * static_cast<float>(k)) / max_s, sum_lx, sum_l2);
    if (sum_l2 > 0 && sum_lx * sum_lx > best * sum_l2) {
      scale = sum_lx / sum_l2;
      best = scale * sum_lx;
    }
  }
  return scale / p;
}

// Like fit_symmetric_scale, but refines the rounding itself: starting from the grid through the extreme value,
// each q is moved to what the least-squares scale of the others asks for whenever that lowers the weighted error,
// for up to five passes.
float fit_scale_by_descent(const float* x, int n, int nmax) {
  const float max = signed_absmax(x, n);
  if (std::fabs(max) < kTinyGroupMax) return 0.0f;
  const float p = normalizing_factor(std::fabs(max));
  float xs[kQK];
  for (int i = 0; i < n; ++i) xs[i] = x[i] * p;
  const float iscale = -static_cast<float>(nmax) / (max * p);

  int q[kQK];
  float sum_lx = 0, sum_l2 = 0;
  for (int i = 0; i < n; ++i) {
    q[i] = clamp_int(nearest_int(iscale * xs[i]), -nmax, nmax - 1);
    const float w = xs[i] * xs[i];
    sum_lx += w * xs[i] * static_cast<float>(q[i]);
    sum_l2 += w * static_cast<float>(q[i] * q[i]);
  }
  for (int pass = 0; pass < 5; ++pass) {
    bool changed = false;
    for (int i = 0; i < n; ++i) {
      const float w = xs[i] * xs[i];
      float slx = sum_lx - w * xs[i] * static_cast<float>(q[i]);
      if (!(slx > 0)) continue;
      float sl2 = sum_l2 - w * static_cast<float>(q[i] * q[i]);
      const int candidate = clamp_int(nearest_int(xs[i] * sl2 / slx), -nmax, nmax - 1);
      if (candidate == q[i]) continue;
      slx += w * xs[i] * static_cast<float>(candidate);
      sl2 += w * static_cast<float>(candidate * candidate);
      // Keep the move when it raises sum_lx^2 / sum_l2, i.e. lowers the error of the least-squares scale.
      if (sl2 > 0 && slx * slx * sum_l2 > sum_lx * sum_lx * sl2) {
        q[i] = candidate;
        sum_lx = slx;
        sum_l2 = sl2;
        changed = true;
      }
    }
    if (!changed) break;
  }
  if (!(sum_l2 > 0)) return 1.0f / (iscale * p);
  return sum_lx / sum_l2 / p;
}

// Q4_K / Q5_K pack eight 6-bit scales and eight 6-bit mins into 12 bytes: groups 0-3 in the low six bits of
// bytes 0-3 (scales) and 4-7 (mins); groups 4-7 in the nibbles of bytes 8-11 with their top two bits in the
// spare top bits of bytes 0-7.
void pack_scale_min(uint8_t (&packed)[kKScaleBytes], int group, int scale, int min) {
  if (group < 4) {
    packed[group] = static_cast<uint8_t>((packed[group] & 0xc0) | scale);
    packed[group + 4] = static_cast<uint8_t>((packed[group + 4] & 0xc0) | min);
  } else {
    packed[group + 4] = static_cast<uint8_t>((scale & 0xf) | ((min & 0xf) << 4));
    packed[group - 4] = static_cast<uint8_t>(packed[group - 4] | ((scale >> 4) << 6));
    packed[group] = static_cast<uint8_t>(packed[group] | ((min >> 4) << 6));
  }
}

void unpack_scale_min(const uint8_t (&packed)[kKScaleBytes], int group, int& scale, int& min) {
  if (group < 4) {
    scale = packed[group] & 63;
    min = packed[group + 4] & 63;
  } else {
    scale = (packed[group + 4] & 0xf) | ((packed[group - 4] >> 6) << 4);
    min = (packed[group + 4] >> 4) | ((packed[group] >> 6) << 4);
  }
}

// Q3_K's sixteen 6-bit scales: low nibbles of groups 0-7 / 8-15 in the low / high nibbles of bytes 0-7, the top
// two bits of group g in bits 2*(g/4) of byte 8 + g%4.
int unpack_q3_scale(const uint8_t (&packed)[kKScaleBytes], int group) {
  const int low = group < 8 ? packed[group] & 0xf : packed[group - 8] >> 4;
  const int high = (packed[8 + group % 4] >> (2 * (group / 4))) & 3;
  return (low | (high << 4)) - 32;
}

void pack_q3_scale(uint8_t (&packed)[kKScaleBytes], int group, int stored) {
  if (group < 8) packed[group] = static_cast<uint8_t>(packed[group] | (stored & 0xf));
  else packed[group - 8] = static_cast<uint8_t>(packed[group - 8] | ((stored & 0xf) << 4));
  packed[8 + group % 4] = static_cast<uint8_t>(packed[8 + group % 4] | ((stored >> 4) << (2 * (group / 4))));
}

// Q2_K and Q3_K store the two low bits of element 128*h + 32*k + l in bits 2k of qs[32*h + l].
void pack_2bit(const int* q, uint8_t* qs) {
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const int* e = q + 128 * h + l;
      qs[32 * h + l] = static_cast<uint8_t>((e[0] & 3) | ((e[32] & 3) << 2) | ((e[64] & 3) << 4) | ((e[96] & 3) << 6));
    }
  }
}

// Quantizes non-negative values v to codes in [0, code_max] times one step, minimizing sum w * (v - step * code)^2.
// Tries the grids around code_max / max(v), each with its least-squares step, then moves single codes while that
// helps. Returns the step (0 when every value is 0).
float quantize_codes(const float* v, const float* w, int n, int code_max, int* codes) {
  float max = 0;
  for (int j = 0; j < n; ++j) max = v[j] > max ? v[j] : max;
  if (max < kTinyGroupMax) {
    for (int j = 0; j < n; ++j) codes[j] = 0;
    return 0.0f;
  }
  const auto least_squares_error = [&](const int* c, float& step) {
    float sum_vc = 0, sum_c2 = 0, sum_v2 = 0;
    for (int j = 0; j < n; ++j) {
      sum_vc += w[j] * v[j] * static_cast<float>(c[j]);
      sum_c2 += w[j] * static_cast<float>(c[j] * c[j]);
      sum_v2 += w[j] * v[j] * v[j];
    }
    step = sum_c2 > 0 ? sum_vc / sum_c2 : 0.0f;
    return sum_v2 - step * sum_vc;  // the weighted error of the least-squares step
  };
  int trial[kQK_K / 16];
  float best_step = max / static_cast<float>(code_max);
  float best_error = -1;
  for (int k = -6; k <= 6; ++k) {
    const float iscale = (static_cast<float>(code_max) + 0.1f * static_cast<float>(k)) / max;
    for (int j = 0; j < n; ++j) trial[j] = clamp_int(nearest_int(iscale * v[j]), 0, code_max);
    float step;
    const float error = least_squares_error(trial, step);
    if (best_error < 0 || error < best_error) {
      best_error = error;
      best_step = step;
      for (int j = 0; j < n; ++j) codes[j] = trial[j];
    }
  }
  for (int pass = 0; pass < 4; ++pass) {
    bool changed = false;
    for (int j = 0; j < n; ++j) {
      const int candidate = best_step > 0 ? clamp_int(nearest_int(v[j] / best_step), 0, code_max) : codes[j];
      if (candidate == codes[j]) continue;
      const int kept = codes[j];
      codes[j] = candidate;
      float step;
      const float error = least_squares_error(codes, step);
      if (error < best_error) {
        best_error = error;
        best_step = step;
        changed = true;
      } else {
        codes[j] = kept;
      }
    }
    if (!changed) break;
  }
  return best_step;
}

// How one scale-and-min K format quantizes: groups of `group` values with q in [0, nmax], scale and min codes in
// [0, code_max], and the parameters of the per-group fit.
struct ScaleMinLayout {
  int group;
  int nmax;
  int code_max;
  float rmin;
  float rdelta;
  int steps;
  ErrorNorm norm;
  bool typical_weight;  // weight values by rms(group) + |x| (else by |x|)
};

// The stored pieces of a scale-and-min super-block.
struct ScaleMinBlock {
  uint16_t d = 0;
  uint16_t dmin = 0;
  int scale_codes[kQK_K / 16] = {};
  int min_codes[kQK_K / 16] = {};
  int q[kQK_K] = {};
};

// Squared error of one group decoded with the given step and offset, rounding each value optimally into q.
float round_group(const float* x, int n, int nmax, float step, float offset, int* q) {
  const float inverse = step != 0 ? 1.0f / step : 0.0f;
  float error[kLanes] = {};
  for (int i = 0; i < n; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      const float level = round_clamp((x[i + k] + offset) * inverse, 0, static_cast<float>(nmax));
      q[i + k] = static_cast<int>(level);
      const float diff = step * level - offset - x[i + k];
      error[k] += diff * diff;
    }
  }
  return lane_total(error);
}

// Squared error of one group decoded as step * q with q in [qmin, qmax], rounding each value optimally into q.
float round_symmetric_group(const float* x, int n, int qmin, int qmax, float step, int* q) {
  const float inverse = step != 0 ? 1.0f / step : 0.0f;
  float error[kLanes] = {};
  for (int i = 0; i < n; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      const float level = round_clamp(x[i + k] * inverse, static_cast<float>(qmin), static_cast<float>(qmax));
      q[i + k] = static_cast<int>(level);
      const float diff = step * level - x[i + k];
      error[k] += diff * diff;
    }
  }
  return lane_total(error);
}

// Q2_K, Q4_K and Q5_K: fit each group's scale and offset, quantize those with a weighted search for the two
// super-scales, then let each group try the neighbouring scale and min codes and keep what decodes closest.
ScaleMinBlock quantize_scale_min(const float* x, const ScaleMinLayout& layout) {
  const int groups = kQK_K / layout.group;
  float scales[kQK_K / 16], mins[kQK_K / 16], importance[kQK_K / 16];
  for (int g = 0; g < groups; ++g) {
    const float* xg = x + layout.group * g;
    float typical = 0;
    if (layout.typical_weight) {
      float sum_x2 = 0;
      for (int l = 0; l < layout.group; ++l) sum_x2 += xg[l] * xg[l];
      typical = std::sqrt(sum_x2 / static_cast<float>(layout.group));
    }
    float w[32];
    importance[g] = 0;
    for (int l = 0; l < layout.group; ++l) {
      w[l] = typical + std::fabs(xg[l]);
      importance[g] += w[l];
    }
    const ScaleOffset fit =
        layout.norm == ErrorNorm::kAbsolute
            ? fit_scale_offset<ErrorNorm::kAbsolute>(xg, w, layout.group, layout.nmax, layout.rmin, layout.rdelta, layout.steps)
            : fit_scale_offset<ErrorNorm::kSquared>(xg, w, layout.group, layout.nmax, layout.rmin, layout.rdelta, layout.steps);
    scales[g] = fit.scale;
    mins[g] = fit.offset;
  }
  ScaleMinBlock block;
  block.d = scale_to_fp16(quantize_codes(scales, importance, groups, layout.code_max, block.scale_codes));
  block.dmin = scale_to_fp16(quantize_codes(mins, importance, groups, layout.code_max, block.min_codes));
  const float d = fp16_to_fp32(block.d), dmin = fp16_to_fp32(block.dmin);
  int trial[32];
  for (int g = 0; g < groups; ++g) {
    const float* xg = x + layout.group * g;
    int* qg = block.q + layout.group * g;
    const int sc0 = block.scale_codes[g], m0 = block.min_codes[g];
    float best = -1;
    for (int sc = sc0 - 1; sc <= sc0 + 1; ++sc) {
      if (sc < 0 || sc > layout.code_max) continue;
      for (int m = m0 - 1; m <= m0 + 1; ++m) {
        if (m < 0 || m > layout.code_max) continue;
        const float error = round_group(xg, layout.group, layout.nmax, d * static_cast<float>(sc),
                                        dmin * static_cast<float>(m), trial);
        if (best < 0 || error < best) {
          best = error;
          block.scale_codes[g] = sc;
          block.min_codes[g] = m;
          for (int l = 0; l < layout.group; ++l) qg[l] = trial[l];
        }
      }
    }
  }
  return block;
}

constexpr ScaleMinLayout kQ2Layout{16, 3, 15, -0.5f, 0.1f, 15, ErrorNorm::kAbsolute, false};
constexpr ScaleMinLayout kQ4Layout{32, 15, 63, -1.0f, 0.2f, 10, ErrorNorm::kSquared, true};
constexpr ScaleMinLayout kQ5Layout{32, 31, 63, -0.5f, 0.2f, 7, ErrorNorm::kSquared, true};

}  // namespace

void dequantize(const BlockQ2_K& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  const float dmin = fp16_to_fp32(b.dmin);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* q = b.qs + 32 * h;
    for (int k = 0; k < 4; ++k) {
      const int shift = 2 * k;
      for (int half = 0; half < 2; ++half) {
        const uint8_t sc = b.scales[8 * h + 2 * k + half];
        const float dl = d * static_cast<float>(sc & 0xf);
        const float ml = dmin * static_cast<float>(sc >> 4);
        float* out = y + 128 * h + 32 * k + 16 * half;
        for (int l = 0; l < 16; ++l) out[l] = dl * static_cast<float>((q[16 * half + l] >> shift) & 3) - ml;
      }
    }
  }
}

void dequantize(const BlockQ3_K& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* q = b.qs + 32 * h;
    for (int k = 0; k < 4; ++k) {
      const int shift = 2 * k;
      const int high_bit = 1 << (4 * h + k);
      for (int half = 0; half < 2; ++half) {
        const float dl = d * static_cast<float>(unpack_q3_scale(b.scales, 8 * h + 2 * k + half));
        float* out = y + 128 * h + 32 * k + 16 * half;
        for (int l = 0; l < 16; ++l) {
          const int i = 16 * half + l;
          const int value = ((q[i] >> shift) & 3) - ((b.hmask[i] & high_bit) ? 0 : 4);
          out[l] = dl * static_cast<float>(value);
        }
      }
    }
  }
}

void dequantize(const BlockQ4_K& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  const float dmin = fp16_to_fp32(b.dmin);
  for (int h = 0; h < 4; ++h) {
    const uint8_t* q = b.qs + 32 * h;
    int sc, m;
    unpack_scale_min(b.scales, 2 * h, sc, m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    unpack_scale_min(b.scales, 2 * h + 1, sc, m);
    const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
    for (int l = 0; l < 32; ++l) y[64 * h + l] = d1 * static_cast<float>(q[l] & 0xf) - m1;
    for (int l = 0; l < 32; ++l) y[64 * h + 32 + l] = d2 * static_cast<float>(q[l] >> 4) - m2;
  }
}

void dequantize(const BlockQ5_K& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  const float dmin = fp16_to_fp32(b.dmin);
  for (int h = 0; h < 4; ++h) {
    const uint8_t* q = b.qs + 32 * h;
    const int bit_low = 1 << (2 * h), bit_high = 2 << (2 * h);
    int sc, m;
    unpack_scale_min(b.scales, 2 * h, sc, m);
    const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
    unpack_scale_min(b.scales, 2 * h + 1, sc, m);
    const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
    for (int l = 0; l < 32; ++l) {
      y[64 * h + l] = d1 * static_cast<float>((q[l] & 0xf) + ((b.qh[l] & bit_low) ? 16 : 0)) - m1;
    }
    for (int l = 0; l < 32; ++l) {
      y[64 * h + 32 + l] = d2 * static_cast<float>((q[l] >> 4) + ((b.qh[l] & bit_high) ? 16 : 0)) - m2;
    }
  }
}

void dequantize(const BlockQ6_K& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b.ql + 64 * h;
    const uint8_t* qh = b.qh + 32 * h;
    const int8_t* sc = b.scales + 8 * h;
    float* out = y + 128 * h;
    for (int l = 0; l < 32; ++l) {
      const int g = l / 16;
      const int q1 = ((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      out[l] = d * static_cast<float>(sc[g]) * static_cast<float>(q1);
      out[l + 32] = d * static_cast<float>(sc[g + 2]) * static_cast<float>(q2);
      out[l + 64] = d * static_cast<float>(sc[g + 4]) * static_cast<float>(q3);
      out[l + 96] = d * static_cast<float>(sc[g + 6]) * static_cast<float>(q4);
    }
  }
}

void dequantize(const BlockQ8_K& b, float* y) {
  for (int j = 0; j < kQK_K; ++j) y[j] = b.d * static_cast<float>(b.qs[j]);
}

void quantize(const float* x, BlockQ2_K& b) {
  const ScaleMinBlock block = quantize_scale_min(x, kQ2Layout);
  b.d = block.d;
  b.dmin = block.dmin;
  for (int g = 0; g < kQK_K / 16; ++g) b.scales[g] = static_cast<uint8_t>(block.scale_codes[g] | (block.min_codes[g] << 4));
  pack_2bit(block.q, b.qs);
}

void quantize(const float* x, BlockQ3_K& b) {
  constexpr int kGroups = kQK_K / 16;
  float scales[kGroups];
  float max_scale = 0, amax_scale = 0;
  for (int g = 0; g < kGroups; ++g) {
    scales[g] = fit_scale_by_descent(x + 16 * g, 16, 4);
    if (std::fabs(scales[g]) > amax_scale) {
      amax_scale = std::fabs(scales[g]);
      max_scale = scales[g];
    }
  }
  int q[kQK_K];
  if (amax_scale == 0) {
    b.d = 0;
    for (int& v : q) v = 4;
  } else {
    // Signed 6-bit scales: the largest lands on -32, the one end the range reaches. Each group then tries the
    // neighbouring scale levels and keeps the one that decodes closest.
    const float iscale = -32.0f / max_scale;
    b.d = scale_to_fp16(1.0f / iscale);
    const float d = fp16_to_fp32(b.d);
    int trial[16];
    for (int g = 0; g < kGroups; ++g) {
      const int level0 = clamp_int(nearest_int(iscale * scales[g]), -32, 31);
      float best = -1;
      int best_level = level0;
      for (int level = level0 - 1; level <= level0 + 1; ++level) {
        if (level < -32 || level > 31) continue;
        const float error = round_symmetric_group(x + 16 * g, 16, -4, 3, d * static_cast<float>(level), trial);
        if (best < 0 || error < best) {
          best = error;
          best_level = level;
          for (int l = 0; l < 16; ++l) q[16 * g + l] = trial[l] + 4;
        }
      }
      pack_q3_scale(b.scales, g, best_level + 32);
    }
  }
  for (int i = 0; i < kQK_K; ++i) {
    if (q[i] > 3) b.hmask[i % 32] = static_cast<uint8_t>(b.hmask[i % 32] | (1 << (i / 32)));
  }
  pack_2bit(q, b.qs);
}

void quantize(const float* x, BlockQ4_K& b) {
  const ScaleMinBlock block = quantize_scale_min(x, kQ4Layout);
  b.d = block.d;
  b.dmin = block.dmin;
  for (int g = 0; g < kQK_K / 32; ++g) pack_scale_min(b.scales, g, block.scale_codes[g], block.min_codes[g]);
  for (int h = 0; h < 4; ++h) {
    for (int l = 0; l < 32; ++l) {
      b.qs[32 * h + l] = static_cast<uint8_t>(block.q[64 * h + l] | (block.q[64 * h + 32 + l] << 4));
    }
  }
}

void quantize(const float* x, BlockQ5_K& b) {
  const ScaleMinBlock block = quantize_scale_min(x, kQ5Layout);
  b.d = block.d;
  b.dmin = block.dmin;
  for (int g = 0; g < kQK_K / 32; ++g) pack_scale_min(b.scales, g, block.scale_codes[g], block.min_codes[g]);
  for (int h = 0; h < 4; ++h) {
    for (int l = 0; l < 32; ++l) {
      const int low = block.q[64 * h + l], high = block.q[64 * h + 32 + l];
      b.qs[32 * h + l] = static_cast<uint8_t>((low & 0xf) | ((high & 0xf) << 4));
      b.qh[l] = static_cast<uint8_t>(b.qh[l] | ((low >> 4) << (2 * h)) | ((high >> 4) << (2 * h + 1)));
    }
  }
}

void quantize(const float* x, BlockQ6_K& b) {
  constexpr int kGroups = kQK_K / 16;
  float scales[kGroups];
  float max_scale = 0, amax_scale = 0;
  for (int g = 0; g < kGroups; ++g) {
    scales[g] = fit_symmetric_scale(x + 16 * g, 16, 32);
    if (std::fabs(scales[g]) > amax_scale) {
      amax_scale = std::fabs(scales[g]);
      max_scale = scales[g];
    }
  }
  int q[kQK_K];
  if (amax_scale < kTinyGroupMax) {
    b.d = 0;
    for (int& v : q) v = 32;
  } else {
    // int8 scales: the largest lands on -128.
    const float iscale = -128.0f / max_scale;
    b.d = scale_to_fp16(1.0f / iscale);
    for (int g = 0; g < kGroups; ++g) b.scales[g] = static_cast<int8_t>(clamp_int(nearest_int(iscale * scales[g]), -128, 127));
    const float d = fp16_to_fp32(b.d);
    for (int g = 0; g < kGroups; ++g) {
      const float step = d * static_cast<float>(b.scales[g]);
      for (int l = 0; l < 16; ++l) {
        q[16 * g + l] = step == 0 ? 32 : clamp_int(nearest_int(x[16 * g + l] / step), -32, 31) + 32;
      }
    }
  }
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const int* e = q + 128 * h + l;
      b.ql[64 * h + l] = static_cast<uint8_t>((e[0] & 0xf) | ((e[64] & 0xf) << 4));
      b.ql[64 * h + 32 + l] = static_cast<uint8_t>((e[32] & 0xf) | ((e[96] & 0xf) << 4));
      b.qh[32 * h + l] = static_cast<uint8_t>((e[0] >> 4) | ((e[32] >> 4) << 2) | ((e[64] >> 4) << 4) | ((e[96] >> 4) << 6));
    }
  }
}

void quantize(const float* x, BlockQ8_K& b) {
  const float max = signed_absmax(x, kQK_K);
  const float iscale = max != 0 ? -128.0f / max : 0.0f;
  if (!(std::fabs(iscale) > 0) || !std::isfinite(iscale)) {
    b.d = 0;
    return;  // qs and bsums are already zero
  }
  for (int j = 0; j < kQK_K; ++j) b.qs[j] = static_cast<int8_t>(clamp_int(nearest_int(iscale * x[j]), -128, 127));
  for (int g = 0; g < kQK_K / 16; ++g) {
    int sum = 0;
    for (int l = 0; l < 16; ++l) sum += b.qs[16 * g + l];
    b.bsums[g] = static_cast<int16_t>(sum);
  }
  b.d = 1.0f / iscale;
}

}  // namespace hearth::tensor::impl
