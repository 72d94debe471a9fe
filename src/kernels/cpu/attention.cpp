#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/activations.h"
#include "kernels/cpu/lanes.h"
#include "kernels/cpu/poly_exp.h"

namespace hearth::kernels::cpu {
namespace {

// llama.cpp's attention products run through its tinyBLAS f16 GEMM on AVX-512: sixteen lanes, lane l accumulating
// the terms whose index along the summed axis is l mod 16 with fused multiply-adds in index order, the lanes then
// summed by halving (8 + 8, 4 + 4, 2 + 2, 1 + 1). Its softmax sums exp values per aligned chunk of 16 cache cells,
// the same way, and adds the chunk sums in double. Each sequence has a cache stream of its own there (as
// node-llama-cpp and llama-server configure it), so a key's cell is its index in the sequence: key j.
constexpr int kLanes = kWideLanes;
static_assert(kLanes == kPolyExpLanes);

float dot_lanes(const float* a, const float* b, int64_t n) {
  float lane[kLanes] = {};
  for (int64_t i = 0; i < n; ++i) lane[i % kLanes] = std::fma(a[i], b[i], lane[i % kLanes]);
  return sum_wide_lanes(lane);
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
    weights[j] = dot_lanes(keys + j * key_stride + kv_head * shape.head_dim, q, shape.head_dim) * shape.scale;
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
    float lane[kLanes] = {};
    for (int64_t j = 0; j < n_visible; ++j) {
      float& acc = lane[j % kLanes];
      acc = std::fma(v[j * value_stride + d], weights[j], acc);
    }
    out[d] = sum_wide_lanes(lane);
  }
}

}  // namespace hearth::kernels::cpu
