// Element-wise and row operations: RMS norm, RoPE, SwiGLU, adds, row copies and the KV cache's row stores.
#include <cuda_fp16.h>

#include "kernels/cuda/device_common.cuh"
#include "kernels/cuda/kernels.h"

namespace hearth::kernels::cuda {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

// One block per row; the sum of squares in f32 per thread, then across the block.
__global__ void rms_norm_kernel(const float* x, const float* gain, float eps, float* y, int64_t cols) {
  const float* xr = x + static_cast<int64_t>(blockIdx.x) * cols;
  float* yr = y + static_cast<int64_t>(blockIdx.x) * cols;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) sum += xr[i] * xr[i];
  sum = warp_sum(sum);
  __shared__ float warp_sums[kThreads / 32];
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < kThreads / 32; ++w) total += warp_sums[w];
  const float scale = rsqrtf(total / static_cast<float>(cols) + eps);
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) yr[i] = xr[i] * scale * gain[i];
}

// Pair i of every head turns by position * freq_scale * freq_base^(-2i/n_dims) / freq_factors[i].
__device__ void rotate_pair(float* head, int64_t i, float position, const RopeParams& p) {
  const int64_t n_pairs = p.n_dims / 2;
  const float factor = p.freq_factors != nullptr ? p.freq_factors[i] : 1.0f;
  const float theta = position * powf(p.freq_base, -2.0f * static_cast<float>(i) / static_cast<float>(p.n_dims));
  float sin_angle, cos_angle;
  sincosf(p.freq_scale * (theta / factor), &sin_angle, &cos_angle);
  float* a = p.pairing == RopePairing::Adjacent ? head + 2 * i : head + i;
  float* b = p.pairing == RopePairing::Adjacent ? head + 2 * i + 1 : head + i + n_pairs;
  const float x0 = *a, x1 = *b;
  *a = x0 * cos_angle - x1 * sin_angle;
  *b = x1 * cos_angle + x0 * sin_angle;
}

// One block per row (token); threads over (head, pair).
__global__ void rope_kernel(float* x, int64_t n_heads, int64_t head_dim, const int32_t* positions, RopeParams p) {
  const int64_t n_pairs = p.n_dims / 2;
  float* row = x + static_cast<int64_t>(blockIdx.x) * n_heads * head_dim;
  const auto position = static_cast<float>(positions[blockIdx.x]);
  for (int64_t j = threadIdx.x; j < n_heads * n_pairs; j += blockDim.x) {
    rotate_pair(row + (j / n_pairs) * head_dim, j % n_pairs, position, p);
  }
}

__global__ void swiglu_kernel(const float* gate, const float* up, float* out, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) {
    const float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

__global__ void add_kernel(float* x, const float* y, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] += y[i];
}

__global__ void add_bias_kernel(float* x, const float* bias, int64_t n, int64_t cols) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] += bias[i % cols];
}

__global__ void copy_rows_kernel(const float* src, int64_t cols, const int32_t* rows, float* dst) {
  const float* from = src + static_cast<int64_t>(rows[blockIdx.x]) * cols;
  float* to = dst + static_cast<int64_t>(blockIdx.x) * cols;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) to[i] = from[i];
}

__global__ void store_rows_kernel(CacheRows cache, const int32_t* cells, const float* src) {
  const float* from = src + static_cast<int64_t>(blockIdx.x) * cache.width;
  for (int64_t i = threadIdx.x; i < cache.width; i += blockDim.x) set_cache_value(cache, cells[blockIdx.x], i, from[i]);
}

__global__ void copy_cache_rows_kernel(CacheRows cache, const int32_t* from, const int32_t* to) {
  const auto* src = static_cast<const uint8_t*>(cache.data) + static_cast<uint64_t>(from[blockIdx.x]) * cache.row_bytes;
  auto* dst = static_cast<uint8_t*>(cache.data) + static_cast<uint64_t>(to[blockIdx.x]) * cache.row_bytes;
  for (uint64_t i = threadIdx.x; i < cache.row_bytes; i += blockDim.x) dst[i] = src[i];
}

// One block per cell: the row read, rotated in shared memory and stored back rounded to the cache type.
__global__ void rotate_rows_kernel(CacheRows cache, const int32_t* cells, const int32_t* deltas, int64_t head_dim,
                                   RopeParams p) {
  extern __shared__ float row[];
  const int32_t cell = cells[blockIdx.x];
  for (int64_t i = threadIdx.x; i < cache.width; i += blockDim.x) row[i] = cache_value(cache, cell, i);
  __syncthreads();
  const int64_t n_pairs = p.n_dims / 2;
  const int64_t n_heads = cache.width / head_dim;
  for (int64_t j = threadIdx.x; j < n_heads * n_pairs; j += blockDim.x) {
    rotate_pair(row + (j / n_pairs) * head_dim, j % n_pairs, static_cast<float>(deltas[blockIdx.x]), p);
  }
  __syncthreads();
  for (int64_t i = threadIdx.x; i < cache.width; i += blockDim.x) set_cache_value(cache, cell, i, row[i]);
}

}  // namespace

void rms_norm(const float* x, const float* gain, float eps, float* y, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows > 0) rms_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, gain, eps, y, cols);
}

void rope(float* x, int64_t rows, int64_t n_heads, int64_t head_dim, const int32_t* positions,
          const RopeParams& params, cudaStream_t stream) {
  if (rows > 0) rope_kernel<<<static_cast<unsigned>(rows), 128, 0, stream>>>(x, n_heads, head_dim, positions, params);
}

void swiglu(const float* gate, const float* up, float* out, int64_t n, cudaStream_t stream) {
  if (n > 0) swiglu_kernel<<<blocks_for(n), kThreads, 0, stream>>>(gate, up, out, n);
}

void add(float* x, const float* y, int64_t n, cudaStream_t stream) {
  if (n > 0) add_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, y, n);
}

void add_bias(float* x, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows > 0) add_bias_kernel<<<blocks_for(rows * cols), kThreads, 0, stream>>>(x, bias, rows * cols, cols);
}

void copy_rows(const float* src, int64_t cols, const int32_t* rows, int64_t n, float* dst, cudaStream_t stream) {
  if (n > 0) copy_rows_kernel<<<static_cast<unsigned>(n), kThreads, 0, stream>>>(src, cols, rows, dst);
}

void store_rows(const CacheRows& cache, const int32_t* cells, int64_t n, const float* src, cudaStream_t stream) {
  if (n > 0) store_rows_kernel<<<static_cast<unsigned>(n), 128, 0, stream>>>(cache, cells, src);
}

void copy_cache_rows(const CacheRows& cache, const int32_t* from, const int32_t* to, int64_t n, cudaStream_t stream) {
  if (n > 0) copy_cache_rows_kernel<<<static_cast<unsigned>(n), 128, 0, stream>>>(cache, from, to);
}

void rotate_rows(const CacheRows& cache, const int32_t* cells, const int32_t* deltas, int64_t n, int64_t head_dim,
                 const RopeParams& params, cudaStream_t stream) {
  if (n <= 0) return;
  const size_t shared = sizeof(float) * static_cast<size_t>(cache.width);
  rotate_rows_kernel<<<static_cast<unsigned>(n), 128, shared, stream>>>(cache, cells, deltas, head_dim, params);
}

}  // namespace hearth::kernels::cuda
