// Context: the KV cache, activation memory and backend that run a Model over batches.
#include "hearth/context.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <thread>

#include "backend/backend.h"
#include "model/decoder.h"
#include "model/model_impl.h"
#include "runtime/kv_cells.h"
#include "runtime/system_memory.h"

namespace hearth {
namespace {

constexpr int32_t kDefaultMaxContext = 4096;

double mib(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// Fills in the defaults and rejects options that cannot work.
ContextOptions resolve(const ModelInfo& info, ContextOptions options) {
  if (options.n_ctx < 0) throw std::invalid_argument(fmt::format("n_ctx is {}, expected 0 or more", options.n_ctx));
  if (options.n_ctx == 0) options.n_ctx = static_cast<int32_t>(std::min<int64_t>(info.n_ctx_train, kDefaultMaxContext));
  if (options.n_batch < 1) throw std::invalid_argument(fmt::format("n_batch is {}, expected 1 or more", options.n_batch));
  if (options.n_seq_max < 1) {
    throw std::invalid_argument(fmt::format("n_seq_max is {}, expected 1 or more", options.n_seq_max));
  }
  if (options.n_outputs_max < 0) {
    throw std::invalid_argument(fmt::format("n_outputs_max is {}, expected 0 or more", options.n_outputs_max));
  }
  if (options.n_outputs_max == 0) options.n_outputs_max = options.n_seq_max;
  // No pass can hold more tokens than the cache has cells.
  options.n_batch = std::min(options.n_batch, options.n_ctx);
  options.n_outputs_max = std::min(options.n_outputs_max, options.n_ctx);
  if (options.n_threads < 0) {
    throw std::invalid_argument(fmt::format("n_threads is {}, expected 0 or more", options.n_threads));
  }
  if (options.n_gpu_layers < -1) {
    throw std::invalid_argument(fmt::format("n_gpu_layers is {}, expected -1 (all) or more", options.n_gpu_layers));
  }
  if (options.n_gpu_layers > 0 && options.n_gpu_layers < info.n_layer) {
    throw std::invalid_argument(fmt::format(
        "n_gpu_layers is {}: offloading part of the model's {} layers is not supported yet; use 0 (CPU) or -1 (all)",
        options.n_gpu_layers, info.n_layer));
  }
  if (options.n_gpu_layers >= info.n_layer) options.n_gpu_layers = -1;
  if (options.n_threads == 0) options.n_threads = static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
  return options;
}

}  // namespace

struct Context::Impl {
  std::shared_ptr<const Model> model;
  ContextOptions options;
  std::unique_ptr<backend::Backend> backend;
  runtime::KvCells cells;
  backend::Buffer kv_buffer;
  std::vector<backend::KvLayer> kv_layers;
  model::Activations activations;
  backend::Buffer logits;
  std::vector<int32_t> output_row;  // per token of the last batch: its row in `logits`, or -1
  MemoryReport memory;

  Impl(std::shared_ptr<const Model> model_in, const ContextOptions& options_in, std::unique_ptr<backend::Backend> be,
       uint64_t kv_bytes)
      : model(std::move(model_in)),
        options(options_in),
        backend(std::move(be)),
        cells(options.n_ctx, options.n_seq_max),
        kv_buffer(backend->allocate(kv_bytes)),
        activations(*backend, model->info(), options.n_batch, std::min(options.n_outputs_max, options.n_batch)),
        logits(backend->allocate_host_visible(sizeof(float) * static_cast<uint64_t>(options.n_outputs_max) *
                                 static_cast<uint64_t>(model->info().n_vocab))) {}

  void validate(const Batch& batch) const;
  void run(const Batch& batch, size_t begin, size_t end, int32_t first_output);
};

Context::Context(std::shared_ptr<const Model> model, const ContextOptions& requested) {
  if (model == nullptr) throw std::invalid_argument("Context needs a model");
  const ModelInfo& info = model->info();
  const ContextOptions options = resolve(info, requested);

  const TensorType kv_type = options.kv_type == KvCacheType::f16 ? TensorType::F16 : TensorType::F32;
  const int64_t key_width = info.n_head_kv * info.head_dim;
  const int64_t value_width = info.n_head_kv * info.head_dim_v;
  const uint64_t key_row_bytes = *row_bytes(kv_type, key_width);
  const uint64_t value_row_bytes = *row_bytes(kv_type, value_width);
  const uint64_t layer_bytes = static_cast<uint64_t>(options.n_ctx) * (key_row_bytes + value_row_bytes);
  const uint64_t kv_bytes = layer_bytes * static_cast<uint64_t>(info.n_layer);

  auto backend = options.n_gpu_layers != 0 ? backend::make_cuda_backend(0) : backend::make_cpu_backend(options.n_threads);
  const backend::WorkspaceLimits limits{
      .max_weight_cols = std::max({info.n_embd, info.n_ff, info.n_head * info.head_dim_v}),
      .max_tokens = options.n_batch,
      .n_cells = options.n_ctx,
      .key_width = key_width,
      .value_width = value_width,
  };
  const uint64_t scratch = model::Activations::bytes(info, options.n_batch, std::min(options.n_outputs_max, options.n_batch)) +
                           sizeof(float) * static_cast<uint64_t>(options.n_outputs_max) * static_cast<uint64_t>(info.n_vocab) +
                           backend->workspace_bytes(limits);
  if (const auto available = runtime::available_memory(); available && kv_bytes + scratch > *available) {
    throw ResourceError(fmt::format(
        "a context of {} tokens needs {:.1f} MiB (KV cache {:.1f} MiB + scratch {:.1f} MiB) but only {:.1f} MiB of "
        "memory is available; use a smaller context",
        options.n_ctx, mib(kv_bytes + scratch), mib(kv_bytes), mib(scratch), mib(*available)));
  }
  backend->reserve(limits);

  impl_ = std::make_unique<Impl>(std::move(model), options, std::move(backend), kv_bytes);
  auto* base = static_cast<std::byte*>(impl_->kv_buffer.data());
  for (int64_t l = 0; l < info.n_layer; ++l) {
    std::byte* keys = base + static_cast<uint64_t>(l) * layer_bytes;
    impl_->kv_layers.push_back({
        .type = kv_type,
        .keys = keys,
        .values = keys + static_cast<uint64_t>(options.n_ctx) * key_row_bytes,
        .n_cells = options.n_ctx,
        .key_width = key_width,
        .value_width = value_width,
        .key_row_bytes = key_row_bytes,
        .value_row_bytes = value_row_bytes,
    });
  }
  impl_->memory = {.weights_mapped = info.file_bytes, .kv_cache = kv_bytes, .scratch = scratch};
}

Context::~Context() = default;
Context::Context(Context&&) noexcept = default;
Context& Context::operator=(Context&&) noexcept = default;

void Context::Impl::validate(const Batch& batch) const {
  if (batch.empty()) throw std::invalid_argument("decode: the batch is empty");
  const int64_t n_vocab = model->info().n_vocab;
  std::vector<int32_t> last_pos(options.n_seq_max);
  for (int32_t seq = 0; seq < options.n_seq_max; ++seq) last_pos[seq] = cells.seq_pos_max(seq);
  int32_t n_outputs = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const BatchToken& t = batch.tokens[i];
    if (t.token < 0 || t.token >= n_vocab) {
      throw std::invalid_argument(
          fmt::format("decode: batch token {} has id {}, outside the vocabulary (0..{})", i, t.token, n_vocab - 1));
    }
    if (t.seq_id < 0 || t.seq_id >= options.n_seq_max) {
      throw std::invalid_argument(fmt::format("decode: batch token {} has sequence id {}, expected 0..{}", i, t.seq_id,
                                              options.n_seq_max - 1));
    }
    if (t.pos < 0 || t.pos <= last_pos[t.seq_id]) {
      throw std::invalid_argument(fmt::format(
          "decode: batch token {} has position {} in sequence {}, which already reaches position {}; positions "
          "must increase (remove() positions before decoding them again)",
          i, t.pos, t.seq_id, last_pos[t.seq_id]));
    }
    last_pos[t.seq_id] = t.pos;
    if (t.logits) ++n_outputs;
  }
  if (n_outputs > options.n_outputs_max) {
    throw std::invalid_argument(fmt::format("decode: {} tokens ask for logits, but the context was made for at most {} "
                                            "(ContextOptions::n_outputs_max)",
                                            n_outputs, options.n_outputs_max));
  }
  if (static_cast<int64_t>(batch.size()) > cells.n_free()) {
    throw ContextFullError(fmt::format("decode: the batch has {} tokens but only {} of the context's {} cells are free",
                                       batch.size(), cells.n_free(), options.n_ctx));
  }
}

// Runs tokens [begin, end) of the batch as one forward pass; their logits go to rows first_output onwards.
void Context::Impl::run(const Batch& batch, size_t begin, size_t end, int32_t first_output) {
  std::vector<int32_t> tokens, positions, token_cells, outputs;
  for (size_t i = begin; i < end; ++i) {
    const BatchToken& t = batch.tokens[i];
    tokens.push_back(t.token);
    positions.push_back(t.pos);
    if (t.logits) outputs.push_back(static_cast<int32_t>(i - begin));
  }

  // Sequences in order of first appearance, each with its batch rows.
  std::vector<int32_t> seq_ids;
  std::vector<std::vector<int32_t>> seq_rows;
  for (size_t i = begin; i < end; ++i) {
    const int32_t seq = batch.tokens[i].seq_id;
    auto it = std::find(seq_ids.begin(), seq_ids.end(), seq);
    if (it == seq_ids.end()) {
      seq_ids.push_back(seq);
      seq_rows.emplace_back();
      it = seq_ids.end() - 1;
    }
    seq_rows[it - seq_ids.begin()].push_back(static_cast<int32_t>(i - begin));
  }

  for (size_t i = begin; i < end; ++i) token_cells.push_back(cells.insert(batch.tokens[i].seq_id, batch.tokens[i].pos));
  try {
    std::vector<std::vector<int32_t>> group_cells(seq_ids.size()), group_visible(seq_ids.size());
    std::vector<backend::AttentionGroup> groups;
    std::vector<int32_t> seq_positions;
    for (size_t g = 0; g < seq_ids.size(); ++g) {
      cells.sequence(seq_ids[g], group_cells[g], seq_positions);
      for (int32_t row : seq_rows[g]) {
        const auto seen = std::upper_bound(seq_positions.begin(), seq_positions.end(), positions[row]);
        group_visible[g].push_back(static_cast<int32_t>(seen - seq_positions.begin()));
      }
      groups.push_back({group_cells[g], seq_rows[g], group_visible[g]});
    }
    const int64_t n_vocab = model->info().n_vocab;
    const backend::Matrix logits_rows{logits.floats() + first_output * n_vocab, static_cast<int64_t>(outputs.size()),
                                      n_vocab};
    model::forward(model->impl(), *backend, kv_layers,
                   {.tokens = tokens, .positions = positions, .cells = token_cells, .groups = groups,
                    .outputs = outputs},
                   activations, logits_rows);
    backend->synchronize();
  } catch (...) {
    // A failed pass leaves no half-stored tokens behind.
    for (size_t i = begin; i < end; ++i) cells.erase(batch.tokens[i].seq_id, batch.tokens[i].pos);
    throw;
  }
}

void Context::decode(const Batch& batch) {
  impl_->validate(batch);
  impl_->output_row.assign(batch.size(), -1);
  int32_t n_outputs = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch.tokens[i].logits) impl_->output_row[i] = n_outputs++;
  }
  // Larger batches run as consecutive passes of n_batch tokens; later tokens see the earlier ones in the cache.
  int32_t first_output = 0;
  const auto n_batch = static_cast<size_t>(impl_->options.n_batch);
  for (size_t begin = 0; begin < batch.size(); begin += n_batch) {
    const size_t end = std::min(batch.size(), begin + n_batch);
    try {
      impl_->run(batch, begin, end, first_output);
    } catch (...) {
      impl_->output_row.assign(batch.size(), -1);
      throw;
    }
    for (size_t i = begin; i < end; ++i) first_output += batch.tokens[i].logits ? 1 : 0;
  }
  // A NaN or infinity here comes from the weights or the input, never from a valid model: say so now rather than
  // let sampling pick garbage.
  const auto n_vocab = static_cast<size_t>(impl_->model->info().n_vocab);
  for (size_t i = 0; i < batch.size(); ++i) {
    if (impl_->output_row[i] < 0) continue;
    const float* row = impl_->logits.floats() + static_cast<size_t>(impl_->output_row[i]) * n_vocab;
    const auto bad = std::find_if(row, row + n_vocab, [](float v) { return !std::isfinite(v); });
    if (bad != row + n_vocab) {
      throw NonFiniteValueError(fmt::format(
          "the model computed a non-finite value ({}) in the logits of token {} of the batch (position {}): its weights hold NaN "
          "or infinite values (hearth info FILE --check-tensors finds them)",
          *bad, i, batch.tokens[i].pos));
    }
  }
}

std::span<const float> Context::logits(size_t index) const {
  if (index >= impl_->output_row.size() || impl_->output_row[index] < 0) {
    throw std::out_of_range(fmt::format("logits: token {} of the last batch did not ask for logits", index));
  }
  const auto n_vocab = static_cast<size_t>(impl_->model->info().n_vocab);
  return {impl_->logits.floats() + static_cast<size_t>(impl_->output_row[index]) * n_vocab, n_vocab};
}

namespace {
void check_seq(const ContextOptions& options, int32_t seq_id) {
  if (seq_id < 0 || seq_id >= options.n_seq_max) {
    throw std::invalid_argument(fmt::format("sequence id {} is outside 0..{}", seq_id, options.n_seq_max - 1));
  }
}
}  // namespace

void Context::remove(int32_t seq_id, int32_t p0, int32_t p1) {
  check_seq(impl_->options, seq_id);
  impl_->cells.remove(seq_id, p0, p1);
}

void Context::shift(int32_t seq_id, int32_t p0, int32_t p1, int32_t delta) {
  check_seq(impl_->options, seq_id);
  const runtime::KvCells::Moved moved = impl_->cells.shift(seq_id, p0, p1, delta);
  if (moved.cells.empty() || delta == 0) return;
  const ModelInfo& info = impl_->model->info();
  for (const backend::KvLayer& layer : impl_->kv_layers) {
    impl_->backend->rotate_keys(layer, moved.cells, moved.deltas, info.head_dim, impl_->model->impl().rope);
  }
}

void Context::copy_prefix(int32_t from, int32_t to, int32_t n) {
  check_seq(impl_->options, from);
  check_seq(impl_->options, to);
  if (n <= 0) return;
  std::vector<int32_t> cells, positions;
  impl_->cells.sequence(from, cells, positions);
  if (from == to || static_cast<int32_t>(cells.size()) < n || positions[static_cast<std::size_t>(n) - 1] != n - 1) {
    throw std::invalid_argument(fmt::format("copy_prefix: sequence {} does not hold positions 0..{}", from, n - 1));
  }
  std::vector<int32_t> to_cells, to_positions;
  impl_->cells.sequence(to, to_cells, to_positions);
  if (!to_positions.empty() && to_positions.front() < n) {
    throw std::invalid_argument(fmt::format("copy_prefix: sequence {} already holds position {}", to, to_positions.front()));
  }
  if (impl_->cells.n_free() < n) {
    throw ContextFullError(fmt::format("copy_prefix: {} cells needed, {} free", n, impl_->cells.n_free()));
  }
  cells.resize(static_cast<std::size_t>(n));
  std::vector<int32_t> targets;
  targets.reserve(cells.size());
  for (int32_t pos = 0; pos < n; ++pos) targets.push_back(impl_->cells.insert(to, pos));
  for (const backend::KvLayer& layer : impl_->kv_layers) impl_->backend->copy_cells(layer, cells, targets);
}

void Context::clear() { impl_->cells.clear(); }

int32_t Context::seq_pos_max(int32_t seq_id) const {
  check_seq(impl_->options, seq_id);
  return impl_->cells.seq_pos_max(seq_id);
}

int32_t Context::seq_length(int32_t seq_id) const {
  check_seq(impl_->options, seq_id);
  return impl_->cells.seq_length(seq_id);
}

int32_t Context::n_ctx() const { return impl_->options.n_ctx; }
int32_t Context::n_cells_used() const { return impl_->cells.used(); }
int32_t Context::n_vocab() const { return static_cast<int32_t>(impl_->model->info().n_vocab); }
const ContextOptions& Context::options() const { return impl_->options; }
const Model& Context::model() const { return *impl_->model; }
MemoryReport Context::memory() const { return impl_->memory; }

}  // namespace hearth
