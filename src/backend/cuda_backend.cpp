// The CUDA backend: every operation of backend.h as kernels on one stream of one GPU (kernels/cuda).
//
// Activations, the KV cache and scratch are device memory; the logits are pinned host memory the kernels write
// through the unified address space, readable once synchronize() returns. Weights and the small f32 tensors
// (norm gains, biases, RoPE factors) stay where the model file is mapped until an operation first needs them,
// then live on the device for the backend's life, keyed by their address in the mapping (a Context keeps its
// model, so the mapping outlives the backend). Types the kernels do not read natively are converted to F16 then.
// The per-call host arrays (token ids, positions, cells) go through a pinned staging area, reused after each
// synchronization.
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"
#include "hearth/context.h"
#include "kernels/cuda/kernels.h"
#include "tensor/quant.h"

namespace hearth::backend {
namespace {

namespace cuda = kernels::cuda;

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw std::runtime_error(fmt::format("CUDA: {}: {}", what, cudaGetErrorString(status)));
  }
}

void free_device(void* p) { cudaFree(p); }
void free_pinned(void* p) { cudaFreeHost(p); }

double mib(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {
    check(cudaSetDevice(device), "selecting the device");
    cudaDeviceProp properties{};
    check(cudaGetDeviceProperties(&properties, device), "reading the device's properties");
    device_name_ = properties.name;
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating a stream");
  }
  ~CudaBackend() override {
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }

  std::string_view name() const override { return "cuda"; }
  std::string description() const override { return fmt::format("cuda:{} ({})", device_, device_name_); }
  std::optional<uint64_t> available_memory() const override {
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) return std::nullopt;
    return free_bytes;
  }

  Buffer allocate(uint64_t bytes) override { return device_buffer(bytes, "activations or the KV cache"); }

  Buffer allocate_host_visible(uint64_t bytes) override {
    void* p = nullptr;
    check(cudaHostAlloc(&p, std::max<uint64_t>(bytes, 1), cudaHostAllocMapped), "allocating pinned host memory");
    void* device_view = nullptr;
    check(cudaHostGetDevicePointer(&device_view, p, 0), "mapping pinned host memory");
    if (device_view != p) {
      cudaFreeHost(p);
      throw std::runtime_error("CUDA: pinned host memory has another address on the device (no unified addressing)");
    }
    return {p, bytes, free_pinned};
  }

  void synchronize() override {
    check(cudaStreamSynchronize(stream_), "running the forward pass");
    staged_ = 0;
    attention_groups_ = {};  // its staged copies are gone with the rest
  }

  uint64_t workspace_bytes(const WorkspaceLimits& limits) const override { return 2 * staging_bytes(limits); }

  void reserve(const WorkspaceLimits& limits) override {
    const uint64_t bytes = staging_bytes(limits);
    void* pinned = nullptr;
    check(cudaHostAlloc(&pinned, bytes, cudaHostAllocDefault), "allocating the staging area");
    staging_host_ = Buffer(pinned, bytes, free_pinned);
    staging_device_ = device_buffer(bytes, "the staging area");
    staged_ = 0;
    attention_groups_ = {};
  }

  uint64_t resident_bytes(const Weight& w) const override {
    const uint64_t row_bytes = cuda::reads_natively(w.type) ? w.row_bytes : 2 * static_cast<uint64_t>(w.cols);
    return row_bytes * static_cast<uint64_t>(w.rows);
  }
  uint64_t resident_bytes(std::span<const float> values) const override { return values.size_bytes(); }
  void upload(const Weight& w) override { resident(w); }
  void upload(std::span<const float> values) override {
    if (!values.empty()) resident(values);
  }

  void read(const Matrix& src, float* host) override {
    check(cudaMemcpyAsync(host, src.data, sizeof(float) * src.size(), cudaMemcpyDeviceToHost, stream_),
          "copying activations to the host");
    synchronize();
  }
  // From pageable memory the copy returns once the host values are staged, so `host` may be reused at once.
  void write(const float* host, Matrix dst) override {
    check(cudaMemcpyAsync(dst.data, host, sizeof(float) * dst.size(), cudaMemcpyHostToDevice, stream_),
          "copying activations to the device");
  }

  void get_rows(const Weight& table, std::span<const int32_t> ids, Matrix out) override {
    make_room(ids.size_bytes());
    cuda::get_rows(resident(table), stage(ids), static_cast<int64_t>(ids.size()), out.data, stream_);
  }

  void matmul(const Weight& w, const Matrix& x, Matrix y) override {
    cuda::matmul(resident(w), x.data, x.rows, y.data, y.cols, stream_);
  }

  void add_bias(Matrix x, std::span<const float> bias) override {
    cuda::add_bias(x.data, resident(bias), x.rows, x.cols, stream_);
  }

  void rms_norm(const Matrix& x, std::span<const float> gain, float eps, Matrix y) override {
    cuda::rms_norm(x.data, resident(gain), eps, y.data, x.rows, x.cols, stream_);
  }

  void rope(Matrix x, int64_t head_dim, std::span<const int32_t> positions, const RopeParams& params) override {
    make_room(positions.size_bytes());
    cuda::rope(x.data, x.rows, x.cols / head_dim, head_dim, stage(positions), device_params(params), stream_);
  }

  void swiglu(const Matrix& gate, const Matrix& up, Matrix out) override {
    cuda::swiglu(gate.data, up.data, out.data, gate.size(), stream_);
  }

  void add(Matrix x, const Matrix& y) override { cuda::add(x.data, y.data, x.size(), stream_); }

  void copy_rows(const Matrix& src, std::span<const int32_t> rows, Matrix dst) override {
    make_room(rows.size_bytes());
    cuda::copy_rows(src.data, src.cols, stage(rows), static_cast<int64_t>(rows.size()), dst.data, stream_);
  }

  void store_kv(const KvLayer& layer, const Matrix& keys, const Matrix& values,
                std::span<const int32_t> cells) override {
    make_room(cells.size_bytes());
    const int32_t* device_cells = stage(cells);
    const auto n = static_cast<int64_t>(cells.size());
    cuda::store_rows(key_rows(layer), device_cells, n, keys.data, stream_);
    cuda::store_rows(value_rows(layer), device_cells, n, values.data, stream_);
  }

  void attention(const Matrix& q, const KvLayer& layer, std::span<const AttentionGroup> groups,
                 const AttentionShape& shape, Matrix out) override {
    // Every layer of a pass attends with the same groups (the same list, at the same address), so they are
    // flattened and staged once per pass; synchronize() ends the pass.
    if (groups.data() != attention_groups_.data() || groups.size() != attention_groups_.size()) {
      // Every group's cells once, and per query its row and how many of its group's cells it sees.
      std::vector<int32_t> cells;
      std::vector<cuda::AttentionQuery> queries;
      for (const AttentionGroup& group : groups) {
        const auto first = static_cast<int32_t>(cells.size());
        cells.insert(cells.end(), group.cells.begin(), group.cells.end());
        for (size_t i = 0; i < group.queries.size(); ++i) queries.push_back({group.queries[i], first, group.n_visible[i]});
      }
      make_room(cells.size() * sizeof(int32_t) + queries.size() * sizeof(cuda::AttentionQuery));
      attention_cells_ = stage(std::span<const int32_t>(cells));
      attention_queries_ = stage(std::span<const cuda::AttentionQuery>(queries));
      n_attention_queries_ = static_cast<int64_t>(queries.size());
      attention_groups_ = groups;
    }
    cuda::attention(q.data, q.cols, key_rows(layer), value_rows(layer), attention_cells_, attention_queries_,
                    n_attention_queries_, shape, out.data, out.cols, stream_);
  }

  void rotate_keys(const KvLayer& layer, std::span<const int32_t> cells, std::span<const int32_t> deltas,
                   int64_t head_dim, const RopeParams& params) override {
    make_room(cells.size_bytes() + deltas.size_bytes());
    const int32_t* device_cells = stage(cells);
    const int32_t* device_deltas = stage(deltas);
    cuda::rotate_rows(key_rows(layer), device_cells, device_deltas, static_cast<int64_t>(cells.size()), head_dim,
                      device_params(params), stream_);
  }

  void copy_cells(const KvLayer& layer, std::span<const int32_t> from, std::span<const int32_t> to) override {
    if (from.size() != to.size()) throw std::logic_error("cuda backend: copy_cells needs as many targets as sources");
    make_room(from.size_bytes() + to.size_bytes());
    const int32_t* device_from = stage(from);
    const int32_t* device_to = stage(to);
    const auto n = static_cast<int64_t>(from.size());
    cuda::copy_cache_rows(key_rows(layer), device_from, device_to, n, stream_);
    cuda::copy_cache_rows(value_rows(layer), device_from, device_to, n, stream_);
  }

 private:
  struct ResidentMatrix {
    Buffer memory;
    cuda::DeviceMatrix matrix;
  };

  // Room for the host arrays of a whole forward pass's operations in most cases (a batch's ids and positions,
  // attention's cells and queries per layer), at least four times what one operation stages.
  static uint64_t staging_bytes(const WorkspaceLimits& limits) {
    const uint64_t one_operation = 1024 + 16 * static_cast<uint64_t>(limits.max_tokens) + 8 * static_cast<uint64_t>(limits.n_cells);
    return std::max<uint64_t>(4 * one_operation, 4 << 20);
  }

  Buffer device_buffer(uint64_t bytes, const char* what) {
    size_t free_bytes = 0, total_bytes = 0;
    check(cudaMemGetInfo(&free_bytes, &total_bytes), "reading free device memory");
    if (bytes > free_bytes) {
      throw ResourceError(fmt::format("{} need {:.1f} MiB of GPU memory but only {:.1f} MiB of {:.1f} MiB are free",
                                      what, mib(bytes), mib(free_bytes), mib(total_bytes)));
    }
    void* p = nullptr;
    check(cudaMalloc(&p, std::max<uint64_t>(bytes, 1)), what);
    return {p, bytes, free_device};
  }

  static uint64_t staged_size(uint64_t bytes) { return (bytes + 255) / 256 * 256; }

  // Makes room for one operation's staged arrays (`bytes` together, two arrays at most): when the area is full,
  // waits for the operations already enqueued, which have then consumed their copies.
  void make_room(uint64_t bytes) {
    const uint64_t needed = staged_size(bytes) + 256;
    if (needed > staging_host_.bytes()) throw std::logic_error("cuda backend: more staged data than reserved");
    if (staged_ + needed > staging_host_.bytes()) synchronize();
  }

  // A device copy of a host array, valid for the operations enqueued before the next synchronize(); the
  // operation made room for it first.
  template <typename T>
  const T* stage(std::span<const T> values) {
    const uint64_t bytes = staged_size(values.size_bytes());
    if (staged_ + bytes > staging_host_.bytes()) throw std::logic_error("cuda backend: staging without room");
    auto* host = static_cast<std::byte*>(staging_host_.data()) + staged_;
    auto* device = static_cast<std::byte*>(staging_device_.data()) + staged_;
    std::memcpy(host, values.data(), values.size_bytes());
    check(cudaMemcpyAsync(device, host, values.size_bytes(), cudaMemcpyHostToDevice, stream_), "staging host data");
    staged_ += bytes;
    return reinterpret_cast<const T*>(device);
  }

  const cuda::DeviceMatrix& resident(const Weight& w) {
    if (const auto it = matrices_.find(w.data); it != matrices_.end()) return it->second.matrix;
    if (w.cols % 32 != 0) {
      throw std::invalid_argument(
          fmt::format("cuda backend: weight rows of {} values are not a multiple of 32", w.cols));
    }
    ResidentMatrix resident;
    const auto rows = static_cast<uint64_t>(w.rows);
    if (cuda::reads_natively(w.type)) {
      resident.memory = device_buffer(w.row_bytes * rows, "the model's weights");
      check(cudaMemcpy(resident.memory.data(), w.data, w.row_bytes * rows, cudaMemcpyHostToDevice), "uploading weights");
      resident.matrix = {w.type, resident.memory.data(), w.row_bytes, w.rows, w.cols};
    } else {
      const uint64_t f16_row_bytes = 2 * static_cast<uint64_t>(w.cols);
      resident.memory = device_buffer(f16_row_bytes * rows, "the model's weights (converted to F16)");
      std::vector<float> row(static_cast<size_t>(w.cols));
      std::vector<uint16_t> converted(static_cast<size_t>(w.cols));
      for (uint64_t r = 0; r < rows; ++r) {
        tensor::dequantize_row(w.type, w.data + r * w.row_bytes, row.data(), w.cols);
        for (size_t i = 0; i < row.size(); ++i) converted[i] = tensor::fp32_to_fp16(row[i]);
        check(cudaMemcpy(static_cast<std::byte*>(resident.memory.data()) + r * f16_row_bytes, converted.data(),
                         f16_row_bytes, cudaMemcpyHostToDevice),
              "uploading weights");
      }
      resident.matrix = {TensorType::F16, resident.memory.data(), f16_row_bytes, w.rows, w.cols};
    }
    return matrices_.emplace(w.data, std::move(resident)).first->second.matrix;
  }

  const float* resident(std::span<const float> values) {
    if (const auto it = vectors_.find(values.data()); it != vectors_.end()) return it->second.floats();
    Buffer memory = device_buffer(values.size_bytes(), "the model's norm and bias vectors");
    check(cudaMemcpy(memory.data(), values.data(), values.size_bytes(), cudaMemcpyHostToDevice), "uploading vectors");
    return vectors_.emplace(values.data(), std::move(memory)).first->second.floats();
  }

  RopeParams device_params(RopeParams params) {
    if (params.freq_factors != nullptr) {
      params.freq_factors = resident(std::span<const float>(params.freq_factors, static_cast<size_t>(params.n_dims / 2)));
    }
    return params;
  }

  static cuda::CacheRows key_rows(const KvLayer& layer) {
    return {layer.type, layer.keys, layer.key_row_bytes, layer.key_width};
  }
  static cuda::CacheRows value_rows(const KvLayer& layer) {
    return {layer.type, layer.values, layer.value_row_bytes, layer.value_width};
  }

  int device_ = 0;
  std::string device_name_;
  cudaStream_t stream_ = nullptr;
  Buffer staging_host_;
  Buffer staging_device_;
  uint64_t staged_ = 0;
  // The groups last staged for attention in this pass, and their device copies.
  std::span<const AttentionGroup> attention_groups_;
  const int32_t* attention_cells_ = nullptr;
  const cuda::AttentionQuery* attention_queries_ = nullptr;
  int64_t n_attention_queries_ = 0;
  std::unordered_map<const void*, ResidentMatrix> matrices_;
  std::unordered_map<const void*, Buffer> vectors_;
};

}  // namespace

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // no driver or no device: clear the error, report none
    return 0;
  }
  return count;
}

std::string cuda_unavailable_reason() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status == cudaSuccess && count > 0) return {};
  cudaGetLastError();
  if (status == cudaErrorInsufficientDriver) {
    return "no CUDA GPU is available on this machine (no NVIDIA driver, or one older than this build's CUDA runtime)";
  }
  return status == cudaSuccess || status == cudaErrorNoDevice
             ? std::string("no CUDA GPU is available on this machine")
             : fmt::format("no CUDA GPU is available on this machine ({})", cudaGetErrorString(status));
}

std::unique_ptr<Backend> make_cuda_backend(int device) {
  const int count = cuda_device_count();
  if (count == 0) throw std::invalid_argument(cuda_unavailable_reason());
  if (device < 0 || device >= count) {
    throw std::invalid_argument(fmt::format("GPU {} does not exist (this machine has {})", device, count));
  }
  return std::make_unique<CudaBackend>(device);
}

}  // namespace hearth::backend
