#include "tensor/quant.h"

#include <array>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "tensor/quant_impl.h"

namespace hearth::tensor {
namespace {

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Rounds `value >> shift` to nearest, ties to even (shift >= 1).
uint32_t shift_round_even(uint32_t value, int shift) {
  const uint32_t kept = value >> shift;
  const uint32_t rest = value & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  return kept + ((rest > half || (rest == half && (kept & 1))) ? 1 : 0);
}

// Every fp16 value as f32: F16 rows are the common input of quantization, and a lookup beats the bit logic.
const std::array<float, 65536>& fp16_table() {
  static const std::array<float, 65536> table = [] {
    std::array<float, 65536> t{};
    for (uint32_t h = 0; h < 65536; ++h) t[h] = fp16_to_fp32(static_cast<uint16_t>(h));
    return t;
  }();
  return table;
}

template <typename Block>
void dequantize_blocks(const std::byte* src, float* dst, int64_t n, int block_size) {
  const int64_t blocks = n / block_size;
  for (int64_t i = 0; i < blocks; ++i) {
    Block block;
    std::memcpy(&block, src + i * static_cast<int64_t>(sizeof(Block)), sizeof(Block));
    impl::dequantize(block, dst + i * block_size);
  }
}

template <typename Block>
void quantize_blocks(const float* src, std::byte* dst, int64_t n, int block_size) {
  const int64_t blocks = n / block_size;
  float values[kQK_K];
  for (int64_t i = 0; i < blocks; ++i) {
    const float* x = src + i * block_size;
    for (int j = 0; j < block_size; ++j) {
      const float v = x[j];
      if (!std::isfinite(v)) {
        throw std::invalid_argument("cannot quantize a non-finite value (element " + std::to_string(i * block_size + j) +
                                    " is " + std::to_string(v) + ")");
      }
      values[j] = v > impl::kMaxBlockInput ? impl::kMaxBlockInput : (v < -impl::kMaxBlockInput ? -impl::kMaxBlockInput : v);
    }
    Block block;
    std::memset(&block, 0, sizeof block);
    impl::quantize(values, block);
    std::memcpy(dst + i * static_cast<int64_t>(sizeof(Block)), &block, sizeof(Block));
  }
}

bool is_supported(TensorType type) {
  switch (type) {
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16:
    case TensorType::Q4_0:
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::Q8_0:
    case TensorType::Q8_1:
    case TensorType::Q2_K:
    case TensorType::Q3_K:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
    case TensorType::Q8_K:
    case TensorType::IQ4_NL:
    case TensorType::IQ4_XS:
      return true;
    default:
      return false;
  }
}

// Checks the type and that n is a whole number of blocks; returns the block size.
int checked_block_size(TensorType type, int64_t n, const char* operation) {
  const TypeTraits* traits = find_type_traits(static_cast<uint32_t>(type));
  if (traits == nullptr || !is_supported(type)) {
    const std::string name = traits ? std::string(traits->name) : "#" + std::to_string(static_cast<uint32_t>(type));
    throw std::invalid_argument(std::string(operation) + " does not support tensor type " + name);
  }
  if (n < 0 || n % traits->block_size != 0) {
    throw std::invalid_argument(std::string(operation) + ": " + std::to_string(n) + " elements is not a multiple of " +
                                std::string(traits->name) + "'s block size " + std::to_string(traits->block_size));
  }
  return static_cast<int>(traits->block_size);
}

}  // namespace

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1f;
  const uint32_t mantissa = h & 0x3ff;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in f32.
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return bits_float(sign | float_bits(magnitude));
  }
  if (exponent == 31) return bits_float(sign | 0x7f800000u | (mantissa << 13));  // Inf or NaN (payload kept)
  return bits_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t fp32_to_fp16(float f) {
  const uint32_t u = float_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  const uint32_t magnitude = u & 0x7fffffffu;
  if (magnitude > 0x7f800000u) {
    // NaN: keep the top payload bits and force the quiet bit so it cannot collapse into Inf.
    return static_cast<uint16_t>(sign | 0x7e00 | ((magnitude >> 13) & 0x3ff));
  }
  const int exponent = static_cast<int>(magnitude >> 23);  // biased f32 exponent
  if (exponent >= 143) return static_cast<uint16_t>(sign | 0x7c00);  // >= 2^16: Inf (also f32 Inf)
  if (exponent >= 113) {
    // Normal half: rebias the exponent, round the 13 dropped mantissa bits; a carry correctly bumps the
    // exponent, up to Inf for values that round past 65504.
    const uint32_t rebased = magnitude - (112u << 23);
    return static_cast<uint16_t>(sign | shift_round_even(rebased, 13));
  }
  // Subnormal half (or zero): the value is mantissa24 * 2^(exponent - 150); in units of 2^-24 that is
  // mantissa24 >> (126 - exponent).
  const int shift = 126 - exponent;
  if (shift > 25) return sign;  // below half of the smallest subnormal
  const uint32_t mantissa24 = (magnitude & 0x7fffffu) | (exponent > 0 ? 0x800000u : 0);
  return static_cast<uint16_t>(sign | shift_round_even(mantissa24, shift));
}

float bf16_to_fp32(uint16_t h) { return bits_float(static_cast<uint32_t>(h) << 16); }

uint16_t fp32_to_bf16(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

bool can_quantize(TensorType type) { return is_supported(type); }
bool can_dequantize(TensorType type) { return is_supported(type); }

void dequantize_row(TensorType type, const std::byte* src, float* dst, int64_t n) {
  const int block_size = checked_block_size(type, n, "dequantize_row");
  if (n == 0) return;
  switch (type) {
    case TensorType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case TensorType::F16: {
      const auto& table = fp16_table();
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, sizeof h);
        dst[i] = table[h];
      }
      return;
    }
    case TensorType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, sizeof h);
        dst[i] = bf16_to_fp32(h);
      }
      return;
    case TensorType::Q4_0: return dequantize_blocks<BlockQ4_0>(src, dst, n, block_size);
    case TensorType::Q4_1: return dequantize_blocks<BlockQ4_1>(src, dst, n, block_size);
    case TensorType::Q5_0: return dequantize_blocks<BlockQ5_0>(src, dst, n, block_size);
    case TensorType::Q5_1: return dequantize_blocks<BlockQ5_1>(src, dst, n, block_size);
    case TensorType::Q8_0: return dequantize_blocks<BlockQ8_0>(src, dst, n, block_size);
    case TensorType::Q8_1: return dequantize_blocks<BlockQ8_1>(src, dst, n, block_size);
    case TensorType::Q2_K: return dequantize_blocks<BlockQ2_K>(src, dst, n, block_size);
    case TensorType::Q3_K: return dequantize_blocks<BlockQ3_K>(src, dst, n, block_size);
    case TensorType::Q4_K: return dequantize_blocks<BlockQ4_K>(src, dst, n, block_size);
    case TensorType::Q5_K: return dequantize_blocks<BlockQ5_K>(src, dst, n, block_size);
    case TensorType::Q6_K: return dequantize_blocks<BlockQ6_K>(src, dst, n, block_size);
    case TensorType::Q8_K: return dequantize_blocks<BlockQ8_K>(src, dst, n, block_size);
    case TensorType::IQ4_NL: return dequantize_blocks<BlockIQ4_NL>(src, dst, n, block_size);
    case TensorType::IQ4_XS: return dequantize_blocks<BlockIQ4_XS>(src, dst, n, block_size);
    default: break;  // rejected by checked_block_size
  }
}

void quantize_row(TensorType type, const float* src, std::byte* dst, int64_t n) {
  const int block_size = checked_block_size(type, n, "quantize_row");
  if (n == 0) return;
  switch (type) {
    case TensorType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case TensorType::F16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = fp32_to_fp16(src[i]);
        std::memcpy(dst + 2 * i, &h, sizeof h);
      }
      return;
    case TensorType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = fp32_to_bf16(src[i]);
        std::memcpy(dst + 2 * i, &h, sizeof h);
      }
      return;
    case TensorType::Q4_0: return quantize_blocks<BlockQ4_0>(src, dst, n, block_size);
    case TensorType::Q4_1: return quantize_blocks<BlockQ4_1>(src, dst, n, block_size);
    case TensorType::Q5_0: return quantize_blocks<BlockQ5_0>(src, dst, n, block_size);
    case TensorType::Q5_1: return quantize_blocks<BlockQ5_1>(src, dst, n, block_size);
    case TensorType::Q8_0: return quantize_blocks<BlockQ8_0>(src, dst, n, block_size);
    case TensorType::Q8_1: return quantize_blocks<BlockQ8_1>(src, dst, n, block_size);
    case TensorType::Q2_K: return quantize_blocks<BlockQ2_K>(src, dst, n, block_size);
    case TensorType::Q3_K: return quantize_blocks<BlockQ3_K>(src, dst, n, block_size);
    case TensorType::Q4_K: return quantize_blocks<BlockQ4_K>(src, dst, n, block_size);
    case TensorType::Q5_K: return quantize_blocks<BlockQ5_K>(src, dst, n, block_size);
    case TensorType::Q6_K: return quantize_blocks<BlockQ6_K>(src, dst, n, block_size);
    case TensorType::Q8_K: return quantize_blocks<BlockQ8_K>(src, dst, n, block_size);
    case TensorType::IQ4_NL: return quantize_blocks<BlockIQ4_NL>(src, dst, n, block_size);
    case TensorType::IQ4_XS: return quantize_blocks<BlockIQ4_XS>(src, dst, n, block_size);
    default: break;  // rejected by checked_block_size
  }
}

}  // namespace hearth::tensor
