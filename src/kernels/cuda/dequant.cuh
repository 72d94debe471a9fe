// Device-side reading of weight rows 32 values at a time: every type the kernels read natively, in the layouts
// of tensor/blocks.h. Chunk c of a row is its values 32c .. 32c + 31 (one block of the legacy formats, one group of
// a K-format super-block), so a warp's lanes take consecutive chunks and read consecutive bytes.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "hearth/tensor_type.h"

namespace hearth::kernels::cuda {

__device__ __forceinline__ float half_at(const uint8_t* p) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(p[0] | (p[1] << 8))));
}

// Q4_K/Q5_K's 6-bit scale and min of group g (0..7), packed into 12 bytes.
__device__ __forceinline__ void scale_min_k4(const uint8_t* packed, int g, float& scale, float& min) {
  if (g < 4) {
    scale = static_cast<float>(packed[g] & 63);
    min = static_cast<float>(packed[g + 4] & 63);
  } else {
    scale = static_cast<float>((packed[g + 4] & 0xf) | ((packed[g - 4] >> 6) << 4));
    min = static_cast<float>((packed[g + 4] >> 4) | ((packed[g] >> 6) << 4));
  }
}

template <TensorType T>
struct Chunk;

template <>
struct Chunk<TensorType::F32> {
  __device__ static void read(const uint8_t* row, int64_t c, float (&v)[32]) {
    const auto* p = reinterpret_cast<const float4*>(row) + 8 * c;
    for (int i = 0; i < 8; ++i) {
      const float4 f = p[i];
      v[4 * i] = f.x, v[4 * i + 1] = f.y, v[4 * i + 2] = f.z, v[4 * i + 3] = f.w;
    }
  }
};

__device__ __forceinline__ float2 to_float2(__half2 pair) { return __half22float2(pair); }
__device__ __forceinline__ float2 to_float2(__nv_bfloat162 pair) { return __bfloat1622float2(pair); }

// 16-bit floats, read as 16 pairs.
template <typename Pair>
struct PairChunk {
  __device__ static void read(const uint8_t* row, int64_t c, float (&v)[32]) {
    const auto* p = reinterpret_cast<const Pair*>(row) + 16 * c;
    for (int i = 0; i < 16; ++i) {
      const float2 f = to_float2(p[i]);
      v[2 * i] = f.x, v[2 * i + 1] = f.y;
    }
  }
};

template <>
struct Chunk<TensorType::F16> : PairChunk<__half2> {};

template <>
struct Chunk<TensorType::BF16> : PairChunk<__nv_bfloat162> {};

// x = d * q (block: f16 d, int8 qs[32]).
template <>
struct Chunk<TensorType::Q8_0> {
  __device__ static void read(const uint8_t* row, int64_t c, float (&v)[32]) {
    const uint8_t* block = row + 34 * c;
    const float d = half_at(block);
    for (int i = 0; i < 32; ++i) v[i] = d * static_cast<float>(static_cast<int8_t>(block[2 + i]));
  }
};

// x = d * (q - 8): value j in the low nibble of qs[j], value j + 16 in its high nibble.
template <>
struct Chunk<TensorType::Q4_0> {
  __device__ static void read(const uint8_t* row, int64_t c, float (&v)[32]) {
    const uint8_t* block = row + 18 * c;
    const float d = half_at(block);
    for (int i = 0; i < 16; ++i) {
      const int q = block[2 + i];
      v[i] = d * static_cast<float>((q & 15) - 8);
      v[16 + i] = d * static_cast<float>((q >> 4) - 8);
    }
  }
};

// Group g of a super-block (f16 d, f16 dmin, scales[12], qs[128]): x = d * scale * q - dmin * min, the nibbles of
// qs[32 (g / 2) + l], low for even groups.
template <>
struct Chunk<TensorType::Q4_K> {
  __device__ static void read(const uint8_t* row, int64_t c, float (&v)[32]) {
    const uint8_t* block = row + 144 * (c / 8);
    const int g = static_cast<int>(c % 8);
    float scale, min;
    scale_min_k4(block + 4, g, scale, min);
    const float d = half_at(block) * scale, m = half_at(block + 2) * min;
    const uint8_t* q = block + 16 + 32 * (g / 2);
    const int shift = 4 * (g & 1);
    for (int l = 0; l < 32; ++l) v[l] = d * static_cast<float>((q[l] >> shift) & 15) - m;
  }
};

// As Q4_K (f16 d, f16 dmin, scales[12], qh[32], qs[128]), bit 4 of value l of group g being bit g of qh[l].
template <>
struct Chunk<TensorType::Q5_K> {
  __device__ static void read(const uint8_t* row, int64_t c, float (&v)[32]) {
    const uint8_t* block = row + 176 * (c / 8);
    const int g = static_cast<int>(c % 8);
    float scale, min;
    scale_min_k4(block + 4, g, scale, min);
    const float d = half_at(block) * scale, m = half_at(block + 2) * min;
    const uint8_t* qh = block + 16;
    const uint8_t* q = block + 48 + 32 * (g / 2);
    const int shift = 4 * (g & 1);
    for (int l = 0; l < 32; ++l) {
      const int value = ((q[l] >> shift) & 15) | (((qh[l] >> g) & 1) << 4);
      v[l] = d * static_cast<float>(value) - m;
    }
  }
};

// Group g = 4h + k of a super-block (ql[128], qh[64], int8 scales[16], f16 d): value l has its low nibble in
// ql[64h + l + 32 (k & 1)] (the high nibble for k >= 2), its top two bits at 2k in qh[32h + l], scale 8h + 2k + l/16.
template <>
struct Chunk<TensorType::Q6_K> {
  __device__ static void read(const uint8_t* row, int64_t c, float (&v)[32]) {
    const uint8_t* block = row + 210 * (c / 8);
    const int g = static_cast<int>(c % 8);
    const int h = g / 4, k = g % 4;
    const float d = half_at(block + 208);
    const uint8_t* ql = block + 64 * h + 32 * (k & 1);
    const uint8_t* qh = block + 128 + 32 * h;
    const auto* scales = reinterpret_cast<const int8_t*>(block + 192 + 8 * h + 2 * k);
    const int shift = k < 2 ? 0 : 4;
    const float d0 = d * static_cast<float>(scales[0]), d1 = d * static_cast<float>(scales[1]);
    for (int l = 0; l < 32; ++l) {
      const int q = (((ql[l] >> shift) & 15) | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
      v[l] = (l < 16 ? d0 : d1) * static_cast<float>(q);
    }
  }
};

}  // namespace hearth::kernels::cuda
