// The CPU backend: each operation spread over threads gives exactly the single-threaded kernel's result, and the
// KV cache operations (store, attention with per-sequence causal groups, key rotation) match plain references.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backend/backend.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/rope.h"
#include "kernels/random_data.h"
#include "tensor/quant.h"

namespace hearth::backend {
namespace {

using test::random_floats;

Matrix view(std::vector<float>& v, int64_t rows, int64_t cols) { return {v.data(), rows, cols}; }

struct QuantizedWeight {
  std::vector<std::byte> bytes;
  Weight weight;
  QuantizedWeight(TensorType type, int64_t rows, int64_t cols, uint32_t seed) {
    const uint64_t row_size = *row_bytes(type, cols);
    bytes.resize(row_size * rows);
    const auto values = random_floats(rows * cols, seed);
    for (int64_t r = 0; r < rows; ++r) {
      tensor::quantize_row(type, values.data() + r * cols, bytes.data() + r * row_size, cols);
    }
    weight = {type, bytes.data(), row_size, rows, cols};
  }
};

WorkspaceLimits limits(int64_t cols, int64_t cells, int64_t key_width, int64_t value_width) {
  return {.max_weight_cols = cols, .max_tokens = 16, .n_cells = cells, .key_width = key_width,
          .value_width = value_width};
}

TEST(CpuBackend, ThreadedOperationsEqualTheSingleThreadedKernels) {
  const QuantizedWeight w(TensorType::Q8_0, 70, 128, 1);
  auto one = make_cpu_backend(1);
  auto three = make_cpu_backend(3);
  one->reserve(limits(128, 8, 8, 8));
  three->reserve(limits(128, 8, 8, 8));

  auto x = random_floats(9 * 128, 2);
  std::vector<float> y1(9 * 70), y3(9 * 70);
  one->matmul(w.weight, view(x, 9, 128), view(y1, 9, 70));
  three->matmul(w.weight, view(x, 9, 128), view(y3, 9, 70));
  EXPECT_EQ(y1, y3);

  const auto gain = random_floats(128, 3);
  std::vector<float> n1(9 * 128), n3(9 * 128);
  one->rms_norm(view(x, 9, 128), gain, 1e-6f, view(n1, 9, 128));
  three->rms_norm(view(x, 9, 128), gain, 1e-6f, view(n3, 9, 128));
  EXPECT_EQ(n1, n3);

  std::vector<float> a1 = x, a3 = x;
  one->add(view(a1, 9, 128), view(n1, 9, 128));
  three->add(view(a3, 9, 128), view(n1, 9, 128));
  EXPECT_EQ(a1, a3);
  one->swiglu(view(a1, 9, 128), view(x, 9, 128), view(a1, 9, 128));
  three->swiglu(view(a3, 9, 128), view(x, 9, 128), view(a3, 9, 128));
  EXPECT_EQ(a1, a3);
  one->add_bias(view(a1, 9, 128), gain);
  three->add_bias(view(a3, 9, 128), gain);
  EXPECT_EQ(a1, a3);

  const std::vector<int32_t> positions{0, 5, 9, 100, 3, 4, 2, 1, 7};
  const RopeParams rope{RopePairing::Halves, 32, 10000.0f, 1.0f, nullptr};
  std::vector<float> r1 = x, r3 = x;
  one->rope(view(r1, 9, 128), 32, positions, rope);
  three->rope(view(r3, 9, 128), 32, positions, rope);
  EXPECT_EQ(r1, r3);
  std::vector<float> expected = x;
  kernels::cpu::rope_rows(expected.data(), 9, 4, 32, positions.data(), rope);
  EXPECT_EQ(r3, expected);

  const std::vector<int32_t> ids{3, 69, 0};
  std::vector<float> g1(3 * 128), g3(3 * 128);
  one->get_rows(w.weight, ids, view(g1, 3, 128));
  three->get_rows(w.weight, ids, view(g3, 3, 128));
  EXPECT_EQ(g1, g3);
  std::vector<float> row(128);
  tensor::dequantize_row(TensorType::Q8_0, w.bytes.data() + 69 * w.weight.row_bytes, row.data(), 128);
  EXPECT_EQ(std::vector<float>(g3.begin() + 128, g3.begin() + 256), row);

  const std::vector<int32_t> picked{8, 2};
  std::vector<float> copied(2 * 128);
  three->copy_rows(view(x, 9, 128), picked, view(copied, 2, 128));
  EXPECT_EQ(std::vector<float>(copied.begin(), copied.begin() + 128),
            std::vector<float>(x.begin() + 8 * 128, x.begin() + 9 * 128));
}

TEST(CpuBackend, MatmulBeyondTheReservedWidthIsALogicError) {
  const QuantizedWeight w(TensorType::F32, 4, 64, 4);
  auto backend = make_cpu_backend(1);
  backend->reserve(limits(32, 4, 4, 4));
  auto x = random_floats(64, 5);
  std::vector<float> y(4);
  EXPECT_THROW(backend->matmul(w.weight, view(x, 1, 64), view(y, 1, 4)), std::logic_error);
}

// A KV cache layer in backend memory.
struct Cache {
  Buffer buffer;
  KvLayer layer;
  Cache(Backend& backend, TensorType type, int64_t cells, int64_t key_width, int64_t value_width) {
    const uint64_t k_row = *row_bytes(type, key_width), v_row = *row_bytes(type, value_width);
    buffer = backend.allocate(cells * (k_row + v_row));
    auto* base = static_cast<std::byte*>(buffer.data());
    layer = {type, base, base + cells * k_row, cells, key_width, value_width, k_row, v_row};
  }
};

TEST(CpuBackend, AttentionFollowsEachGroupsCellsAndCausalCounts) {
  const AttentionShape shape{.n_head = 2, .n_head_kv = 1, .head_dim = 8, .head_dim_v = 8, .scale = 0.5f};
  auto backend = make_cpu_backend(2);
  backend->reserve(limits(16, 10, 8, 8));
  Cache cache(*backend, TensorType::F32, 10, 8, 8);

  // Six tokens: rows 0-2 sequence A in cells 7, 2, 4; rows 3-5 sequence B in cells 0, 9, 5.
  auto keys = random_floats(6 * 8, 6, 2.0f);
  auto values = random_floats(6 * 8, 7);
  const std::vector<int32_t> cells{7, 2, 4, 0, 9, 5};
  backend->store_kv(cache.layer, view(keys, 6, 8), view(values, 6, 8), cells);

  auto q = random_floats(6 * 16, 8);
  const std::vector<int32_t> a_cells{7, 2, 4}, a_rows{0, 1, 2}, a_visible{1, 2, 3};
  const std::vector<int32_t> b_cells{0, 9, 5}, b_rows{3, 4, 5}, b_visible{1, 2, 3};
  const std::vector<AttentionGroup> groups{{a_cells, a_rows, a_visible}, {b_cells, b_rows, b_visible}};
  std::vector<float> out(6 * 16, NAN);
  backend->attention(view(q, 6, 16), cache.layer, groups, shape, view(out, 6, 16));

  for (int64_t row = 0; row < 6; ++row) {
    const int64_t first = row < 3 ? 0 : 3;  // the group's first batch row (its keys are rows first..row)
    for (int64_t h = 0; h < 2; ++h) {
      std::vector<double> w;
      double max_w = -INFINITY, total = 0;
      for (int64_t j = first; j <= row; ++j) {
        double s = 0;
        for (int d = 0; d < 8; ++d) s += double{q[row * 16 + h * 8 + d]} * keys[j * 8 + d];
        w.push_back(s * 0.5);
        max_w = std::max(max_w, w.back());
      }
      for (double& v : w) total += (v = std::exp(v - max_w));
      for (int d = 0; d < 8; ++d) {
        double expected = 0;
        for (int64_t j = first; j <= row; ++j) expected += w[j - first] / total * values[j * 8 + d];
        EXPECT_NEAR(out[row * 16 + h * 8 + d], expected, 1e-5) << "row " << row << " head " << h;
      }
    }
  }
}

TEST(CpuBackend, RotatingCachedKeysEqualsRotatingAtTheNewPosition) {
  for (TensorType type : {TensorType::F32, TensorType::F16}) {
    auto backend = make_cpu_backend(2);
    backend->reserve(limits(32, 6, 32, 32));
    Cache cache(*backend, type, 6, 32, 32);
    const RopeParams rope{RopePairing::Adjacent, 16, 10000.0f, 1.0f, nullptr};
    const auto raw = random_floats(3 * 32, 9);

    std::vector<float> at_old = raw;
    const std::vector<int32_t> old_positions{10, 20, 30}, deltas{-10, -5, 7}, new_positions{0, 15, 37};
    backend->rope(view(at_old, 3, 32), 16, old_positions, rope);
    const std::vector<int32_t> cells{1, 3, 5};
    backend->store_kv(cache.layer, view(at_old, 3, 32), view(at_old, 3, 32), cells);
    backend->rotate_keys(cache.layer, cells, deltas, 16, rope);

    std::vector<float> at_new = raw;
    backend->rope(view(at_new, 3, 32), 16, new_positions, rope);
    std::vector<float> stored(3 * 32);
    kernels::cpu::get_rows({type, cache.layer.keys, cache.layer.key_row_bytes, 6, 32}, cells, stored.data());
    const float tolerance = type == TensorType::F16 ? 4e-3f : 1e-5f;
    for (size_t i = 0; i < stored.size(); ++i) EXPECT_NEAR(stored[i], at_new[i], tolerance) << type_name(type) << i;
  }
}

// Asking for a GPU where there is none (or in a build without CUDA) is an error naming why, never a CPU run.
TEST(CudaAvailability, AGpuBackendExistsExactlyWhereADeviceDoes) {
  if (cuda_device_count() == 0) {
    try {
      make_cuda_backend(0);
      FAIL() << "a CUDA backend was made without a GPU";
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      EXPECT_TRUE(what.find("no CUDA GPU") != std::string::npos || what.find("no CUDA support") != std::string::npos) << what;
    }
  } else {
    EXPECT_EQ(make_cuda_backend(0)->name(), "cuda");
  }
  EXPECT_THROW(make_cuda_backend(-1), std::invalid_argument);
}

}  // namespace
}  // namespace hearth::backend
