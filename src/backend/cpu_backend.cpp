// The CPU backend: each operation splits its rows over the thread pool and runs a reference kernel on each part.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "backend/backend.h"
#include "backend/system_memory.h"
#include "hearth/numeric_error.h"
#include "hearth/tensor_type.h"
#include "kernels/cpu/activations.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/rope.h"
#include "kernels/cpu/thread_pool.h"

namespace hearth::backend {
namespace {

namespace cpu = kernels::cpu;

constexpr uint64_t kAlignment = 64;  // a cache line, and enough for any SIMD load

cpu::QuantMatrix as_quant(const Weight& w) { return {w.type, w.data, w.row_bytes, w.rows, w.cols}; }

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int n_threads)
      : pool_(n_threads), isa_(cpu::cpu_isa()), swiglu_(cpu::swiglu_kernel(isa_)) {}

  std::string_view name() const override { return "cpu"; }
  std::optional<uint64_t> available_memory() const override { return backend::available_memory(); }

  Buffer allocate(uint64_t bytes) override {
    const uint64_t rounded = std::max<uint64_t>(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
    void* data = std::aligned_alloc(kAlignment, rounded);
    if (data == nullptr) throw std::bad_alloc();
    return Buffer(data, bytes, [](void* p) { std::free(p); });
  }

  uint64_t workspace_bytes(const WorkspaceLimits& limits) const override {
    const auto threads = static_cast<uint64_t>(pool_.size());
    const uint64_t tiles = threads * static_cast<uint64_t>(cpu::matmul_tile_floats(limits.max_weight_cols));
    const uint64_t rounded = static_cast<uint64_t>(limits.max_tokens) * static_cast<uint64_t>(limits.max_weight_cols);
    const uint64_t scores = threads * static_cast<uint64_t>(attention_scratch_floats(limits));
    // Keys and values of the attended cells, converted to f32 once per layer and shared by every query.
    const uint64_t gathered = static_cast<uint64_t>(limits.n_cells) *
                              static_cast<uint64_t>(std::max(limits.key_width, limits.value_width));
    return (tiles + rounded + scores + 2 * gathered) * sizeof(float);
  }

  void reserve(const WorkspaceLimits& limits) override {
    limits_ = limits;
    const int64_t threads = pool_.size();
    tiles_ = allocate(sizeof(float) * threads * cpu::matmul_tile_floats(limits.max_weight_cols));
    rounded_ = allocate(sizeof(float) * limits.max_tokens * limits.max_weight_cols);
    scores_ = allocate(sizeof(float) * threads * attention_scratch_floats(limits));
    gathered_keys_ = allocate(sizeof(float) * limits.n_cells * limits.key_width);
    gathered_values_ = allocate(sizeof(float) * limits.n_cells * limits.value_width);
  }

  // Weights are read where the file is mapped.
  uint64_t resident_bytes(const Weight&) const override { return 0; }
  uint64_t resident_bytes(std::span<const float>) const override { return 0; }
  void upload(const Weight&) override {}
  void upload(std::span<const float>) override {}

  // Operations have finished when they return: host memory is this backend's memory.
  void read(const Matrix& src, float* host) override { std::memcpy(host, src.data, sizeof(float) * src.size()); }
  void write(const float* host, Matrix dst) override { std::memcpy(dst.data, host, sizeof(float) * dst.size()); }

  void get_rows(const Weight& table, std::span<const int32_t> ids, Matrix out) override {
    const auto quant = as_quant(table);
    for_row_ranges(static_cast<int64_t>(ids.size()), [&](int64_t begin, int64_t end) {
      cpu::get_rows(quant, ids.subspan(begin, end - begin), out.row(begin));
    });
  }

  void matmul(const Weight& w, const Matrix& x, Matrix y) override {
    require(w.cols <= limits_.max_weight_cols, "matmul wider than the reserved workspace");
    const auto quant = as_quant(w);
    // The activations as llama.cpp multiplies them: rounded once to the weight type's partner format, and for
    // the weight types with integer kernels kept as 8-bit blocks.
    const TensorType format = cpu::activation_format(w.type);
    if (format != TensorType::F32) require(x.rows <= limits_.max_tokens, "matmul over more tokens than the reserved workspace");
    if (const cpu::QuantDot dot = cpu::quant_dot_kernel(w.type)) {
      const uint64_t row_bytes = cpu::activation_row_bytes(format, x.cols);
      auto* blocks = reinterpret_cast<std::byte*>(rounded_.floats());
      for_row_ranges(x.rows, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
          // 8-bit rounding would turn a NaN or infinity into finite noise (its block's maximum ignores NaN), so
          // the products of broken weights would read as plausible logits: refuse them here.
          const float* row = x.row(t);
          if (const float* bad = std::find_if(row, row + x.cols, [](float v) { return !std::isfinite(v); });
              bad != row + x.cols) {
            throw NonFiniteValueError(fmt::format(
                "the model computed a non-finite value ({}) before a {} product: its weights hold NaN or infinite "
                "values (hearth info FILE --check-tensors finds them)", *bad, type_name(w.type)));
          }
          cpu::quantize_activations(format, row, blocks + static_cast<uint64_t>(t) * row_bytes, x.cols);
        }
      });
      const cpu::QuantTile tile = cpu::quant_tile(w.type, isa_);
      const cpu::QuantRowTile row_tile = cpu::quant_row_tile(w.type, isa_);
      const int64_t n_panels = (w.rows + cpu::kMatmulTileRows - 1) / cpu::kMatmulTileRows;
      pool_.parallel_for(n_panels, [&](int64_t panel, int) {
        const int64_t begin = panel * cpu::kMatmulTileRows;
        const int64_t end = std::min(begin + cpu::kMatmulTileRows, w.rows);
        cpu::matmul_quant_rows(quant, dot, tile, row_tile, blocks, row_bytes, x.rows, y.data, y.cols, begin, end);
      });
      return;
    }
    const float* input = x.data;
    if (format != TensorType::F32) {
      float* rounded = rounded_.floats();
      for_row_ranges(x.rows, [&](int64_t begin, int64_t end) {
        cpu::round_activations(format, x.row(begin), rounded + begin * x.cols, (end - begin) * x.cols);
      });
      input = rounded;
    }
    const int64_t tile_floats = cpu::matmul_tile_floats(limits_.max_weight_cols);
    const int64_t n_panels = (w.rows + cpu::kMatmulTileRows - 1) / cpu::kMatmulTileRows;
    const cpu::FloatTile float_tile = cpu::float_tile(w.type, isa_);
    pool_.parallel_for(n_panels, [&](int64_t panel, int thread) {
      const int64_t begin = panel * cpu::kMatmulTileRows;
      const int64_t end = std::min(begin + cpu::kMatmulTileRows, w.rows);
      cpu::matmul_rows(quant, float_tile, input, x.rows, y.data, y.cols, begin, end,
                       tiles_.floats() + thread * tile_floats);
    });
  }

  void add_bias(Matrix x, std::span<const float> bias) override {
    for_row_ranges(x.rows, [&](int64_t begin, int64_t end) {
      cpu::add_rows(x.row(begin), bias.data(), end - begin, x.cols);
    });
  }

  void rms_norm(const Matrix& x, std::span<const float> gain, float eps, Matrix y) override {
    for_row_ranges(x.rows, [&](int64_t begin, int64_t end) {
      cpu::rms_norm_rows(x.row(begin), gain.data(), y.row(begin), end - begin, x.cols, eps);
    });
  }

  void rope(Matrix x, int64_t head_dim, std::span<const int32_t> positions, const RopeParams& params) override {
    const int64_t n_heads = x.cols / head_dim;
    for_row_ranges(x.rows, [&](int64_t begin, int64_t end) {
      cpu::rope_rows(x.row(begin), end - begin, n_heads, head_dim, positions.data() + begin, params);
    });
  }

  void swiglu(const Matrix& gate, const Matrix& up, Matrix out) override {
    for_row_ranges(gate.rows, [&](int64_t begin, int64_t end) {
      // Row by row: which values take the vector-chunk exp depends on the position within a row.
      for (int64_t r = begin; r < end; ++r) swiglu_(gate.row(r), up.row(r), out.row(r), gate.cols);
    });
  }

  void add(Matrix x, const Matrix& y) override {
    for_row_ranges(x.rows, [&](int64_t begin, int64_t end) {
      cpu::add(x.row(begin), y.row(begin), (end - begin) * x.cols);
    });
  }

  void copy_rows(const Matrix& src, std::span<const int32_t> rows, Matrix dst) override {
    for (size_t i = 0; i < rows.size(); ++i) {
      std::memcpy(dst.row(static_cast<int64_t>(i)), src.row(rows[i]), sizeof(float) * src.cols);
    }
  }

  void store_kv(const KvLayer& layer, const Matrix& keys, const Matrix& values,
                std::span<const int32_t> cells) override {
    for_row_ranges(static_cast<int64_t>(cells.size()), [&](int64_t begin, int64_t end) {
      const auto part = cells.subspan(begin, end - begin);
      cpu::set_rows(layer.type, layer.keys, layer.key_row_bytes, layer.key_width, part, keys.row(begin));
      cpu::set_rows(layer.type, layer.values, layer.value_row_bytes, layer.value_width, part, values.row(begin));
    });
  }

  void attention(const Matrix& q, const KvLayer& layer, std::span<const AttentionGroup> groups,
                 const AttentionShape& shape, Matrix out) override {
    const cpu::QuantMatrix keys{layer.type, layer.keys, layer.key_row_bytes, layer.n_cells, layer.key_width};
    const cpu::QuantMatrix values{layer.type, layer.values, layer.value_row_bytes, layer.n_cells, layer.value_width};
    for (const AttentionGroup& group : groups) {
      const auto n_cells = static_cast<int64_t>(group.cells.size());
      require(n_cells <= limits_.n_cells, "attention over more cells than the reserved workspace");
      float* gathered_keys = gathered_keys_.floats();
      float* gathered_values = gathered_values_.floats();
      for_row_ranges(n_cells, [&](int64_t begin, int64_t end) {
        const auto part = group.cells.subspan(begin, end - begin);
        cpu::get_rows(keys, part, gathered_keys + begin * layer.key_width);
        cpu::get_rows(values, part, gathered_values + begin * layer.value_width);
      });
      const auto n_queries = static_cast<int64_t>(group.queries.size());
      const int64_t scratch_floats = attention_scratch_floats(limits_);
      const cpu::AttentionHead attention_head = cpu::attention_head_kernel(shape, isa_);
      pool_.parallel_for(n_queries * shape.n_head, [&](int64_t task, int thread) {
        const int64_t query = task / shape.n_head;
        const int64_t head = task % shape.n_head;
        const int32_t row = group.queries[query];
        attention_head(shape, layer.type, q.row(row), gathered_keys, gathered_values, group.n_visible[query], head,
                       out.row(row), scores_.floats() + thread * scratch_floats);
      });
    }
  }

  void rotate_keys(const KvLayer& layer, std::span<const int32_t> cells, std::span<const int32_t> deltas,
                   int64_t head_dim, const RopeParams& params) override {
    const cpu::QuantMatrix keys{layer.type, layer.keys, layer.key_row_bytes, layer.n_cells, layer.key_width};
    float* rows = gathered_keys_.floats();
    const auto n = static_cast<int64_t>(cells.size());
    for_row_ranges(n, [&](int64_t begin, int64_t end) {
      const auto part = cells.subspan(begin, end - begin);
      float* part_rows = rows + begin * layer.key_width;
      cpu::get_rows(keys, part, part_rows);
      cpu::rope_rows(part_rows, end - begin, layer.key_width / head_dim, head_dim, deltas.data() + begin, params);
      cpu::set_rows(layer.type, layer.keys, layer.key_row_bytes, layer.key_width, part, part_rows);
    });
  }

  void copy_cells(const KvLayer& layer, std::span<const int32_t> from, std::span<const int32_t> to) override {
    require(from.size() == to.size(), "copy_cells: as many targets as sources");
    for (std::size_t i = 0; i < from.size(); ++i) {
      std::memcpy(layer.keys + static_cast<uint64_t>(to[i]) * layer.key_row_bytes,
                  layer.keys + static_cast<uint64_t>(from[i]) * layer.key_row_bytes, layer.key_row_bytes);
      std::memcpy(layer.values + static_cast<uint64_t>(to[i]) * layer.value_row_bytes,
                  layer.values + static_cast<uint64_t>(from[i]) * layer.value_row_bytes, layer.value_row_bytes);
    }
  }

 private:
  static int64_t attention_scratch_floats(const WorkspaceLimits& limits) {
    return cpu::attention_scratch_floats(limits.n_cells, std::max(limits.key_width, limits.value_width));
  }

  static void require(bool ok, const char* what) {
    if (!ok) throw std::logic_error(std::string("cpu backend: ") + what);
  }

  // Splits [0, n) into about one contiguous range per thread (fewer for few rows) and runs fn on each.
  template <typename Fn>
  void for_row_ranges(int64_t n, const Fn& fn) {
    const int64_t parts = std::min<int64_t>(n, pool_.size());
    if (parts <= 1) {
      if (n > 0) fn(int64_t{0}, n);
      return;
    }
    pool_.parallel_for(parts, [&](int64_t part, int) { fn(n * part / parts, n * (part + 1) / parts); });
  }

  cpu::ThreadPool pool_;
  cpu::Isa isa_;
  cpu::Swiglu swiglu_;
  WorkspaceLimits limits_;
  Buffer tiles_;
  Buffer rounded_;
  Buffer scores_;
  Buffer gathered_keys_;
  Buffer gathered_values_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::make_unique<CpuBackend>(n_threads);
}

}  // namespace hearth::backend
