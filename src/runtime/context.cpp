// Context: the KV cache, activation memory and backend that run a Model over batches.
#include "hearth/context.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "backend/backend.h"
#include "model/decoder.h"
#include "model/model_impl.h"
#include "runtime/context_layout.h"
#include "runtime/kv_cells.h"

namespace hearth {

struct Context::Impl {
  // One device's share of the context: its backend, and the cache and activations of its layers.
  struct Part {
    std::unique_ptr<backend::Backend> backend;
    backend::Buffer kv_buffer;
    std::vector<backend::KvLayer> kv_layers;
    std::unique_ptr<model::Activations> activations;
  };

  std::shared_ptr<const Model> model;
  ContextOptions options;
  ContextPlan plan;
  runtime::KvCells cells;
  std::vector<Part> parts;
  std::vector<model::Stage> stages;  // parts[i] as the forward pass sees it
  backend::Buffer logits;            // written by the last part's backend, read by the host
  std::vector<int32_t> output_row;   // per token of the last batch: its row in `logits`, or -1
  MemoryReport memory;

  Impl(std::shared_ptr<const Model> model_in, runtime::ContextLayout layout);

  void validate(const Batch& batch) const;
  void run(const Batch& batch, size_t begin, size_t end, int32_t first_output);
};

Context::Impl::Impl(std::shared_ptr<const Model> model_in, runtime::ContextLayout layout)
    : model(std::move(model_in)),
      options(layout.options),
      plan(runtime::plan_of(layout)),
      cells(options.n_ctx, options.n_seq_max) {
  const ModelInfo& info = model->info();
  const model::Weights& weights = model->impl().weights;
  const runtime::KvGeometry& kv = layout.kv;
  memory.weights_mapped = info.file_bytes;
  for (runtime::LayoutPart& planned : layout.parts) {
    const DevicePlan& share = planned.plan;
    Part& part = parts.emplace_back();
    part.backend = std::move(planned.backend);
    backend::Backend& be = *part.backend;
    be.reserve(layout.limits);
    part.kv_buffer = be.allocate(share.kv_cache);
    auto* base = static_cast<std::byte*>(part.kv_buffer.data());
    for (int32_t l = share.first_layer; l < share.end_layer; ++l) {
      std::byte* keys = base + static_cast<uint64_t>(l - share.first_layer) * kv.layer_bytes;
      part.kv_layers.push_back({
          .type = kv.type,
          .keys = keys,
          .values = keys + static_cast<uint64_t>(options.n_ctx) * kv.key_row_bytes,
          .n_cells = options.n_ctx,
          .key_width = kv.key_width,
          .value_width = kv.value_width,
          .key_row_bytes = kv.key_row_bytes,
          .value_row_bytes = kv.value_row_bytes,
      });
    }
    part.activations = std::make_unique<model::Activations>(be, info, options.n_batch, layout.max_outputs_per_pass);
    if (share.output) {
      logits = be.allocate_host_visible(sizeof(float) * static_cast<uint64_t>(options.n_outputs_max) *
                                        static_cast<uint64_t>(info.n_vocab));
    }
    // Weights go to the device now, so that the first decode is not the one that waits for them.
    uint64_t copied = 0;
    for (int32_t l = share.first_layer; l < share.end_layer; ++l) {
      model::for_each_tensor(
          weights.layers[static_cast<size_t>(l)],
          [&](const backend::Weight& w) {
            be.upload(w);
            copied += be.resident_bytes(w);
          },
          [&](std::span<const float> v) {
            be.upload(v);
            copied += be.resident_bytes(v);
          });
      if (share.weights > 0 && options.on_weight_copy) options.on_weight_copy(copied, share.weights);
    }
    if (share.embeddings) be.upload(weights.token_embd);
    if (share.output) {
      be.upload(weights.output_norm);
      be.upload(weights.output);
    }
    if (share.weights > 0 && options.on_weight_copy) options.on_weight_copy(share.weights, share.weights);
    memory.weights_copied += share.weights;
    memory.kv_cache += share.kv_cache;
    memory.scratch += share.scratch;
  }
  for (const Part& part : parts) {
    const DevicePlan& share = plan.devices[stages.size()];
    stages.push_back({.backend = part.backend.get(),
                      .first_layer = share.first_layer,
                      .end_layer = share.end_layer,
                      .activations = part.activations.get(),
                      .cache = part.kv_layers});
  }
}

Context::Context(std::shared_ptr<const Model> model, const ContextOptions& requested) {
  if (model == nullptr) throw std::invalid_argument("Context needs a model");
  runtime::ContextLayout layout = runtime::lay_out(*model, requested);
  impl_ = std::make_unique<Impl>(std::move(model), std::move(layout));
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
    model::forward(model->impl(), stages,
                   {.tokens = tokens, .positions = positions, .cells = token_cells, .groups = groups,
                    .outputs = outputs},
                   logits_rows);
    for (Part& part : parts) part.backend->synchronize();
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
  for (Impl::Part& part : impl_->parts) {
    for (const backend::KvLayer& layer : part.kv_layers) {
      part.backend->rotate_keys(layer, moved.cells, moved.deltas, info.head_dim, impl_->model->impl().rope);
    }
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
  for (Impl::Part& part : impl_->parts) {
    for (const backend::KvLayer& layer : part.kv_layers) part.backend->copy_cells(layer, cells, targets);
  }
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
const ContextPlan& Context::plan() const { return impl_->plan; }

}  // namespace hearth
