// How a context is laid out over devices before anything is allocated: options resolved, the layers split between
// the CPU and the GPU (ContextOptions::n_gpu_layers), each part's backend made and its memory counted and checked.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "hearth/context.h"

namespace hearth::runtime {

// The KV cache's geometry, the same for every layer.
struct KvGeometry {
  TensorType type = TensorType::F16;
  int64_t key_width = 0;
  int64_t value_width = 0;
  uint64_t key_row_bytes = 0;
  uint64_t value_row_bytes = 0;
  uint64_t layer_bytes = 0;  // keys then values of n_ctx cells
};

// One device's share: its backend and what it runs and holds (plan.first_layer .. plan.end_layer).
struct LayoutPart {
  std::unique_ptr<backend::Backend> backend;
  DevicePlan plan;
};

struct ContextLayout {
  ContextOptions options;  // every default replaced by the value chosen, n_gpu_layers by 0 .. n_layer
  KvGeometry kv;
  backend::WorkspaceLimits limits;
  int64_t max_outputs_per_pass = 0;  // rows of logits one forward pass writes
  std::vector<LayoutPart> parts;     // in layer order; the first looks up the embeddings, the last has the output
};

// Resolves the options (std::invalid_argument for nonsensical ones, or GPU layers without a GPU), splits the
// layers and checks that each device's share fits its free memory (ResourceError naming the device and the
// bytes otherwise). kAutoGpuLayers takes the most layers that fit.
ContextLayout lay_out(const Model& model, const ContextOptions& requested);

ContextPlan plan_of(const ContextLayout& layout);

}  // namespace hearth::runtime
