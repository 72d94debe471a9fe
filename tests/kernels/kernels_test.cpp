// Every CPU kernel against a plain double-precision reference written out in the test, on random inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>
#include <utility>
#include <stdexcept>
#include <vector>

#include "hearth/gguf.h"
#include "hearth/tensor_type.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/dequant.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quant_tiles.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/rope.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/random_data.h"
#include "support/shared_data.h"
#include "tensor/quant.h"

namespace hearth::kernels::cpu {
namespace {

using test::random_floats;

// A weight matrix quantized from random values, with its exact dequantization (the tensor layer's reference).
struct TestWeight {
  TensorType type;
  int64_t rows, cols;
  std::vector<std::byte> bytes;
  std::vector<float> dequantized;

  TestWeight(TensorType t, int64_t r, int64_t c, uint32_t seed) : type(t), rows(r), cols(c) {
    const uint64_t row_size = *row_bytes(type, cols);
    bytes.resize(row_size * rows);
    dequantized.resize(rows * cols);
    const std::vector<float> values = random_floats(rows * cols, seed);
    for (int64_t i = 0; i < rows; ++i) {
      tensor::quantize_row(type, values.data() + i * cols, bytes.data() + i * row_size, cols);
      tensor::dequantize_row(type, bytes.data() + i * row_size, dequantized.data() + i * cols, cols);
    }
  }
  QuantMatrix view() const { return {type, bytes.data(), *row_bytes(type, cols), rows, cols}; }
};

class MatmulTest : public ::testing::TestWithParam<TensorType> {};

TEST_P(MatmulTest, MatchesReferenceAndIsIndependentOfBatching) {
  const TensorType type = GetParam();
  const int64_t cols = 512;  // two K-quant super-blocks per row
  const int64_t rows = 37;   // not a multiple of the tile: the last tile is partial
  const int64_t n_tokens = 5;
  const TestWeight w(type, rows, cols, 11);
  const auto x = random_floats(n_tokens * cols, 12);
  std::vector<float> tile(matmul_tile_floats(cols));

  std::vector<float> y(n_tokens * rows, NAN);
  matmul_rows(w.view(), float_tile(w.type, cpu_isa()), x.data(), n_tokens, y.data(), rows, 0, rows, tile.data());
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      double expected = 0, magnitude = 0;
      for (int64_t c = 0; c < cols; ++c) {
        expected += double{w.dequantized[r * cols + c]} * x[t * cols + c];
        magnitude += std::fabs(double{w.dequantized[r * cols + c]} * x[t * cols + c]);
      }
      ASSERT_NEAR(y[t * rows + r], expected, 1e-6 * magnitude + 1e-6) << type_name(type) << " t " << t << " r " << r;
    }
  }

  // One token at a time, over two row ranges split mid-tile: bit-identical results (37 rows: llama.cpp sums float
  // weights in vec_dot's order for any number of tokens at this shape).
  for (int64_t t = 0; t < n_tokens; ++t) {
    std::vector<float> single(rows, NAN);
    matmul_rows(w.view(), float_tile(w.type, cpu_isa()), x.data() + t * cols, 1, single.data(), rows, 0, 21, tile.data());
    matmul_rows(w.view(), float_tile(w.type, cpu_isa()), x.data() + t * cols, 1, single.data(), rows, 21, rows, tile.data());
    for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(single[r], y[t * rows + r]) << "t " << t << " r " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Types, MatmulTest,
                         ::testing::Values(TensorType::F32, TensorType::F16, TensorType::BF16, TensorType::Q4_0,
                                           TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
                                           TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K,
                                           TensorType::Q6_K, TensorType::IQ4_NL, TensorType::IQ4_XS),
                         [](const auto& info) { return std::string(type_name(info.param)); });

TEST(Matmul, OddWidthF32Rows) {
  const TestWeight w(TensorType::F32, 6, 13, 3);
  const auto x = random_floats(2 * 13, 4);
  std::vector<float> tile(matmul_tile_floats(13)), y(2 * 6);
  matmul_rows(w.view(), float_tile(w.type, cpu_isa()), x.data(), 2, y.data(), 6, 0, 6, tile.data());
  for (int64_t t = 0; t < 2; ++t) {
    for (int64_t r = 0; r < 6; ++r) {
      double expected = 0;
      for (int64_t c = 0; c < 13; ++c) expected += double{w.dequantized[r * 13 + c]} * x[t * 13 + c];
      EXPECT_NEAR(y[t * 6 + r], expected, 1e-5);
    }
  }
}

TEST(Rows, GetRowsDequantizesTheChosenRows) {
  const TestWeight w(TensorType::Q4_K, 9, 256, 5);
  const std::vector<int32_t> ids{8, 0, 3, 3};
  std::vector<float> out(ids.size() * 256);
  get_rows(w.view(), ids, out.data());
  for (size_t i = 0; i < ids.size(); ++i) {
    for (int64_t c = 0; c < 256; ++c) ASSERT_EQ(out[i * 256 + c], w.dequantized[ids[i] * 256 + c]);
  }
}

TEST(Rows, SetRowsStoresF16AndF32ThatGetRowsReadsBack) {
  for (TensorType type : {TensorType::F16, TensorType::F32}) {
    const int64_t cols = 24;
    const uint64_t row_size = *row_bytes(type, cols);
    std::vector<std::byte> storage(row_size * 6);
    const auto src = random_floats(2 * cols, 6);
    const std::vector<int32_t> cells{4, 1};
    set_rows(type, storage.data(), row_size, cols, cells, src.data());
    std::vector<float> back(2 * cols);
    get_rows({type, storage.data(), row_size, 6, cols}, cells, back.data());
    for (int64_t i = 0; i < 2 * cols; ++i) {
      const float tolerance = type == TensorType::F16 ? std::fabs(src[i]) / 1024 : 0.0f;
      ASSERT_NEAR(back[i], src[i], tolerance) << type_name(type) << " " << i;
    }
  }
}

TEST(RmsNorm, MatchesReference) {
  const int64_t rows = 3, width = 200;
  const auto x = random_floats(rows * width, 7, 3.0f);
  const auto gain = random_floats(width, 8);
  std::vector<float> y(rows * width);
  rms_norm_rows(x.data(), gain.data(), y.data(), rows, width, 1e-5f);
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0;
    for (int64_t i = 0; i < width; ++i) sum += double{x[r * width + i]} * x[r * width + i];
    const double scale = 1.0 / std::sqrt(sum / width + 1e-5);
    for (int64_t i = 0; i < width; ++i) {
      ASSERT_NEAR(y[r * width + i], x[r * width + i] * scale * gain[i], 1e-5) << r << " " << i;
    }
  }
  // In place gives the same.
  std::vector<float> in_place = x;
  rms_norm_rows(in_place.data(), gain.data(), in_place.data(), rows, width, 1e-5f);
  EXPECT_EQ(in_place, y);
}

struct RopeCase {
  RopePairing pairing;
  int64_t n_dims;
  float freq_scale;
  bool factors;
};

class RopeTest : public ::testing::TestWithParam<RopeCase> {};

TEST_P(RopeTest, MatchesReference) {
  const RopeCase c = GetParam();
  const int64_t n_tokens = 4, n_heads = 3, head_dim = 16;
  const std::vector<int32_t> positions{0, 1, 17, 300};
  const auto factors = random_floats(c.n_dims / 2, 9, 1.0f);
  std::vector<float> positive_factors;
  for (float f : factors) positive_factors.push_back(1.0f + 4.0f * std::fabs(f));
  const RopeParams params{c.pairing, c.n_dims, 10000.0f, c.freq_scale,
                          c.factors ? positive_factors.data() : nullptr};
  const auto x = random_floats(n_tokens * n_heads * head_dim, 10);
  std::vector<float> y = x;
  rope_rows(y.data(), n_tokens, n_heads, head_dim, positions.data(), params);

  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t h = 0; h < n_heads; ++h) {
      const float* in = x.data() + (t * n_heads + h) * head_dim;
      const float* out = y.data() + (t * n_heads + h) * head_dim;
      std::vector<double> expected(in, in + head_dim);
      for (int64_t i = 0; i < c.n_dims / 2; ++i) {
        double angle = positions[t] * double{c.freq_scale} * std::pow(10000.0, -2.0 * i / c.n_dims);
        if (c.factors) angle /= positive_factors[i];
        const int64_t a = c.pairing == RopePairing::Adjacent ? 2 * i : i;
        const int64_t b = c.pairing == RopePairing::Adjacent ? 2 * i + 1 : i + c.n_dims / 2;
        expected[a] = in[a] * std::cos(angle) - in[b] * std::sin(angle);
        expected[b] = in[a] * std::sin(angle) + in[b] * std::cos(angle);
      }
      for (int64_t d = 0; d < head_dim; ++d) {
        // f32 angles of large positions carry ~1e-7 relative error
        ASSERT_NEAR(out[d], expected[d], 2e-4) << "token " << t << " head " << h << " dim " << d;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, RopeTest,
                         ::testing::Values(RopeCase{RopePairing::Adjacent, 16, 1.0f, false},
                                           RopeCase{RopePairing::Halves, 16, 1.0f, false},
                                           RopeCase{RopePairing::Adjacent, 8, 1.0f, false},
                                           RopeCase{RopePairing::Halves, 8, 0.25f, false},
                                           RopeCase{RopePairing::Adjacent, 16, 0.5f, true},
                                           RopeCase{RopePairing::Halves, 16, 1.0f, true}));

TEST(Rope, RotationsByPositionCompose) {
  const int64_t head_dim = 32;
  const RopeParams params{RopePairing::Halves, head_dim, 500000.0f, 1.0f, nullptr};
  const auto x = random_floats(head_dim, 11);
  std::vector<float> twice = x, once = x;
  const int32_t p1 = 40, p2 = -15, sum = 25;
  rope_rows(twice.data(), 1, 1, head_dim, &p1, params);
  rope_rows(twice.data(), 1, 1, head_dim, &p2, params);
  rope_rows(once.data(), 1, 1, head_dim, &sum, params);
  for (int64_t d = 0; d < head_dim; ++d) EXPECT_NEAR(twice[d], once[d], 1e-5);
}

// Plain attention in double, with q and the softmax weights optionally rounded to f16 first (what an F16 cache
// makes llama.cpp do).
std::vector<double> reference_attention(const AttentionShape& shape, const std::vector<float>& q,
                                        const std::vector<float>& keys, const std::vector<float>& values,
                                        int64_t visible, int64_t h, bool f16_operands) {
  auto operand = [&](double v) { return f16_operands ? double{tensor::fp16_to_fp32(tensor::fp32_to_fp16(float(v)))} : v; };
  const int64_t g = h / (shape.n_head / shape.n_head_kv);
  std::vector<double> weights(visible);
  double max_score = -INFINITY, total = 0;
  for (int64_t j = 0; j < visible; ++j) {
    double s = 0;
    for (int64_t d = 0; d < shape.head_dim; ++d) {
      s += operand(q[h * shape.head_dim + d]) * keys[(j * shape.n_head_kv + g) * shape.head_dim + d];
    }
    weights[j] = s * shape.scale;
    max_score = std::max(max_score, weights[j]);
  }
  for (double& w : weights) total += (w = std::exp(w - max_score));
  std::vector<double> out(shape.head_dim_v, 0.0);
  for (int64_t d = 0; d < shape.head_dim_v; ++d) {
    for (int64_t j = 0; j < visible; ++j) {
      out[d] += operand(weights[j] / total) * values[(j * shape.n_head_kv + g) * shape.head_dim_v + d];
    }
  }
  return out;
}

// The scalar reference and every vector kernel this CPU runs.
std::vector<std::pair<std::string, AttentionHead>> attention_kernels(const AttentionShape& shape) {
  std::vector<std::pair<std::string, AttentionHead>> kernels{{"reference", attention_head}};
  for (Isa isa : {Isa::avx512, Isa::avx2}) {
    if (isa_supported(isa)) kernels.emplace_back(std::string(isa_name(isa)), attention_head_kernel(shape, isa));
  }
  return kernels;
}

void check_attention(const AttentionShape& shape, int64_t n_kv, std::initializer_list<int64_t> visible_counts) {
  const auto q = random_floats(shape.n_head * shape.head_dim, 12, 2.0f);
  const auto keys = random_floats(n_kv * shape.n_head_kv * shape.head_dim, 13, 2.0f);
  const auto values = random_floats(n_kv * shape.n_head_kv * shape.head_dim_v, 14);
  for (const auto& [name, kernel] : attention_kernels(shape)) {
    for (const TensorType cache : {TensorType::F32, TensorType::F16}) {
      for (int64_t visible : visible_counts) {
        std::vector<float> out(shape.n_head * shape.head_dim_v, NAN);
        std::vector<float> scratch(attention_scratch_floats(n_kv, shape.head_dim));
        for (int64_t h = 0; h < shape.n_head; ++h) {
          kernel(shape, cache, q.data(), keys.data(), values.data(), visible, h, out.data(), scratch.data());
        }
        for (int64_t h = 0; h < shape.n_head; ++h) {
          const auto expected = reference_attention(shape, q, keys, values, visible, h, cache == TensorType::F16);
          // The f32 result of the other operand convention: the test tells the two apart.
          const auto other = reference_attention(shape, q, keys, values, visible, h, cache != TensorType::F16);
          double distance_to_other = 0;
          for (int64_t d = 0; d < shape.head_dim_v; ++d) {
            ASSERT_NEAR(out[h * shape.head_dim_v + d], expected[d], 2e-6)
                << name << " " << type_name(cache) << " visible " << visible << " head " << h << " dim " << d;
            distance_to_other = std::max(distance_to_other, std::fabs(out[h * shape.head_dim_v + d] - other[d]));
          }
          if (visible > 1) EXPECT_GT(distance_to_other, 1e-5) << "f16 rounding of the operands made no difference";
        }
      }
    }
  }
}

TEST(Attention, MatchesReferenceWithGroupedHeads) {
  check_attention({.n_head = 4, .n_head_kv = 2, .head_dim = 16, .head_dim_v = 8, .scale = 0.25f}, 11, {1, 6, 11});
}

TEST(Attention, MatchesReferenceOverManyKeysAndWideHeads) {
  // Widths past one block of 64 accumulators, key counts with and without a partial group of 8.
  check_attention({.n_head = 2, .n_head_kv = 1, .head_dim = 128, .head_dim_v = 136, .scale = 0.1f}, 301, {64, 301});
}

TEST(Attention, NothingVisibleGivesZeros) {
  const AttentionShape shape{.n_head = 1, .n_head_kv = 1, .head_dim = 8, .head_dim_v = 8, .scale = 1.0f};
  const auto q = random_floats(8, 15);
  std::vector<float> out(8, NAN), scratch(attention_scratch_floats(1, 8));
  for (const auto& [name, kernel] : attention_kernels(shape)) {
    kernel(shape, TensorType::F16, q.data(), q.data(), q.data(), 0, 0, out.data(), scratch.data());
    for (float v : out) EXPECT_EQ(v, 0.0f) << name;
  }
}

TEST(Elementwise, VectorSwigluGivesTheReferenceBits) {
  // Gates over the whole range SiLU sees, huge ones included (e^-g subnormal, or overflowing to infinity).
  const int64_t n = 16 * 40 + 7;
  auto gate = random_floats(n, 20, 30.0f);
  gate[3] = 95.0f, gate[4] = -95.0f, gate[5] = 200.0f, gate[6] = -200.0f, gate[7] = 0.0f;
  const auto up = random_floats(n, 21);
  std::vector<float> expected(n), got(n);
  swiglu(gate.data(), up.data(), expected.data(), n);
  for (Isa isa : {Isa::avx512, Isa::avx2}) {
    if (!isa_supported(isa)) continue;
    swiglu_kernel(isa)(gate.data(), up.data(), got.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(expected[i]))
          << isa_name(isa) << " gate " << gate[i] << " at " << i;
    }
  }
}

TEST(Elementwise, SwigluAddAndBias) {
  const int64_t n = 45;
  const auto gate = random_floats(n, 16, 6.0f);
  const auto up = random_floats(n, 17);
  std::vector<float> out(n);
  swiglu(gate.data(), up.data(), out.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    EXPECT_NEAR(out[i], g / (1.0 + std::exp(-g)) * up[i], 1e-6) << i;
  }

  std::vector<float> x = random_floats(n, 18);
  const std::vector<float> before = x;
  add(x.data(), up.data(), n);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(x[i], before[i] + up[i]);

  const auto bias = random_floats(9, 19);
  x = before;
  add_rows(x.data(), bias.data(), 5, 9);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(x[i], before[i] + bias[i % 9]);
}

TEST(ThreadPool, RunsEveryTaskOnceOnEveryThreadCount) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n_tasks : {0, 1, 7, 100}) {
      std::vector<std::atomic<int>> hits(n_tasks);
      std::atomic<int> bad_thread{0};
      pool.parallel_for(n_tasks, [&](int64_t task, int thread) {
        hits[task].fetch_add(1);
        if (thread < 0 || thread >= threads) bad_thread.fetch_add(1);
      });
      for (int64_t i = 0; i < n_tasks; ++i) ASSERT_EQ(hits[i].load(), 1) << threads << " threads, task " << i;
      EXPECT_EQ(bad_thread.load(), 0);
    }
  }
}

TEST(ThreadPool, RethrowsATaskErrorAndStaysUsable) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(50,
                                 [](int64_t task, int) {
                                   if (task == 13) throw std::runtime_error("task 13 failed");
                                 }),
               std::runtime_error);
  std::atomic<int64_t> sum{0};
  pool.parallel_for(10, [&](int64_t task, int) { sum.fetch_add(task); });
  EXPECT_EQ(sum.load(), 45);
}

}  // namespace
}  // namespace hearth::kernels::cpu

namespace hearth::kernels::cpu {
namespace {

// The fast dequantizers against the tensor layer's reference: identical floats, bit for bit.
void expect_same_as_reference(TensorType type, const std::byte* data, int64_t n, const std::string& what) {
  std::vector<float> fast(n), reference(n);
  dequantize_row(type, data, fast.data(), n);
  tensor::dequantize_row(type, data, reference.data(), n);
  ASSERT_EQ(std::memcmp(fast.data(), reference.data(), sizeof(float) * n), 0) << what;
}

TEST(Dequantize, FastFormatsAreBitIdenticalToTheReferenceOnRandomRows) {
  for (TensorType type : {TensorType::F16, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q6_K, TensorType::Q5_K,
                          TensorType::Q4_0}) {
    const TestWeight w(type, 3, 512, 21);
    expect_same_as_reference(type, w.bytes.data(), 3 * 512, std::string(type_name(type)));
  }
}

TEST(Dequantize, FastFormatsAreBitIdenticalToTheReferenceOnGoldenFiles) {
  for (const char* name : {"f16", "q8_0", "q4_K", "q6_K"}) {
    const auto file = gguf::File::open(test::shared_dir() / "golden" / "quant" / (std::string("quant-") + name + ".gguf"));
    const gguf::TensorInfo& t = file.tensor("quantized");
    expect_same_as_reference(t.type, t.data, t.n_elements(), name);
  }
}

TEST(Dequantize, EveryHalfValueConvertsExactly) {
  std::vector<uint16_t> halves(65536);
  for (uint32_t h = 0; h < 65536; ++h) halves[h] = static_cast<uint16_t>(h);  // subnormals, Inf, NaN, -0 included
  expect_same_as_reference(TensorType::F16, reinterpret_cast<const std::byte*>(halves.data()), 65536, "all halves");
}

}  // namespace
}  // namespace hearth::kernels::cpu
