// The operations a forward pass needs, as one small interface each compute device implements.
//
// A forward pass owns no memory of its own: it asks the backend for buffers, describes activations as row-major
// f32 matrices inside them (one row per token of the batch) and calls the operations below. Weights stay where the
// model file is mapped; the KV cache is backend memory addressed by cell. Kernels behind a backend know nothing
// of models; the backend knows nothing of architectures.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "hearth/tensor_type.h"
#include "kernels/params.h"

namespace hearth::backend {

using kernels::AttentionShape;
using kernels::RopePairing;
using kernels::RopeParams;

// Memory a backend allocated; freed by the backend's own deleter when the Buffer goes.
class Buffer {
 public:
  using Deleter = void (*)(void*);
  Buffer() : data_(nullptr, [](void*) {}) {}
  Buffer(void* data, uint64_t bytes, Deleter deleter) : data_(data, deleter), bytes_(bytes) {}

  void* data() const { return data_.get(); }
  uint64_t bytes() const { return bytes_; }
  float* floats() const { return static_cast<float*>(data_.get()); }

 private:
  std::unique_ptr<void, Deleter> data_;
  uint64_t bytes_ = 0;
};

// A view of `rows` x `cols` f32 values, row-major and contiguous, in backend memory.
struct Matrix {
  float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;

  float* row(int64_t r) const { return data + r * cols; }
  int64_t size() const { return rows * cols; }
  // The same values seen as rows of `width` (e.g. one row per attention head); width must divide cols.
  Matrix reshaped(int64_t width) const { return {data, size() / width, width}; }
  // The first `n` rows.
  Matrix first_rows(int64_t n) const { return {data, n, cols}; }
};

// A weight matrix as the model file stores it: `rows` rows of `cols` elements of `type`.
struct Weight {
  TensorType type = TensorType::F32;
  const std::byte* data = nullptr;
  uint64_t row_bytes = 0;
  int64_t rows = 0;
  int64_t cols = 0;
};

// One layer's cached keys and values: `n_cells` rows each, stored as `type` (F16 or F32).
struct KvLayer {
  TensorType type = TensorType::F16;
  std::byte* keys = nullptr;
  std::byte* values = nullptr;
  int64_t n_cells = 0;
  int64_t key_width = 0;    // n_head_kv * head_dim
  int64_t value_width = 0;  // n_head_kv * head_dim_v
  uint64_t key_row_bytes = 0;
  uint64_t value_row_bytes = 0;
};

// The tokens of one sequence in a batch and the cached cells they attend to (the causal mask per sequence).
struct AttentionGroup {
  std::span<const int32_t> cells;      // the sequence's cache cells in position order (the batch's own included)
  std::span<const int32_t> queries;    // batch rows of the sequence's tokens
  std::span<const int32_t> n_visible;  // per query: how many leading `cells` it sees (those at or before its position)
};

// The largest operands a context will pass, so a backend can size its own scratch once.
struct WorkspaceLimits {
  int64_t max_weight_cols = 0;  // longest weight row (input width of any matmul)
  int64_t max_tokens = 0;       // most activation rows of any matmul (the batch size)
  int64_t n_cells = 0;          // KV cache cells
  int64_t key_width = 0;
  int64_t value_width = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string_view name() const = 0;
  // The device in words for reports: "cpu", "cuda:0 (NVIDIA H200)".
  virtual std::string description() const { return std::string(name()); }
  // Bytes of memory this backend can still allocate, where it can tell.
  virtual std::optional<uint64_t> available_memory() const = 0;
  // Uninitialized memory for activations or the KV cache.
  virtual Buffer allocate(uint64_t bytes) = 0;
  // Uninitialized memory the operations write and the host reads after synchronize() (the logits).
  virtual Buffer allocate_host_visible(uint64_t bytes) { return allocate(bytes); }
  // Waits until every operation called so far has finished (a backend may run them asynchronously).
  virtual void synchronize() {}
  // Bytes of scratch the backend will hold for these limits (reported before anything is allocated).
  virtual uint64_t workspace_bytes(const WorkspaceLimits& limits) const = 0;
  // Allocates that scratch; operations may only use shapes within the limits last reserved.
  virtual void reserve(const WorkspaceLimits& limits) = 0;

  // Bytes of its own memory the backend holds for a weight once uploaded (0 where it reads the mapping).
  virtual uint64_t resident_bytes(const Weight& w) const = 0;
  virtual uint64_t resident_bytes(std::span<const float> values) const = 0;
  // Copies a weight or vector into the backend's memory now rather than when an operation first needs it.
  virtual void upload(const Weight& w) = 0;
  virtual void upload(std::span<const float> values) = 0;

  // Copies src into host memory (src.size() floats) once every operation called before has finished.
  virtual void read(const Matrix& src, float* host) = 0;
  // Copies dst.size() floats from host memory into dst, after the operations called before; host may be reused
  // as soon as this returns.
  virtual void write(const float* host, Matrix dst) = 0;

  // out row i = table row ids[i] as f32 (embedding lookup).
  virtual void get_rows(const Weight& table, std::span<const int32_t> ids, Matrix out) = 0;
  // y = x . w^T: y row t, column r = dot(x row t, w row r). x.cols == w.cols, y is x.rows x w.rows.
  // x is first rounded to the weight type's activation format as llama.cpp does (kernels/cpu/activations.h).
  virtual void matmul(const Weight& w, const Matrix& x, Matrix y) = 0;
  // x row t += bias (bias.size() == x.cols).
  virtual void add_bias(Matrix x, std::span<const float> bias) = 0;
  // y row t = x row t / sqrt(mean(x row t ^ 2) + eps) * gain. y may be x.
  virtual void rms_norm(const Matrix& x, std::span<const float> gain, float eps, Matrix y) = 0;
  // Rotates each head_dim-wide head of x row t by position positions[t], in place.
  virtual void rope(Matrix x, int64_t head_dim, std::span<const int32_t> positions, const RopeParams& params) = 0;
  // out = silu(gate) * up, element-wise. out may be gate or up.
  virtual void swiglu(const Matrix& gate, const Matrix& up, Matrix out) = 0;
  // x += y, element-wise.
  virtual void add(Matrix x, const Matrix& y) = 0;
  // dst row i = src row rows[i].
  virtual void copy_rows(const Matrix& src, std::span<const int32_t> rows, Matrix dst) = 0;

  // Stores key row t and value row t of the batch into cache cell cells[t].
  virtual void store_kv(const KvLayer& layer, const Matrix& keys, const Matrix& values,
                        std::span<const int32_t> cells) = 0;
  // out row of each query = softmax attention of its q row over the cells its group lets it see. With an F16
  // cache, q and the softmax weights are rounded to f16 before their products with keys and values, as
  // llama.cpp's attention (without flash attention) multiplies them.
  virtual void attention(const Matrix& q, const KvLayer& layer, std::span<const AttentionGroup> groups,
                         const AttentionShape& shape, Matrix out) = 0;
  // Turns the cached keys of cells[i] by deltas[i] positions (moving tokens within a sequence keeps keys valid,
  // since rotations by position compose).
  virtual void rotate_keys(const KvLayer& layer, std::span<const int32_t> cells, std::span<const int32_t> deltas,
                           int64_t head_dim, const RopeParams& params) = 0;
  // Copies the cached keys and values of cells from[i] into cells to[i].
  virtual void copy_cells(const KvLayer& layer, std::span<const int32_t> from, std::span<const int32_t> to) = 0;
};

// The CPU backend: reference kernels spread over `n_threads` threads (0: one per hardware thread).
std::unique_ptr<Backend> make_cpu_backend(int n_threads);

// CUDA GPUs this process can use: 0 without a driver or a device, and in builds without CUDA.
int cuda_device_count();
// Why there is no CUDA GPU to use (no driver, no device, a build without CUDA), for error messages.
std::string cuda_unavailable_reason();
// The CUDA backend on GPU `device`; std::invalid_argument when there is no such GPU or the build has no CUDA.
std::unique_ptr<Backend> make_cuda_backend(int device);

}  // namespace hearth::backend
