// Products of weight rows with f32 activations, and row lookups. One warp per weight row: each lane reads a
// 32-value chunk of the row (consecutive lanes, consecutive bytes), unpacks it once and multiplies it with up to
// kTokenTile activation rows; the lanes' partial sums meet in a warp reduction.
#include <stdexcept>
#include <string>

#include "kernels/cuda/dequant.cuh"
#include "kernels/cuda/device_common.cuh"
#include "kernels/cuda/kernels.h"

namespace hearth::kernels::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kTokenTile = 8;

template <TensorType T, int NT>
__global__ void matmul_kernel(const uint8_t* w, uint64_t row_bytes, int64_t rows, int64_t cols, const float* x,
                              float* y, int64_t y_stride) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (r >= rows) return;
  const int lane = threadIdx.x % 32;
  const int64_t first_token = static_cast<int64_t>(blockIdx.y) * kTokenTile;
  const uint8_t* row = w + static_cast<uint64_t>(r) * row_bytes;
  float acc[NT] = {};
  for (int64_t c = lane; c < cols / 32; c += 32) {
    float v[32];
    Chunk<T>::read(row, c, v);
    for (int t = 0; t < NT; ++t) {
      const auto* xs = reinterpret_cast<const float4*>(x + (first_token + t) * cols + 32 * c);
      float sum = 0.0f;
      for (int i = 0; i < 8; ++i) {
        const float4 a = xs[i];
        sum += v[4 * i] * a.x + v[4 * i + 1] * a.y + v[4 * i + 2] * a.z + v[4 * i + 3] * a.w;
      }
      acc[t] += sum;
    }
  }
  for (int t = 0; t < NT; ++t) {
    const float total = warp_sum(acc[t]);
    if (lane == 0) y[(first_token + t) * y_stride + r] = total;
  }
}

template <TensorType T>
__global__ void get_rows_kernel(const uint8_t* w, uint64_t row_bytes, int64_t cols, const int32_t* ids, float* out) {
  const uint8_t* row = w + static_cast<uint64_t>(ids[blockIdx.x]) * row_bytes;
  float* dst = out + static_cast<int64_t>(blockIdx.x) * cols;
  for (int64_t c = threadIdx.x; c < cols / 32; c += blockDim.x) {
    float v[32];
    Chunk<T>::read(row, c, v);
    for (int i = 0; i < 32; ++i) dst[32 * c + i] = v[i];
  }
}

template <TensorType T, int NT>
void launch_tokens(const DeviceMatrix& w, const float* x, int64_t first_token, float* y, int64_t y_stride,
                   int64_t groups, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((w.rows + kWarpsPerBlock - 1) / kWarpsPerBlock), static_cast<unsigned>(groups));
  matmul_kernel<T, NT><<<grid, 32 * kWarpsPerBlock, 0, stream>>>(static_cast<const uint8_t*>(w.data), w.row_bytes,
                                                                  w.rows, w.cols, x + first_token * w.cols,
                                                                  y + first_token * y_stride, y_stride);
}

template <TensorType T>
void matmul_type(const DeviceMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t y_stride,
                 cudaStream_t stream) {
  const int64_t full = n_tokens / kTokenTile;
  if (full > 0) launch_tokens<T, kTokenTile>(w, x, 0, y, y_stride, full, stream);
  const int64_t done = full * kTokenTile;
  switch (n_tokens - done) {
    case 0: break;
    case 1: launch_tokens<T, 1>(w, x, done, y, y_stride, 1, stream); break;
    case 2: launch_tokens<T, 2>(w, x, done, y, y_stride, 1, stream); break;
    case 3: launch_tokens<T, 3>(w, x, done, y, y_stride, 1, stream); break;
    case 4: launch_tokens<T, 4>(w, x, done, y, y_stride, 1, stream); break;
    case 5: launch_tokens<T, 5>(w, x, done, y, y_stride, 1, stream); break;
    case 6: launch_tokens<T, 6>(w, x, done, y, y_stride, 1, stream); break;
    default: launch_tokens<T, 7>(w, x, done, y, y_stride, 1, stream); break;
  }
}

template <TensorType T>
void get_rows_type(const DeviceMatrix& w, const int32_t* ids, int64_t n_ids, float* out, cudaStream_t stream) {
  get_rows_kernel<T><<<static_cast<unsigned>(n_ids), 128, 0, stream>>>(static_cast<const uint8_t*>(w.data), w.row_bytes,
                                                                       w.cols, ids, out);
}

// Calls fn.template operator()<T>() for the natively read type T of `type`.
template <typename Fn>
void dispatch(TensorType type, Fn&& fn) {
  switch (type) {
    case TensorType::F32: return fn.template operator()<TensorType::F32>();
    case TensorType::F16: return fn.template operator()<TensorType::F16>();
    case TensorType::BF16: return fn.template operator()<TensorType::BF16>();
    case TensorType::Q8_0: return fn.template operator()<TensorType::Q8_0>();
    case TensorType::Q4_0: return fn.template operator()<TensorType::Q4_0>();
    case TensorType::Q4_K: return fn.template operator()<TensorType::Q4_K>();
    case TensorType::Q5_K: return fn.template operator()<TensorType::Q5_K>();
    case TensorType::Q6_K: return fn.template operator()<TensorType::Q6_K>();
    default: throw std::logic_error("cuda kernels: type " + std::to_string(static_cast<int>(type)) + " is not read natively");
  }
}

}  // namespace

bool reads_natively(TensorType type) {
  switch (type) {
    case TensorType::F32: case TensorType::F16: case TensorType::BF16: case TensorType::Q8_0: case TensorType::Q4_0:
    case TensorType::Q4_K: case TensorType::Q5_K: case TensorType::Q6_K:
      return true;
    default:
      return false;
  }
}

void matmul(const DeviceMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t y_stride, cudaStream_t stream) {
  if (n_tokens <= 0 || w.rows <= 0) return;
  dispatch(w.type, [&]<TensorType T>() { matmul_type<T>(w, x, n_tokens, y, y_stride, stream); });
}

void get_rows(const DeviceMatrix& w, const int32_t* ids, int64_t n_ids, float* out, cudaStream_t stream) {
  if (n_ids <= 0) return;
  dispatch(w.type, [&]<TensorType T>() { get_rows_type<T>(w, ids, n_ids, out, stream); });
}

}  // namespace hearth::kernels::cuda
