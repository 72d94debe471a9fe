// Laying a context out over the CPU and a GPU, and checking each share against the memory its device has free.
#include "runtime/context_layout.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "model/decoder.h"
#include "model/model_impl.h"

namespace hearth::runtime {
namespace {

constexpr int32_t kDefaultMaxContext = 4096;
// Left free on a GPU beyond what the plan counts: the kernels' own modules and the allocator's rounding.
constexpr uint64_t kGpuHeadroom = uint64_t{256} << 20;

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
  if (options.n_threads == 0) options.n_threads = static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
  if (options.n_gpu_layers < kAutoGpuLayers) {
    throw std::invalid_argument(fmt::format(
        "n_gpu_layers is {}, expected a number of layers, -1 (all) or -2 (as many as fit)", options.n_gpu_layers));
  }
  return options;
}

// What a device holds for layers [first, end) (and the embeddings or the output where it has them).
DevicePlan share(const Model::Impl& model, const backend::Backend& backend, const ContextLayout& layout, int32_t first,
                 int32_t end, bool embeddings, bool output) {
  const model::Weights& weights = model.weights;
  DevicePlan plan;
  plan.device = backend.description();
  plan.first_layer = first;
  plan.end_layer = end;
  plan.embeddings = embeddings;
  plan.output = output;
  for (int32_t l = first; l < end; ++l) {
    model::for_each_tensor(
        weights.layers[static_cast<size_t>(l)], [&](const backend::Weight& w) { plan.weights += backend.resident_bytes(w); },
        [&](std::span<const float> v) { plan.weights += backend.resident_bytes(v); });
  }
  if (embeddings) plan.weights += backend.resident_bytes(weights.token_embd);
  if (output) {
    plan.weights += backend.resident_bytes(weights.output_norm);
    // A tied output is the embedding table itself, held once.
    if (!(embeddings && weights.output.data == weights.token_embd.data)) plan.weights += backend.resident_bytes(weights.output);
  }
  plan.kv_cache = layout.kv.layer_bytes * static_cast<uint64_t>(end - first);
  const ModelInfo& info = model.info;
  plan.scratch = model::Activations::bytes(info, layout.options.n_batch, layout.max_outputs_per_pass) +
                 backend.workspace_bytes(layout.limits);
  if (output) {
    plan.scratch += sizeof(float) * static_cast<uint64_t>(layout.options.n_outputs_max) * static_cast<uint64_t>(info.n_vocab);
  }
  plan.available = backend.available_memory();
  return plan;
}

bool is_gpu(const DevicePlan& plan) { return plan.device != "cpu"; }

bool fits(const DevicePlan& plan) {
  if (!plan.available) return true;
  const uint64_t headroom = is_gpu(plan) ? kGpuHeadroom : 0;
  return plan.total() + headroom <= *plan.available;
}

// Splits the layers for n_gpu layers on `gpu` (null: none) and the rest on `cpu`.
void split(const Model::Impl& model, ContextLayout& layout, std::unique_ptr<backend::Backend> cpu,
           std::unique_ptr<backend::Backend> gpu, int32_t n_gpu) {
  const auto n_layer = static_cast<int32_t>(model.info.n_layer);
  layout.parts.clear();
  if (n_gpu < n_layer) {
    layout.parts.push_back({nullptr, share(model, *cpu, layout, 0, n_layer - n_gpu, true, n_gpu == 0)});
    layout.parts.back().backend = std::move(cpu);
  }
  if (n_gpu > 0) {
    layout.parts.push_back({nullptr, share(model, *gpu, layout, n_layer - n_gpu, n_layer, n_gpu == n_layer, true)});
    layout.parts.back().backend = std::move(gpu);
  }
  layout.options.n_gpu_layers = n_gpu;
}

std::string refusal(const DevicePlan& plan, const ContextOptions& options) {
  const std::string advice = is_gpu(plan) ? "offload fewer layers (--gpu-layers) or use a smaller context"
                                          : "use a smaller context";
  return fmt::format(
      "a context of {} tokens with layers {}..{} on {} needs {:.1f} MiB there (weights {:.1f} MiB + KV cache {:.1f} MiB + "
      "scratch {:.1f} MiB{}) but only {:.1f} MiB are free; {}",
      options.n_ctx, plan.first_layer, plan.end_layer - 1, plan.device, mib(plan.total()), mib(plan.weights),
      mib(plan.kv_cache), mib(plan.scratch), is_gpu(plan) ? fmt::format(" + {:.0f} MiB headroom", mib(kGpuHeadroom)) : "",
      mib(*plan.available), advice);
}

}  // namespace

ContextLayout lay_out(const Model& model, const ContextOptions& requested) {
  const ModelInfo& info = model.info();
  ContextLayout layout;
  layout.options = resolve(info, requested);
  const ContextOptions& options = layout.options;

  layout.kv.type = options.kv_type == KvCacheType::f16 ? TensorType::F16 : TensorType::F32;
  layout.kv.key_width = info.n_head_kv * info.head_dim;
  layout.kv.value_width = info.n_head_kv * info.head_dim_v;
  layout.kv.key_row_bytes = *row_bytes(layout.kv.type, layout.kv.key_width);
  layout.kv.value_row_bytes = *row_bytes(layout.kv.type, layout.kv.value_width);
  layout.kv.layer_bytes = static_cast<uint64_t>(options.n_ctx) * (layout.kv.key_row_bytes + layout.kv.value_row_bytes);
  layout.limits = {
      .max_weight_cols = std::max({info.n_embd, info.n_ff, info.n_head * info.head_dim_v}),
      .max_tokens = options.n_batch,
      .n_cells = options.n_ctx,
      .key_width = layout.kv.key_width,
      .value_width = layout.kv.value_width,
  };
  layout.max_outputs_per_pass = std::min(options.n_outputs_max, options.n_batch);

  const auto n_layer = static_cast<int32_t>(info.n_layer);
  const bool automatic = options.n_gpu_layers == kAutoGpuLayers;
  int32_t n_gpu = options.n_gpu_layers == kAllGpuLayers ? n_layer : std::min(options.n_gpu_layers, n_layer);
  std::unique_ptr<backend::Backend> gpu;
  if (automatic) {
    n_gpu = backend::cuda_device_count() > 0 ? n_layer : 0;
  } else if (n_gpu > 0 && backend::cuda_device_count() == 0) {
    const std::string asked = options.n_gpu_layers == kAllGpuLayers ? std::string("every layer on the GPU was asked for")
                                                                    : fmt::format("{} GPU layers were asked for", n_gpu);
    throw std::invalid_argument(fmt::format("{} (n_gpu_layers, --gpu-layers), but {}; use 0 to run on the CPU", asked,
                                            backend::cuda_unavailable_reason()));
  }
  if (n_gpu > 0) gpu = backend::make_cuda_backend(0);
  auto cpu = n_gpu < n_layer || automatic ? backend::make_cpu_backend(options.n_threads) : nullptr;
  const Model::Impl& impl = model.impl();
  if (automatic) {
    // The most layers whose share fits (the CPU's share is checked below like any other).
    for (; n_gpu > 0; --n_gpu) {
      const DevicePlan plan = share(impl, *gpu, layout, n_layer - n_gpu, n_layer, n_gpu == n_layer, true);
      if (fits(plan)) break;
    }
    if (n_gpu == 0) gpu.reset();
    if (n_gpu == n_layer) cpu.reset();
  }
  split(impl, layout, std::move(cpu), std::move(gpu), n_gpu);
  for (const LayoutPart& part : layout.parts) {
    if (!fits(part.plan)) throw ResourceError(refusal(part.plan, options));
  }
  return layout;
}

ContextPlan plan_of(const ContextLayout& layout) {
  ContextPlan plan{.n_gpu_layers = layout.options.n_gpu_layers, .devices = {}};
  for (const LayoutPart& part : layout.parts) plan.devices.push_back(part.plan);
  return plan;
}

}  // namespace hearth::runtime

namespace hearth {

int gpu_count() { return backend::cuda_device_count(); }

ContextPlan plan_context(const Model& model, const ContextOptions& options) {
  return runtime::plan_of(runtime::lay_out(model, options));
}

}  // namespace hearth
