#include "kernels/cpu/activations.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "tensor/blocks.h"
#include "tensor/quant.h"

namespace hearth::kernels::cpu {
namespace {

constexpr int64_t kBlock32 = 32;
constexpr int64_t kBlock256 = 256;

// Round to nearest, ties to even, as the 1.5 * 2^23 trick and vroundps both do; exact for |v| < 2^22, which
// covers every scaled activation (they lie within +-127.5).
float round_even(float v) { return std::nearbyint(v); }

// 32 values as Q8_0/Q8_1 (llama.cpp's AVX2 quantize_row_q8_0): d = amax/127 stored as fp16, q = round(x * 127/amax).
// Returns d = amax/127 in f32, before its rounding to fp16 (Q8_1's s is made from it); a NaN input gives q = 0 here
// (callers that keep NaN check for it).
float quantize_block32(const float* x, int8_t* q) {
  float amax = 0.0f;
  for (int64_t i = 0; i < kBlock32; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  for (int64_t i = 0; i < kBlock32; ++i) {
    q[i] = std::isnan(x[i]) ? int8_t{0} : static_cast<int8_t>(std::clamp(round_even(x[i] * id), -127.0f, 127.0f));
  }
  return amax / 127.0f;
}

float fp16_rounded(float v) { return tensor::fp16_to_fp32(tensor::fp32_to_fp16(v)); }

// 256 values as Q8_K (llama.cpp's quantize_row_q8_K_ref): the signed element of largest magnitude maps to -127,
// d = 1/iscale in f32; an all-zero block has d = 0.
float quantize_block256(const float* x, int8_t* q) {
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
    std::fill(q, q + kBlock256, int8_t{0});
    return 0.0f;
  }
  const float iscale = -127.0f / max;
  for (int64_t i = 0; i < kBlock256; ++i) {
    q[i] = std::isnan(x[i]) ? int8_t{0} : static_cast<int8_t>(std::min(127.0f, round_even(iscale * x[i])));
  }
  return 1.0f / iscale;
}

void round_block32(const float* x, float* out) {
  int8_t q[kBlock32];
  const float d = fp16_rounded(quantize_block32(x, q));
  for (int64_t i = 0; i < kBlock32; ++i) out[i] = std::isnan(x[i]) ? x[i] : d * static_cast<float>(q[i]);
}

void round_block256(const float* x, float* out) {
  int8_t q[kBlock256];
  const float d = quantize_block256(x, q);
  for (int64_t i = 0; i < kBlock256; ++i) out[i] = std::isnan(x[i]) ? x[i] : d * static_cast<float>(q[i]);
}

void require_whole_blocks(const char* what, TensorType format, int64_t n) {
  if (n % activation_block(format) != 0) {
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(n) + " values are not whole blocks of " +
                                std::string(type_name(format)));
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
  require_whole_blocks("round_activations", format, n);
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

namespace hearth::kernels::cpu {

uint64_t activation_row_bytes(TensorType format, int64_t n) {
  switch (format) {
    case TensorType::Q8_0: return q8_0_scales_offset(n) + static_cast<uint64_t>(n / kBlock32) * sizeof(float);
    case TensorType::Q8_1: return static_cast<uint64_t>(n / kBlock32) * sizeof(tensor::BlockQ8_1);
    case TensorType::Q8_K: return static_cast<uint64_t>(n / kBlock256) * sizeof(tensor::BlockQ8_K);
    default: throw std::invalid_argument("activation_row_bytes: " + std::string(type_name(format)) + " is not a block format");
  }
}

void quantize_activations(TensorType format, const float* x, std::byte* out, int64_t n) {
  require_whole_blocks("quantize_activations", format, n);
  switch (format) {
    case TensorType::Q8_0: {
      auto* blocks = reinterpret_cast<tensor::BlockQ8_0*>(out);
      auto* scales = reinterpret_cast<float*>(out + q8_0_scales_offset(n));
      for (int64_t b = 0; b < n / kBlock32; ++b) {
        blocks[b].d = tensor::fp32_to_fp16(quantize_block32(x + b * kBlock32, blocks[b].qs));
        scales[b] = tensor::fp16_to_fp32(blocks[b].d);
      }
      return;
    }
    case TensorType::Q8_1: {
      // s = d * sum(q), both rounded to fp16 as llama.cpp's AVX2 quantize_row_q8_1 stores them.
      auto* blocks = reinterpret_cast<tensor::BlockQ8_1*>(out);
      for (int64_t b = 0; b < n / kBlock32; ++b) {
        const float d = quantize_block32(x + b * kBlock32, blocks[b].qs);
        int sum = 0;
        for (int8_t q : blocks[b].qs) sum += q;
        blocks[b].d = tensor::fp32_to_fp16(d);
        blocks[b].s = tensor::fp32_to_fp16(d * static_cast<float>(sum));
      }
      return;
    }
    case TensorType::Q8_K: {
      auto* blocks = reinterpret_cast<tensor::BlockQ8_K*>(out);
      for (int64_t b = 0; b < n / kBlock256; ++b) {
        tensor::BlockQ8_K& block = blocks[b];
        block.d = quantize_block256(x + b * kBlock256, block.qs);
        for (int g = 0; g < kBlock256 / 16; ++g) {
          int sum = 0;
          for (int i = 0; i < 16; ++i) sum += block.qs[16 * g + i];
          block.bsums[g] = static_cast<int16_t>(sum);
        }
      }
      return;
    }
    default:
      throw std::invalid_argument("quantize_activations: " + std::string(type_name(format)) + " is not a block format");
  }
}

}  // namespace hearth::kernels::cpu
