// Attention of one query head per block over the cells its query sees, in chunks of kChunk cells with a running
// maximum and sum (the online softmax), so any context length fits in fixed shared memory: each chunk's scores
// (one warp per cell), their exponentials, then the weighted values (one thread per value dimension).
#include <cmath>
#include <stdexcept>

#include <cuda_fp16.h>

#include "kernels/cuda/device_common.cuh"
#include "kernels/cuda/kernels.h"

namespace hearth::kernels::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kChunk = 256;
constexpr int kMaxHeadDim = 256;
constexpr int kValuesPerThread = kMaxHeadDim / kThreads;

// The block's maximum (or sum) of v; every thread gets it. `scratch` holds kWarps floats.
template <bool Max>
__device__ float block_reduce(float v, float* scratch) {
  v = Max ? warp_max(v) : warp_sum(v);
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
  __syncthreads();
  float total = scratch[0];
  for (int w = 1; w < kWarps; ++w) total = Max ? fmaxf(total, scratch[w]) : total + scratch[w];
  __syncthreads();  // scratch may be written again by the next reduction
  return total;
}

__global__ void attention_kernel(const float* q, int64_t q_stride, CacheRows keys, CacheRows values,
                                 const int32_t* cells, const AttentionQuery* queries, AttentionShape shape, float* out,
                                 int64_t out_stride) {
  const AttentionQuery query = queries[blockIdx.x];
  const int64_t head = blockIdx.y;
  const int64_t kv_head = head / (shape.n_head / shape.n_head_kv);
  const int64_t key_offset = kv_head * shape.head_dim, value_offset = kv_head * shape.head_dim_v;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __shared__ float q_head[kMaxHeadDim];
  __shared__ float weights[kChunk];
  __shared__ float scratch[kWarps];

  const float* q_row = q + query.row * q_stride + head * shape.head_dim;
  for (int64_t i = threadIdx.x; i < shape.head_dim; i += kThreads) q_head[i] = q_row[i];
  __syncthreads();

  float running_max = -INFINITY, running_sum = 0.0f;
  float acc[kValuesPerThread] = {};
  const int32_t* visible = cells + query.first_cell;
  for (int first = 0; first < query.n_visible; first += kChunk) {
    const int n = min(kChunk, query.n_visible - first);
    for (int j = warp; j < n; j += kWarps) {
      const int32_t cell = visible[first + j];
      float score = 0.0f;
      for (int64_t d = lane; d < shape.head_dim; d += 32) score += q_head[d] * cache_value(keys, cell, key_offset + d);
      score = warp_sum(score);
      if (lane == 0) weights[j] = score * shape.scale;
    }
    __syncthreads();
    float chunk_max = -INFINITY;
    for (int j = threadIdx.x; j < n; j += kThreads) chunk_max = fmaxf(chunk_max, weights[j]);
    const float new_max = fmaxf(running_max, block_reduce<true>(chunk_max, scratch));
    const float correction = expf(running_max - new_max);
    float chunk_sum = 0.0f;
    for (int j = threadIdx.x; j < n; j += kThreads) {
      const float e = expf(weights[j] - new_max);
      weights[j] = e;
      chunk_sum += e;
    }
    running_sum = running_sum * correction + block_reduce<false>(chunk_sum, scratch);  // also publishes weights
    running_max = new_max;
    for (int k = 0; k < kValuesPerThread; ++k) {
      const int64_t d = threadIdx.x + k * kThreads;
      if (d >= shape.head_dim_v) break;
      float sum = 0.0f;
      for (int j = 0; j < n; ++j) sum += weights[j] * cache_value(values, visible[first + j], value_offset + d);
      acc[k] = acc[k] * correction + sum;
    }
    __syncthreads();  // the next chunk overwrites weights
  }
  float* out_row = out + query.row * out_stride + head * shape.head_dim_v;
  const float inverse = running_sum > 0.0f ? 1.0f / running_sum : 0.0f;
  for (int k = 0; k < kValuesPerThread; ++k) {
    const int64_t d = threadIdx.x + k * kThreads;
    if (d < shape.head_dim_v) out_row[d] = acc[k] * inverse;
  }
}

}  // namespace

void attention(const float* q, int64_t q_stride, const CacheRows& keys, const CacheRows& values, const int32_t* cells,
               const AttentionQuery* queries, int64_t n_queries, const AttentionShape& shape, float* out,
               int64_t out_stride, cudaStream_t stream) {
  if (shape.head_dim > kMaxHeadDim || shape.head_dim_v > kMaxHeadDim) {
    throw std::invalid_argument("cuda attention: heads wider than 256 values are not supported");
  }
  if (n_queries <= 0) return;
  const dim3 grid(static_cast<unsigned>(n_queries), static_cast<unsigned>(shape.n_head));
  attention_kernel<<<grid, kThreads, 0, stream>>>(q, q_stride, keys, values, cells, queries, shape, out, out_stride);
}

}  // namespace hearth::kernels::cuda
