#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/activations.h"
#include "kernels/cpu/lanes.h"
#include "kernels/cpu/poly_exp.h"

namespace hearth::kernels::cpu {
namespace {

// llama.cpp's attention products are matrix products with f16 operands. A sequence's lone token (generation) goes
// through ggml's vec_dot: four sixteen-lane accumulators over steps of 64 terms, folded (0 + 2, 1 + 3, then 0 + 1)
// and summed by halving (8 + 8, 4 + 4, 2 + 2, 1 + 1), any tail added in double; this reference takes that order
// for every query. (Several tokens of one sequence go through its tinyBLAS GEMM there, in another order.) Its softmax sums exp values per aligned chunk of 16
// cache cells, the same way, and adds the chunk sums in double. Each sequence has a cache stream of its own there
// (as node-llama-cpp and llama-server configure it), so a key's cell is its index in the sequence: key j. The
// stream's length is padded to a multiple of 256 cells whose masked weights are zero, so the V products never
// have a tail.
constexpr int kLanes = kWideLanes;
static_assert(kLanes == kPolyExpLanes);

// vec_dot's accumulators: term i goes to accumulator (i / 16) mod 4, lane i mod 16.
class VecDotLanes {
 public:
  static constexpr int64_t kStep = 4 * kLanes;
  void add(int64_t i, float a, float b) {
    float& acc = acc_[(i / kLanes) % 4][i % kLanes];
    acc = std::fma(a, b, acc);
  }
  float sum() const {
    float folded[kLanes];
    for (int l = 0; l < kLanes; ++l) folded[l] = (acc_[0][l] + acc_[2][l]) + (acc_[1][l] + acc_[3][l]);
    return sum_wide_lanes(folded);
  }

 private:
  float acc_[4][kLanes] = {};
};

float dot_vec_order(const float* a, const float* b, int64_t n) {
  const int64_t main = n / VecDotLanes::kStep * VecDotLanes::kStep;
  VecDotLanes lanes;
  for (int64_t i = 0; i < main; ++i) lanes.add(i, a[i], b[i]);
  double sum = lanes.sum();
  for (int64_t i = main; i < n; ++i) sum += static_cast<double>(a[i] * b[i]);
  return static_cast<float>(sum);
}

}  // namespace

void attention_head(const AttentionShape& shape, TensorType cache_type, const float* q_row, const float* keys,
                    const float* values, int64_t n_visible, int64_t head, float* out_row, float* scratch) {
  // The partner format of the cache (F16 or F32): what q and the weights are rounded to.
  const TensorType operands = activation_format(cache_type);
  const int64_t kv_head = head / (shape.n_head / shape.n_head_kv);
  const int64_t key_stride = shape.n_head_kv * shape.head_dim;
  const int64_t value_stride = shape.n_head_kv * shape.head_dim_v;
  float* out = out_row + head * shape.head_dim_v;
  if (n_visible == 0) {
    std::fill(out, out + shape.head_dim_v, 0.0f);
    return;
  }
  float* weights = scratch;
  float* q = scratch + n_visible;
  round_activations(operands, q_row + head * shape.head_dim, q, shape.head_dim);

  float max_score = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n_visible; ++j) {
    const float* key = keys + j * key_stride + kv_head * shape.head_dim;
    weights[j] = dot_vec_order(key, q, shape.head_dim) * shape.scale;
    max_score = std::max(max_score, weights[j]);
  }
  double sum = 0.0;
  float chunk[kLanes] = {};
  for (int64_t j = 0; j < n_visible; ++j) {
    weights[j] = poly_exp(weights[j] - max_score);
    chunk[j % kLanes] = weights[j];
    if (j % kLanes == kLanes - 1 || j + 1 == n_visible) {
      sum += sum_wide_lanes(chunk);
      std::fill(std::begin(chunk), std::end(chunk), 0.0f);
    }
  }
  const auto inv_sum = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < n_visible; ++j) weights[j] *= inv_sum;
  round_activations(operands, weights, weights, n_visible);

  const float* v = values + kv_head * shape.head_dim_v;
  for (int64_t d = 0; d < shape.head_dim_v; ++d) {
    VecDotLanes lanes;
    for (int64_t j = 0; j < n_visible; ++j) lanes.add(j, v[j * value_stride + d], weights[j]);
    out[d] = lanes.sum();
  }
}

AttentionHead attention_head_kernel(const AttentionShape& shape, Isa isa) {
  AttentionHead vector = nullptr;
  if (isa == Isa::avx512) vector = avx512_attention_head(shape);
  if (isa == Isa::avx2) vector = avx2_attention_head(shape);
  return vector != nullptr ? vector : attention_head;
}

}  // namespace hearth::kernels::cpu
