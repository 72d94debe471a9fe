#include "kernels/cpu/dequant.h"

#include <cstring>

#include "kernels/cpu/vec.h"
#include "tensor/quant.h"

namespace hearth::kernels::cpu {
namespace {

// Block geometry as GGUF stores it (the tensor layer documents each format). Fields are read straight from the
// mapped bytes: copying a block into a struct first makes the vector loads that follow wait on narrower stores.
constexpr int kQK = 32;
constexpr int kQK_K = 256;
constexpr int64_t kQ8_0Bytes = 34;   // f16 d, int8 qs[32]
constexpr int64_t kQ4_KBytes = 144;  // f16 d, f16 dmin, scales[12], qs[128]
constexpr int64_t kQ6_KBytes = 210;  // ql[128], qh[64], int8 scales[16], f16 d

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// IEEE half to float, exact like the reference and free of branches the vectorizer cannot handle: the half's
// exponent and mantissa moved into a float and rebased by 2^112 (exact for normal and subnormal halves); Inf and
// NaN rebuilt with an all-ones exponent, the NaN payload kept.
inline float half_to_float(uint32_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t magnitude = h & 0x7fffu;
  const uint32_t rebased = bits_of(float_of(magnitude << 13) * 0x1p112f);
  const uint32_t special = 0x7f800000u | (magnitude << 13);
  const uint32_t is_special = 0u - static_cast<uint32_t>(magnitude >= 0x7c00u);  // all ones or zero
  return float_of(((rebased & ~is_special) | (special & is_special)) | sign);
}

inline uint32_t u16_at(const uint8_t* p) { return p[0] | (static_cast<uint32_t>(p[1]) << 8); }

HEARTH_VECTOR_CLONES
void dequantize_f16(const uint8_t* src, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = half_to_float(u16_at(src + 2 * i));
}

HEARTH_VECTOR_CLONES
void dequantize_q8_0(const uint8_t* src, float* y, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const uint8_t* block = src + i * kQ8_0Bytes;
    const float d = half_to_float(u16_at(block));
    const uint8_t* qs = block + 2;
    float* out = y + i * kQK;
    for (int j = 0; j < kQK; ++j) out[j] = static_cast<float>(static_cast<int8_t>(qs[j])) * d;
  }
}

// Q4_K's eight 6-bit (scale, min) pairs packed into 12 bytes.
void unpack_scales(const uint8_t* packed, int group, int& scale, int& min) {
  if (group < 4) {
    scale = packed[group] & 63;
    min = packed[group + 4] & 63;
  } else {
    scale = (packed[group + 4] & 0xf) | ((packed[group - 4] >> 6) << 4);
    min = (packed[group + 4] >> 4) | ((packed[group] >> 6) << 4);
  }
}

HEARTH_VECTOR_CLONES
void dequantize_q4_k(const uint8_t* src, float* y, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const uint8_t* block = src + i * kQ4_KBytes;
    const float d = half_to_float(u16_at(block));
    const float dmin = half_to_float(u16_at(block + 2));
    const uint8_t* scales = block + 4;
    float* out = y + i * kQK_K;
    for (int h = 0; h < 4; ++h) {
      int sc, m;
      unpack_scales(scales, 2 * h, sc, m);
      const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(m);
      unpack_scales(scales, 2 * h + 1, sc, m);
      const float d2 = d * static_cast<float>(sc), m2 = dmin * static_cast<float>(m);
      const uint8_t* q = block + 16 + 32 * h;
      for (int l = 0; l < 32; ++l) out[64 * h + l] = d1 * static_cast<float>(q[l] & 0xf) - m1;
      for (int l = 0; l < 32; ++l) out[64 * h + 32 + l] = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

HEARTH_VECTOR_CLONES
void dequantize_q6_k(const uint8_t* src, float* y, int64_t n_blocks) {
  for (int64_t i = 0; i < n_blocks; ++i) {
    const uint8_t* block = src + i * kQ6_KBytes;
    const float d = half_to_float(u16_at(block + 208));
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = block + 64 * h;
      const uint8_t* qh = block + 128 + 32 * h;
      const uint8_t* scales = block + 192 + 8 * h;
      float* out = y + i * kQK_K + 128 * h;
      // Element 32k + l of this half: low nibble from ql[l + 32 (k & 1)] (high nibble for k >= 2), top two bits
      // from bits 2k of qh[l], scale index 2k + l / 16.
      for (int k = 0; k < 4; ++k) {
        for (int g = 0; g < 2; ++g) {
          const float scale = d * static_cast<float>(static_cast<int8_t>(scales[2 * k + g]));
          for (int l = 16 * g; l < 16 * g + 16; ++l) {
            const int byte = ql[l + 32 * (k & 1)];
            const int low = k < 2 ? (byte & 0xf) : (byte >> 4);
            const int q = (low | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
            out[32 * k + l] = scale * static_cast<float>(q);
          }
        }
      }
    }
  }
}

}  // namespace

void dequantize_row(TensorType type, const std::byte* src, float* dst, int64_t n) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(src);
  switch (type) {
    case TensorType::F16: return dequantize_f16(bytes, dst, n);
    case TensorType::Q8_0: return dequantize_q8_0(bytes, dst, n / kQK);
    case TensorType::Q4_K: return dequantize_q4_k(bytes, dst, n / kQK_K);
    case TensorType::Q6_K: return dequantize_q6_k(bytes, dst, n / kQK_K);
    default: return tensor::dequantize_row(type, src, dst, n);
  }
}

}  // namespace hearth::kernels::cpu
