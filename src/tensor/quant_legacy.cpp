// The 32-element formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1.
//
// Quantization picks the scale the way ggml's reference does (the extreme value lands on the end of the
// integer range) but then rounds every element against the scale as stored in fp16, which is never worse.
#include <cstring>

#include "tensor/quant_impl.h"

namespace hearth::tensor::impl {
namespace {

constexpr int kHalf = kQK / 2;

// 1 / the stored scale, or 0 for a zero scale (then every element rounds to the zero point).
float inverse_of_stored(uint16_t d) {
  const float value = fp16_to_fp32(d);
  return value != 0.0f ? 1.0f / value : 0.0f;
}

void min_max(const float* x, int n, float& lo, float& hi) {
  lo = x[0];
  hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
}

uint32_t load_qh(const uint8_t (&qh)[4]) {
  uint32_t bits;
  std::memcpy(&bits, qh, sizeof bits);
  return bits;
}

// Packs 5-bit values: low nibbles as Q4_0, bit 4 of element j into bit j of qh.
template <typename Block>
void pack_5bit(const int (&q)[kQK], Block& b) {
  uint32_t high = 0;
  for (int j = 0; j < kHalf; ++j) {
    b.qs[j] = static_cast<uint8_t>((q[j] & 0xf) | ((q[j + kHalf] & 0xf) << 4));
    high |= static_cast<uint32_t>(q[j] >> 4) << j;
    high |= static_cast<uint32_t>(q[j + kHalf] >> 4) << (j + kHalf);
  }
  std::memcpy(b.qh, &high, sizeof high);
}

}  // namespace

void dequantize(const BlockQ4_0& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int j = 0; j < kHalf; ++j) {
    y[j] = static_cast<float>((b.qs[j] & 0xf) - 8) * d;
    y[j + kHalf] = static_cast<float>((b.qs[j] >> 4) - 8) * d;
  }
}

void dequantize(const BlockQ4_1& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  const float m = fp16_to_fp32(b.m);
  for (int j = 0; j < kHalf; ++j) {
    y[j] = static_cast<float>(b.qs[j] & 0xf) * d + m;
    y[j + kHalf] = static_cast<float>(b.qs[j] >> 4) * d + m;
  }
}

void dequantize(const BlockQ5_0& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  const uint32_t high = load_qh(b.qh);
  for (int j = 0; j < kHalf; ++j) {
    const int low = (b.qs[j] & 0xf) | static_cast<int>(((high >> j) & 1) << 4);
    const int up = (b.qs[j] >> 4) | static_cast<int>(((high >> (j + kHalf)) & 1) << 4);
    y[j] = static_cast<float>(low - 16) * d;
    y[j + kHalf] = static_cast<float>(up - 16) * d;
  }
}

void dequantize(const BlockQ5_1& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  const float m = fp16_to_fp32(b.m);
  const uint32_t high = load_qh(b.qh);
  for (int j = 0; j < kHalf; ++j) {
    const int low = (b.qs[j] & 0xf) | static_cast<int>(((high >> j) & 1) << 4);
    const int up = (b.qs[j] >> 4) | static_cast<int>(((high >> (j + kHalf)) & 1) << 4);
    y[j] = static_cast<float>(low) * d + m;
    y[j + kHalf] = static_cast<float>(up) * d + m;
  }
}

void dequantize(const BlockQ8_0& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
}

void dequantize(const BlockQ8_1& b, float* y) {
  const float d = fp16_to_fp32(b.d);
  for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
}

void quantize(const float* x, BlockQ4_0& b) {
  b.d = scale_to_fp16(signed_absmax(x, kQK) / -8.0f);
  const float id = inverse_of_stored(b.d);
  for (int j = 0; j < kHalf; ++j) {
    const int q0 = clamp_int(nearest_int(x[j] * id) + 8, 0, 15);
    const int q1 = clamp_int(nearest_int(x[j + kHalf] * id) + 8, 0, 15);
    b.qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
  }
}

void quantize(const float* x, BlockQ4_1& b) {
  float lo, hi;
  min_max(x, kQK, lo, hi);
  b.d = scale_to_fp16((hi - lo) / 15.0f);
  b.m = scale_to_fp16(lo);
  const float id = inverse_of_stored(b.d);
  const float m = fp16_to_fp32(b.m);
  for (int j = 0; j < kHalf; ++j) {
    const int q0 = clamp_int(nearest_int((x[j] - m) * id), 0, 15);
    const int q1 = clamp_int(nearest_int((x[j + kHalf] - m) * id), 0, 15);
    b.qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
  }
}

void quantize(const float* x, BlockQ5_0& b) {
  b.d = scale_to_fp16(signed_absmax(x, kQK) / -16.0f);
  const float id = inverse_of_stored(b.d);
  int q[kQK];
  for (int j = 0; j < kQK; ++j) q[j] = clamp_int(nearest_int(x[j] * id) + 16, 0, 31);
  pack_5bit(q, b);
}

void quantize(const float* x, BlockQ5_1& b) {
  float lo, hi;
  min_max(x, kQK, lo, hi);
  b.d = scale_to_fp16((hi - lo) / 31.0f);
  b.m = scale_to_fp16(lo);
  const float id = inverse_of_stored(b.d);
  const float m = fp16_to_fp32(b.m);
  int q[kQK];
  for (int j = 0; j < kQK; ++j) q[j] = clamp_int(nearest_int((x[j] - m) * id), 0, 31);
  pack_5bit(q, b);
}

void quantize(const float* x, BlockQ8_0& b) {
  const float max = signed_absmax(x, kQK);
  b.d = scale_to_fp16((max < 0 ? -max : max) / 127.0f);
  const float id = inverse_of_stored(b.d);
  for (int j = 0; j < kQK; ++j) b.qs[j] = static_cast<int8_t>(clamp_int(nearest_int(x[j] * id), -127, 127));
}

void quantize(const float* x, BlockQ8_1& b) {
  const float max = signed_absmax(x, kQK);
  b.d = scale_to_fp16((max < 0 ? -max : max) / 127.0f);
  const float id = inverse_of_stored(b.d);
  int sum = 0;
  for (int j = 0; j < kQK; ++j) {
    b.qs[j] = static_cast<int8_t>(clamp_int(nearest_int(x[j] * id), -127, 127));
    sum += b.qs[j];
  }
  b.s = scale_to_fp16(fp16_to_fp32(b.d) * static_cast<float>(sum));
}

}  // namespace hearth::tensor::impl
