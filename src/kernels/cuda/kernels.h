// CUDA kernels for the operations of backend.h, as host functions that enqueue work on a stream. Pointers are
// device memory unless said otherwise; activations are row-major f32. Like the CPU kernels they know nothing of
// models. Errors in a launch are reported by the stream's next synchronization (the backend checks).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "hearth/tensor_type.h"
#include "kernels/params.h"

namespace hearth::kernels::cuda {

// Whether the product and row kernels read `type` as the file stores it. Other types are converted to F16 once,
// when the backend uploads them.
bool reads_natively(TensorType type);

// A weight matrix in device memory, as the file stores it (or converted, see above).
struct DeviceMatrix {
  TensorType type;
  const void* data;
  uint64_t row_bytes;
  int64_t rows;
  int64_t cols;
};

// y[t * y_stride + r] = dot(x row t, w row r) for n_tokens rows of x (each w.cols wide), in f32.
void matmul(const DeviceMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t y_stride, cudaStream_t stream);
// out row i = w row ids[i] as f32.
void get_rows(const DeviceMatrix& w, const int32_t* ids, int64_t n_ids, float* out, cudaStream_t stream);

void rms_norm(const float* x, const float* gain, float eps, float* y, int64_t rows, int64_t cols, cudaStream_t stream);
// Rotates each head of x row t by positions[t]; params.freq_factors (if any) is device memory.
void rope(float* x, int64_t rows, int64_t n_heads, int64_t head_dim, const int32_t* positions,
          const RopeParams& params, cudaStream_t stream);
void swiglu(const float* gate, const float* up, float* out, int64_t n, cudaStream_t stream);
void add(float* x, const float* y, int64_t n, cudaStream_t stream);
void add_bias(float* x, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream);
void copy_rows(const float* src, int64_t cols, const int32_t* rows, int64_t n, float* dst, cudaStream_t stream);

// Rows of a KV cache: `width` values of `type` (F16 or F32) every `row_bytes`.
struct CacheRows {
  TensorType type;
  void* data;
  uint64_t row_bytes;
  int64_t width;
};
// cache row cells[i] = src row i (rounded to the cache type).
void store_rows(const CacheRows& cache, const int32_t* cells, int64_t n, const float* src, cudaStream_t stream);
// cache row to[i] = cache row from[i].
void copy_cache_rows(const CacheRows& cache, const int32_t* from, const int32_t* to, int64_t n, cudaStream_t stream);
// Rotates cache row cells[i] (heads of head_dim) by deltas[i] positions.
void rotate_rows(const CacheRows& cache, const int32_t* cells, const int32_t* deltas, int64_t n, int64_t head_dim,
                 const RopeParams& params, cudaStream_t stream);

// One attending token: its row of q and out, and the cells it sees: cells[first_cell .. first_cell + n_visible).
struct AttentionQuery {
  int32_t row;
  int32_t first_cell;
  int32_t n_visible;
};
// out row of each query = softmax(scale * q . keys) . values over its visible cells, per head.
void attention(const float* q, int64_t q_stride, const CacheRows& keys, const CacheRows& values, const int32_t* cells,
               const AttentionQuery* queries, int64_t n_queries, const AttentionShape& shape, float* out,
               int64_t out_stride, cudaStream_t stream);

}  // namespace hearth::kernels::cuda
