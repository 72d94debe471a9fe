#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/activations.h"
#include "kernels/cpu/vec.h"

namespace hearth::kernels::cpu {
namespace {

HEARTH_VECTOR_CLONES
void score_keys(const float* q, const float* keys, int64_t key_stride, int64_t head_dim, int64_t n, float scale,
                float* scores) {
  dot_many(keys, key_stride, n, q, head_dim, scores);
  for (int64_t j = 0; j < n; ++j) scores[j] *= scale;
}

HEARTH_VECTOR_CLONES
void mix_values(const float* weights, const float* values, int64_t value_stride, int64_t head_dim_v, int64_t n,
                float* out) {
  std::fill(out, out + head_dim_v, 0.0f);
  for (int64_t j = 0; j < n; ++j) axpy_f32(weights[j], values + j * value_stride, out, head_dim_v);
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
  float* scores = scratch;
  float* q = scratch + n_visible;
  round_activations(operands, q_row + head * shape.head_dim, q, shape.head_dim);
  score_keys(q, keys + kv_head * shape.head_dim, key_stride, shape.head_dim, n_visible, shape.scale, scores);
  float max_score = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n_visible; ++j) max_score = std::max(max_score, scores[j]);
  double sum = 0.0;
  for (int64_t j = 0; j < n_visible; ++j) {
    scores[j] = std::exp(scores[j] - max_score);
    sum += scores[j];
  }
  const float inv_sum = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < n_visible; ++j) scores[j] *= inv_sum;
  round_activations(operands, scores, scores, n_visible);
  mix_values(scores, values + kv_head * shape.head_dim_v, value_stride, shape.head_dim_v, n_visible, out);
}

}  // namespace hearth::kernels::cpu
