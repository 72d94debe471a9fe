// The forward pass split into stages (the mechanism behind partial GPU offload): the layers cut between several
// backends, each with its own activations and cache, give the logits of one backend running them all, bit for
// bit (CPU backends here; the residual stream crosses through host memory exactly). Also what a context plans
// for each device before allocating.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <numeric>
#include <vector>

#include "backend/backend.h"
#include "hearth/context.h"
#include "hearth/model.h"
#include "model/decoder.h"
#include "model/model_impl.h"
#include "support/shared_data.h"

namespace hearth::model {
namespace {

std::shared_ptr<const Model> demo_model() {
  static const std::shared_ptr<const Model> model =
      Model::load(test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf");
  return model;
}

constexpr int64_t kCells = 64;

// One backend's share: layers [first, end), with its own cache and activations.
struct Share {
  std::unique_ptr<backend::Backend> backend;
  backend::Buffer kv;
  std::vector<backend::KvLayer> layers;
  std::unique_ptr<Activations> activations;
};

Share make_share(const ModelInfo& info, int64_t first, int64_t end, int64_t max_tokens) {
  Share share{backend::make_cpu_backend(2), {}, {}, nullptr};
  const int64_t width = info.n_head_kv * info.head_dim;
  const uint64_t row_bytes = sizeof(float) * static_cast<uint64_t>(width);
  share.backend->reserve({.max_weight_cols = std::max(info.n_embd, info.n_ff),
                          .max_tokens = max_tokens,
                          .n_cells = kCells,
                          .key_width = width,
                          .value_width = width});
  share.kv = share.backend->allocate(2 * row_bytes * kCells * static_cast<uint64_t>(end - first));
  for (int64_t l = first; l < end; ++l) {
    auto* keys = static_cast<std::byte*>(share.kv.data()) + 2 * row_bytes * kCells * static_cast<uint64_t>(l - first);
    share.layers.push_back({TensorType::F32, keys, keys + row_bytes * kCells, kCells, width, width, row_bytes, row_bytes});
  }
  share.activations = std::make_unique<Activations>(*share.backend, info, max_tokens, max_tokens);
  return share;
}

// Logits of every token of `tokens` (one sequence) with the layers cut at `cuts`.
std::vector<float> run(const Model& model, const std::vector<int32_t>& tokens, const std::vector<int64_t>& cuts) {
  const ModelInfo& info = model.info();
  const auto n = static_cast<int64_t>(tokens.size());
  std::vector<int64_t> bounds{0};
  bounds.insert(bounds.end(), cuts.begin(), cuts.end());
  bounds.push_back(info.n_layer);
  std::vector<Share> shares;
  std::vector<Stage> stages;
  for (size_t s = 0; s + 1 < bounds.size(); ++s) {
    shares.push_back(make_share(info, bounds[s], bounds[s + 1], n));
  }
  for (size_t s = 0; s < shares.size(); ++s) {
    stages.push_back({shares[s].backend.get(), bounds[s], bounds[s + 1], shares[s].activations.get(), shares[s].layers});
  }
  std::vector<int32_t> positions(tokens.size()), visible(tokens.size());
  std::iota(positions.begin(), positions.end(), 0);
  std::iota(visible.begin(), visible.end(), 1);
  const std::vector<int32_t>& cells = positions;
  const std::vector<int32_t>& rows = positions;
  const std::vector<backend::AttentionGroup> groups{{cells, rows, visible}};
  backend::Buffer logits = shares.back().backend->allocate(sizeof(float) * static_cast<uint64_t>(n * info.n_vocab));
  forward(model.impl(), stages, {.tokens = tokens, .positions = positions, .cells = cells, .groups = groups, .outputs = rows},
          {logits.floats(), n, info.n_vocab});
  return {logits.floats(), logits.floats() + n * info.n_vocab};
}

TEST(Stages, LayersSplitBetweenBackendsGiveTheBitsOfOneBackend) {
  const auto model = demo_model();
  ASSERT_EQ(model->info().n_layer, 6);
  const std::vector<int32_t> tokens = model->tokenizer().tokenize("The quick brown fox jumps over the lazy dog", true, false);
  const std::vector<float> whole = run(*model, tokens, {});
  EXPECT_EQ(run(*model, tokens, {3}), whole);
  EXPECT_EQ(run(*model, tokens, {1, 5}), whole);
  EXPECT_EQ(run(*model, tokens, {5}), whole);  // the last stage holds only the last layer
  // Real logits, not an untouched buffer: a stage that dropped or repeated a layer would change them.
  EXPECT_NE(*std::min_element(whole.begin(), whole.end()), *std::max_element(whole.begin(), whole.end()));
}

TEST(Stages, TheCpuPlanHoldsEveryLayerAndCountsItsMemory) {
  const auto model = demo_model();
  const ContextPlan plan = plan_context(*model, {.n_ctx = 128, .n_threads = 2});
  EXPECT_EQ(plan.n_gpu_layers, 0);
  ASSERT_EQ(plan.devices.size(), 1u);
  const DevicePlan& cpu = plan.devices[0];
  EXPECT_EQ(cpu.device, "cpu");
  EXPECT_EQ(cpu.first_layer, 0);
  EXPECT_EQ(cpu.end_layer, 6);
  EXPECT_TRUE(cpu.embeddings);
  EXPECT_TRUE(cpu.output);
  EXPECT_EQ(cpu.weights, 0u);  // read where the file is mapped
  EXPECT_EQ(cpu.kv_cache, 6u * 128u * 2u * 128u * 2u);
  ASSERT_TRUE(cpu.available.has_value());

  // A context follows the plan it would have made.
  Context context(model, {.n_ctx = 128, .n_threads = 2});
  ASSERT_EQ(context.plan().devices.size(), 1u);
  EXPECT_EQ(context.plan().devices[0].kv_cache, cpu.kv_cache);
  EXPECT_EQ(context.plan().devices[0].scratch, cpu.scratch);
  EXPECT_EQ(context.memory().kv_cache, cpu.kv_cache);
  EXPECT_EQ(context.memory().scratch, cpu.scratch);
  EXPECT_EQ(context.memory().weights_copied, 0u);
}

TEST(Stages, GpuLayersWithoutAGpuAreRefusedAndAutoTakesNone) {
  const auto model = demo_model();
  if (backend::cuda_device_count() > 0) {
    // With a GPU, auto puts this small model there whole.
    const ContextPlan plan = plan_context(*model, {.n_ctx = 128, .n_gpu_layers = kAutoGpuLayers});
    EXPECT_EQ(plan.n_gpu_layers, 6);
    ASSERT_EQ(plan.devices.size(), 1u);
    EXPECT_NE(plan.devices[0].device, "cpu");
    EXPECT_GT(plan.devices[0].weights, 0u);
    return;
  }
  for (int32_t layers : {1, 3, 6, 99, kAllGpuLayers}) {
    try {
      plan_context(*model, {.n_ctx = 128, .n_gpu_layers = layers});
      FAIL() << layers << " GPU layers were planned without a GPU";
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      EXPECT_TRUE(what.find("no CUDA GPU") != std::string::npos || what.find("no CUDA support") != std::string::npos) << what;
    }
    EXPECT_THROW(Context(model, {.n_ctx = 128, .n_gpu_layers = layers}), std::invalid_argument);
  }
  const ContextPlan plan = plan_context(*model, {.n_ctx = 128, .n_gpu_layers = kAutoGpuLayers});
  EXPECT_EQ(plan.n_gpu_layers, 0);
  ASSERT_EQ(plan.devices.size(), 1u);
  EXPECT_EQ(plan.devices[0].device, "cpu");
  EXPECT_THROW(plan_context(*model, {.n_gpu_layers = -3}), std::invalid_argument);
}

}  // namespace
}  // namespace hearth::model
