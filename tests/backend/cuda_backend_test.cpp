// The CUDA backend against the CPU backend (the reference) on random inputs, operation by operation, and a whole
// model on both. Needs a GPU: these tests carry the ctest label `gpu`, which the default run leaves out
// (scripts/gpu-check runs them on a GPU machine).
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <vector>

#include "backend/backend.h"
#include "hearth/context.h"
#include "hearth/model.h"
#include "kernels/random_data.h"
#include "tensor/quant.h"

namespace hearth::backend {
namespace {

using test::random_floats;

// A host vector mirrored in device memory of the backend under test.
struct DeviceCopy {
  Buffer buffer;
  int64_t rows, cols;
  DeviceCopy(Backend& gpu, const std::vector<float>& values, int64_t rows_in, int64_t cols_in)
      : buffer(gpu.allocate(sizeof(float) * values.size())), rows(rows_in), cols(cols_in) {
    EXPECT_EQ(cudaMemcpy(buffer.data(), values.data(), sizeof(float) * values.size(), cudaMemcpyHostToDevice), cudaSuccess);
  }
  Matrix matrix() const { return {buffer.floats(), rows, cols}; }
  std::vector<float> read(Backend& gpu) const {
    gpu.synchronize();
    std::vector<float> out(static_cast<size_t>(rows * cols));
    EXPECT_EQ(cudaMemcpy(out.data(), buffer.data(), sizeof(float) * out.size(), cudaMemcpyDeviceToHost), cudaSuccess);
    return out;
  }
};

void expect_close(const std::vector<float>& expected, const std::vector<float>& actual, float tolerance) {
  ASSERT_EQ(expected.size(), actual.size());
  float worst = 0.0f;
  for (size_t i = 0; i < expected.size(); ++i) {
    worst = std::max(worst, std::abs(expected[i] - actual[i]) / (1.0f + std::abs(expected[i])));
  }
  EXPECT_LE(worst, tolerance);
}

std::unique_ptr<Backend> gpu_backend(const WorkspaceLimits& limits) {
  auto gpu = make_cuda_backend(0);
  gpu->reserve(limits);
  return gpu;
}

constexpr WorkspaceLimits kLimits{.max_weight_cols = 512, .max_tokens = 16, .n_cells = 64, .key_width = 128, .value_width = 128};

TEST(CudaBackend, MatmulAndRowsMatchExactSumsOfTheDequantizedWeights) {
  ASSERT_GT(cuda_device_count(), 0) << "these tests need a CUDA GPU";
  auto gpu = gpu_backend(kLimits);
  constexpr int64_t kRows = 70, kCols = 512;
  // Every type's weights stay alive to the end: the backend keeps its device copies keyed by their address.
  std::vector<std::vector<std::byte>> weights;
  for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0,
                          TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K, TensorType::Q3_K, TensorType::IQ4_XS}) {
    SCOPED_TRACE(std::string(type_name(type)));
    const uint64_t row_size = *row_bytes(type, kCols);
    std::vector<std::byte>& bytes = weights.emplace_back(row_size * kRows);
    const auto values = random_floats(kRows * kCols, 1);
    for (int64_t r = 0; r < kRows; ++r) tensor::quantize_row(type, values.data() + r * kCols, bytes.data() + r * row_size, kCols);
    std::vector<float> dequantized(kRows * kCols);
    for (int64_t r = 0; r < kRows; ++r) tensor::dequantize_row(type, bytes.data() + r * row_size, dequantized.data() + r * kCols, kCols);
    const Weight w{type, bytes.data(), row_size, kRows, kCols};
    // Types converted to F16 on upload lose what F16 rounding loses.
    const float tolerance = type == TensorType::Q3_K || type == TensorType::IQ4_XS ? 2e-3f : 2e-5f;

    for (int64_t tokens : {1, 3, 8, 13}) {
      const auto x = random_floats(tokens * kCols, 2);
      std::vector<float> expected(tokens * kRows);
      for (int64_t t = 0; t < tokens; ++t) {
        for (int64_t r = 0; r < kRows; ++r) {
          double sum = 0.0;
          for (int64_t i = 0; i < kCols; ++i) sum += double(x[t * kCols + i]) * dequantized[r * kCols + i];
          expected[t * kRows + r] = static_cast<float>(sum);
        }
      }
      DeviceCopy dx(*gpu, x, tokens, kCols), dy(*gpu, std::vector<float>(tokens * kRows), tokens, kRows);
      gpu->matmul(w, dx.matrix(), dy.matrix());
      expect_close(expected, dy.read(*gpu), tolerance * 10);
    }
    const std::vector<int32_t> ids = {5, 0, 69, 5};
    std::vector<float> expected_rows;
    for (int32_t id : ids) expected_rows.insert(expected_rows.end(), dequantized.begin() + id * kCols, dequantized.begin() + (id + 1) * kCols);
    DeviceCopy out(*gpu, std::vector<float>(ids.size() * kCols), static_cast<int64_t>(ids.size()), kCols);
    gpu->get_rows(w, ids, out.matrix());
    expect_close(expected_rows, out.read(*gpu), tolerance);
  }
}

TEST(CudaBackend, ElementwiseOperationsMatchTheCpuBackend) {
  ASSERT_GT(cuda_device_count(), 0) << "these tests need a CUDA GPU";
  auto gpu = gpu_backend(kLimits);
  auto cpu = make_cpu_backend(1);
  cpu->reserve(kLimits);
  constexpr int64_t kTokens = 5, kWidth = 256, kHeadDim = 64;
  auto x = random_floats(kTokens * kWidth, 3), y = random_floats(kTokens * kWidth, 4);
  const auto gain = random_floats(kWidth, 5), bias = random_floats(kWidth, 6);
  const auto factors = random_floats(kHeadDim / 2, 7, 0.5f);
  std::vector<float> positive_factors(factors.size());
  std::transform(factors.begin(), factors.end(), positive_factors.begin(), [](float f) { return 1.0f + std::abs(f); });
  const std::vector<int32_t> positions = {0, 7, 100, 3, 4095};

  auto run_both = [&](auto&& op) {
    std::vector<float> on_cpu = x;
    DeviceCopy on_gpu(*gpu, x, kTokens, kWidth), other(*gpu, y, kTokens, kWidth);
    op(*cpu, Matrix{on_cpu.data(), kTokens, kWidth}, Matrix{y.data(), kTokens, kWidth});
    op(*gpu, on_gpu.matrix(), other.matrix());
    // RoPE at position 4095 turns by thousands of radians: sincosf and the CPU's cos/sin differ there by ~1e-5.
    expect_close(on_cpu, on_gpu.read(*gpu), 1e-4f);
  };
  run_both([&](Backend& b, Matrix m, Matrix) { b.rms_norm(m, gain, 1e-5f, m); });
  run_both([&](Backend& b, Matrix m, Matrix) { b.add_bias(m, bias); });
  run_both([&](Backend& b, Matrix m, Matrix o) { b.add(m, o); });
  run_both([&](Backend& b, Matrix m, Matrix o) { b.swiglu(m, o, m); });
  for (RopePairing pairing : {RopePairing::Adjacent, RopePairing::Halves}) {
    for (const float* ff : {static_cast<const float*>(nullptr), static_cast<const float*>(positive_factors.data())}) {
      const RopeParams params{.pairing = pairing, .n_dims = kHeadDim, .freq_base = 500000.0f, .freq_scale = 0.5f, .freq_factors = ff};
      run_both([&](Backend& b, Matrix m, Matrix) { b.rope(m, kHeadDim, positions, params); });
    }
  }
  const std::vector<int32_t> rows = {4, 1};
  std::vector<float> cpu_rows(2 * kWidth);
  cpu->copy_rows(Matrix{x.data(), kTokens, kWidth}, rows, Matrix{cpu_rows.data(), 2, kWidth});
  DeviceCopy src(*gpu, x, kTokens, kWidth), dst(*gpu, std::vector<float>(2 * kWidth), 2, kWidth);
  gpu->copy_rows(src.matrix(), rows, dst.matrix());
  expect_close(cpu_rows, dst.read(*gpu), 0.0f);
}

TEST(CudaBackend, CachedAttentionMatchesTheCpuBackend) {
  ASSERT_GT(cuda_device_count(), 0) << "these tests need a CUDA GPU";
  constexpr int64_t kCells = 600, kHeadDim = 64, kHeads = 4, kKvHeads = 2, kTokens = 6;
  const WorkspaceLimits limits{.max_weight_cols = 512, .max_tokens = 16, .n_cells = kCells, .key_width = kKvHeads * kHeadDim,
                               .value_width = kKvHeads * kHeadDim};
  auto gpu = gpu_backend(limits);
  auto cpu = make_cpu_backend(2);
  cpu->reserve(limits);
  const AttentionShape shape{.n_head = kHeads, .n_head_kv = kKvHeads, .head_dim = kHeadDim, .head_dim_v = kHeadDim,
                             .scale = 0.125f};
  for (TensorType type : {TensorType::F16, TensorType::F32}) {
    SCOPED_TRACE(std::string(type_name(type)));
    const uint64_t row = *row_bytes(type, kKvHeads * kHeadDim);
    std::vector<std::byte> host_keys(row * kCells), host_values(row * kCells);
    Buffer device_keys = gpu->allocate(row * kCells), device_values = gpu->allocate(row * kCells);
    const KvLayer cpu_layer{type, host_keys.data(), host_values.data(), kCells, kKvHeads * kHeadDim, kKvHeads * kHeadDim, row, row};
    const KvLayer gpu_layer{type, static_cast<std::byte*>(device_keys.data()), static_cast<std::byte*>(device_values.data()),
                            kCells, kKvHeads * kHeadDim, kKvHeads * kHeadDim, row, row};
    // Every cell filled (in chunks of the batch size), then sequence A takes cells 0..549 (more than two of the
    // kernel's chunks), sequence B a scattered handful.
    for (int64_t first = 0; first < kCells; first += 16) {
      const int64_t n = std::min<int64_t>(16, kCells - first);
      const auto k = random_floats(n * kKvHeads * kHeadDim, 10 + first), v = random_floats(n * kKvHeads * kHeadDim, 20000 + first);
      std::vector<int32_t> cells(n);
      for (int64_t i = 0; i < n; ++i) cells[i] = static_cast<int32_t>(first + i);
      cpu->store_kv(cpu_layer, Matrix{const_cast<float*>(k.data()), n, kKvHeads * kHeadDim},
                    Matrix{const_cast<float*>(v.data()), n, kKvHeads * kHeadDim}, cells);
      DeviceCopy dk(*gpu, k, n, kKvHeads * kHeadDim), dv(*gpu, v, n, kKvHeads * kHeadDim);
      gpu->store_kv(gpu_layer, dk.matrix(), dv.matrix(), cells);
      gpu->synchronize();
    }
    std::vector<int32_t> cells_a(550);
    for (int32_t i = 0; i < 550; ++i) cells_a[i] = i;
    const std::vector<int32_t> cells_b = {590, 560, 575, 599};
    const std::vector<int32_t> queries_a = {0, 2, 4}, visible_a = {1, 300, 550};
    const std::vector<int32_t> queries_b = {1, 3, 5}, visible_b = {1, 2, 4};
    const std::vector<AttentionGroup> groups = {{cells_a, queries_a, visible_a}, {cells_b, queries_b, visible_b}};
    const auto q = random_floats(kTokens * kHeads * kHeadDim, 30);
    std::vector<float> cpu_out(kTokens * kHeads * kHeadDim);
    cpu->attention(Matrix{const_cast<float*>(q.data()), kTokens, kHeads * kHeadDim}, cpu_layer, groups, shape,
                   Matrix{cpu_out.data(), kTokens, kHeads * kHeadDim});
    DeviceCopy dq(*gpu, q, kTokens, kHeads * kHeadDim), dout(*gpu, std::vector<float>(cpu_out.size()), kTokens, kHeads * kHeadDim);
    gpu->attention(dq.matrix(), gpu_layer, groups, shape, dout.matrix());
    // The CPU rounds q and the weights to f16 for an F16 cache, as llama.cpp does; the GPU keeps them in f32.
    expect_close(cpu_out, dout.read(*gpu), type == TensorType::F16 ? 3e-3f : 1e-5f);

    // Rotating and copying cells, then attending again.
    const std::vector<int32_t> moved = {560, 575}, deltas = {-3, 11}, from = {590, 599}, to = {10, 11};
    const RopeParams params{.pairing = RopePairing::Halves, .n_dims = kHeadDim};
    cpu->rotate_keys(cpu_layer, moved, deltas, kHeadDim, params);
    gpu->rotate_keys(gpu_layer, moved, deltas, kHeadDim, params);
    cpu->copy_cells(cpu_layer, from, to);
    gpu->copy_cells(gpu_layer, from, to);
    cpu->attention(Matrix{const_cast<float*>(q.data()), kTokens, kHeads * kHeadDim}, cpu_layer, groups, shape,
                   Matrix{cpu_out.data(), kTokens, kHeads * kHeadDim});
    gpu->attention(dq.matrix(), gpu_layer, groups, shape, dout.matrix());
    expect_close(cpu_out, dout.read(*gpu), type == TensorType::F16 ? 3e-3f : 1e-5f);
  }
}

std::filesystem::path shared_dir() {
  const char* env = std::getenv("HEARTH_SHARED");
  return env != nullptr ? env : HEARTH_SHARED_DIR;
}

// The demo model's next-token distributions over a prompt, on the CPU and fully on the GPU: KL divergence
// (CPU || GPU) per position below 1e-3 on average, the same top token at 99% of positions or more.
TEST(CudaContext, TheWholeModelAgreesWithTheCpu) {
  ASSERT_GT(cuda_device_count(), 0) << "these tests need a CUDA GPU";
  const auto path = shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf";
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  auto model = Model::load(path);
  const std::vector<int32_t> prompt = model->tokenizer().tokenize(
      "Once upon a time, in a village by the sea, there lived an old fisherman who told stories to the children "
      "every evening. One day a little girl asked him why the sea was salty, and he smiled.", true, false);
  ASSERT_GT(prompt.size(), 20u);
  auto all_logits = [&](int32_t gpu_layers) {
    Context ctx(model, {.n_ctx = 256, .n_batch = 16, .n_outputs_max = 256, .n_threads = 2, .n_gpu_layers = gpu_layers});
    Batch batch;
    for (size_t i = 0; i < prompt.size(); ++i) batch.add(prompt[i], static_cast<int32_t>(i), 0, true);
    ctx.decode(batch);
    std::vector<std::vector<float>> rows;
    for (size_t i = 0; i < prompt.size(); ++i) rows.emplace_back(ctx.logits(i).begin(), ctx.logits(i).end());
    return rows;
  };
  const auto cpu = all_logits(0), gpu = all_logits(-1);
  double kl_sum = 0.0;
  size_t same_top = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    auto log_softmax = [](const std::vector<float>& l) {
      const float top = *std::max_element(l.begin(), l.end());
      double sum = 0.0;
      for (float v : l) sum += std::exp(double(v) - top);
      std::vector<double> out(l.size());
      for (size_t j = 0; j < l.size(); ++j) out[j] = double(l[j]) - top - std::log(sum);
      return out;
    };
    const auto p = log_softmax(cpu[i]), q = log_softmax(gpu[i]);
    for (size_t j = 0; j < p.size(); ++j) kl_sum += std::exp(p[j]) * (p[j] - q[j]);
    same_top += std::max_element(cpu[i].begin(), cpu[i].end()) - cpu[i].begin() ==
                std::max_element(gpu[i].begin(), gpu[i].end()) - gpu[i].begin();
  }
  const double mean_kl = kl_sum / static_cast<double>(cpu.size());
  std::printf("demo model, %zu positions: mean KL(cpu || gpu) %.3g, same top token at %zu\n", cpu.size(), mean_kl, same_top);
  EXPECT_LT(mean_kl, 1e-3);
  EXPECT_GE(same_top * 100, cpu.size() * 99);
}

// Greedy tokens after the prompt with `gpu_layers` layers on the GPU.
std::vector<int32_t> greedy(const std::shared_ptr<const Model>& model, int32_t gpu_layers, int n) {
  Context ctx(model, {.n_ctx = 256, .n_threads = 2, .n_gpu_layers = gpu_layers});
  std::vector<int32_t> tokens = model->tokenizer().tokenize("The old lighthouse keeper climbed the stairs", true, false);
  Batch batch;
  for (size_t i = 0; i < tokens.size(); ++i) batch.add(tokens[i], static_cast<int32_t>(i), 0, i + 1 == tokens.size());
  std::vector<int32_t> out;
  for (int k = 0; k < n; ++k) {
    ctx.decode(batch);
    const auto logits = ctx.logits(batch.size() - 1);
    const auto next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(next);
    batch.clear();
    batch.add(next, static_cast<int32_t>(tokens.size()) + k, 0, true);
  }
  return out;
}

// Half the layers on the GPU: the plan puts the first three (and the embeddings) on the CPU, the last three and
// the output on the GPU, and the greedy tokens are those of the whole model on the GPU.
TEST(CudaContext, HalfTheLayersOnTheGpuGiveTheTokensOfFullOffload) {
  ASSERT_GT(cuda_device_count(), 0) << "these tests need a CUDA GPU";
  auto model = Model::load(shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf");
  const ContextPlan plan = plan_context(*model, {.n_ctx = 256, .n_gpu_layers = 3});
  ASSERT_EQ(plan.devices.size(), 2u);
  EXPECT_EQ(plan.devices[0].device, "cpu");
  EXPECT_EQ(plan.devices[0].end_layer, 3);
  EXPECT_TRUE(plan.devices[0].embeddings);
  EXPECT_EQ(plan.devices[1].first_layer, 3);
  EXPECT_TRUE(plan.devices[1].output);
  EXPECT_GT(plan.devices[1].weights, 0u);
  const auto full = greedy(model, kAllGpuLayers, 32);
  EXPECT_EQ(greedy(model, 3, 32), full);
  EXPECT_EQ(greedy(model, 1, 32), full);
  const ContextPlan automatic = plan_context(*model, {.n_ctx = 256, .n_gpu_layers = kAutoGpuLayers});
  EXPECT_EQ(automatic.n_gpu_layers, 6);  // a 14 MB model fits any GPU
  ASSERT_EQ(automatic.devices.size(), 1u);
  EXPECT_TRUE(automatic.devices[0].embeddings && automatic.devices[0].output);
}

}  // namespace
}  // namespace hearth::backend
