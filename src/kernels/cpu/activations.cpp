#include "kernels/cpu/activations.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "tensor/quant.h"

namespace hearth::kernels::cpu {
namespace {

constexpr int64_t kBlock32 = 32;
constexpr int64_t kBlock256 = 256;

// Round to nearest, ties to even, as the 1.5 * 2^23 trick and vroundps both do; exact for |v| < 2^22, which
// covers every scaled activation (they lie within +-127.5).
float round_even(float v) { return std::nearbyint(v); }

// 32 values as Q8_0/Q8_1 (llama.cpp's AVX2 quantize_row_q8_0): d = amax/127 stored as fp16, q = round(x * 127/amax).
void round_block32(const float* x, float* out) {
  float amax = 0.0f;
  for (int64_t i = 0; i < kBlock32; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = tensor::fp16_to_fp32(tensor::fp32_to_fp16(amax / 127.0f));
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  for (int64_t i = 0; i < kBlock32; ++i) {
    out[i] = std::isnan(x[i]) ? x[i] : d * std::clamp(round_even(x[i] * id), -127.0f, 127.0f);
  }
}

// 256 values as Q8_K (llama.cpp's quantize_row_q8_K_ref): the signed element of largest magnitude maps to -127,
// d = 1/iscale in f32.
void round_block256(const float* x, float* out) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int64_t i = 0; i < kBlock256; ++i) {
    const float a = std::fabs(x[i]);
    if (a > amax) {
      amax = a;
      max = x[i];
    }
  }
  if (amax == 0.0f) {
    for (int64_t i = 0; i < kBlock256; ++i) out[i] = std::isnan(x[i]) ? x[i] : 0.0f;
    return;
  }
  const float iscale = -127.0f / max;
  const float d = 1.0f / iscale;
  for (int64_t i = 0; i < kBlock256; ++i) {
    out[i] = std::isnan(x[i]) ? x[i] : d * std::min(127.0f, round_even(iscale * x[i]));
  }
}

}  // namespace

TensorType activation_format(TensorType weight_type) {
  switch (weight_type) {
    case TensorType::F32:
      return TensorType::F32;
    case TensorType::F16:
      return TensorType::F16;
    case TensorType::BF16:
      return TensorType::BF16;
    case TensorType::Q4_0:
    case TensorType::Q5_0:
    case TensorType::Q8_0:
    case TensorType::IQ4_NL:
    case TensorType::MXFP4:
      return TensorType::Q8_0;
    case TensorType::Q4_1:
    case TensorType::Q5_1:
      return TensorType::Q8_1;
    default:
      return TensorType::Q8_K;  // the k-quants, the i-quants and the ternary formats
  }
}

int64_t activation_block(TensorType format) {
  switch (format) {
    case TensorType::Q8_0:
    case TensorType::Q8_1:
      return kBlock32;
    case TensorType::Q8_K:
      return kBlock256;
    default:
      return 1;
  }
}

void round_activations(TensorType format, const float* x, float* out, int64_t n) {
  if (n % activation_block(format) != 0) {
    throw std::invalid_argument("round_activations: " + std::to_string(n) + " values are not whole blocks of " +
                                std::string(type_name(format)));
  }
  switch (format) {
    case TensorType::F32:
      if (out != x) std::memmove(out, x, sizeof(float) * static_cast<size_t>(n));
      return;
    case TensorType::F16:
      for (int64_t i = 0; i < n; ++i) out[i] = tensor::fp16_to_fp32(tensor::fp32_to_fp16(x[i]));
      return;
    case TensorType::BF16:
      for (int64_t i = 0; i < n; ++i) out[i] = tensor::bf16_to_fp32(tensor::fp32_to_bf16(x[i]));
      return;
    case TensorType::Q8_0:
    case TensorType::Q8_1:
      for (int64_t b = 0; b < n; b += kBlock32) round_block32(x + b, out + b);
      return;
    case TensorType::Q8_K:
      for (int64_t b = 0; b < n; b += kBlock256) round_block256(x + b, out + b);
      return;
    default:
      throw std::invalid_argument("round_activations: " + std::string(type_name(format)) +
                                  " is not an activation format");
  }
}

}  // namespace hearth::kernels::cpu
