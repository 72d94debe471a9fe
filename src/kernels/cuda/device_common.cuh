// Device helpers the CUDA kernels share: warp reductions and reading or writing a KV cache row's values.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/kernels.h"

namespace hearth::kernels::cuda {

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

__device__ __forceinline__ float cache_value(const CacheRows& c, int64_t cell, int64_t i) {
  const auto* row = static_cast<const uint8_t*>(c.data) + static_cast<uint64_t>(cell) * c.row_bytes;
  return c.type == TensorType::F16 ? __half2float(reinterpret_cast<const __half*>(row)[i])
                                   : reinterpret_cast<const float*>(row)[i];
}

__device__ __forceinline__ void set_cache_value(const CacheRows& c, int64_t cell, int64_t i, float v) {
  auto* row = static_cast<uint8_t*>(c.data) + static_cast<uint64_t>(cell) * c.row_bytes;
  if (c.type == TensorType::F16) {
    reinterpret_cast<__half*>(row)[i] = __float2half_rn(v);
  } else {
    reinterpret_cast<float*>(row)[i] = v;
  }
}

}  // namespace hearth::kernels::cuda
