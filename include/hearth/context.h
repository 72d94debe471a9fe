// Contexts: the KV cache and working memory to run a Model over batches of tokens, and the policy for prompts
// that do not fit.
//
//   auto model = hearth::Model::load(path);
//   hearth::Context ctx(model, {.n_ctx = 2048});
//   hearth::Batch batch;
//   for (size_t i = 0; i < prompt.size(); ++i) batch.add(prompt[i], i, /*seq_id=*/0, i + 1 == prompt.size());
//   ctx.decode(batch);
//   std::span<const float> logits = ctx.logits(prompt.size() - 1);   // n_vocab values
//
// A batch is any mix of sequences and tokens: prompt processing (many tokens of one sequence), single-token
// decoding and a server's many sequences at once all go through decode(). Each token attends to the tokens of its
// own sequence (seq_id) at positions up to its own. The cache holds n_ctx tokens in all, shared by every sequence.
//
// Numerics: activations are f32; weights are dequantized to f32 row by row; the KV cache is f16 by default
// (as llama.cpp's) or f32. Decoding a prompt in one batch or token by token gives the same logits.
// A Context is used from one thread at a time; it spreads each decode over its own n_threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/model.h"
#include "hearth/numeric_error.h"

namespace hearth {

// The memory a context would need is more than the machine has available (checked before allocating).
class ResourceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A decode would need more KV cache cells than are free, or a prompt and its generation do not fit n_ctx.
// The message states the numbers.
class ContextFullError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class KvCacheType { f16, f32 };

struct ContextOptions {
  int32_t n_ctx = 0;          // KV cache cells shared by all sequences; 0: the model's n_ctx_train, at most 4096
  int32_t n_batch = 512;      // most tokens one forward pass runs; decode() splits larger batches
  int32_t n_seq_max = 1;      // sequence ids are 0 .. n_seq_max-1
  int32_t n_outputs_max = 0;  // most tokens of one decode() that may ask for logits; 0: n_seq_max
  int32_t n_threads = 0;      // 0: one per hardware thread
  KvCacheType kv_type = KvCacheType::f16;
  // Decoder layers run by the GPU (CUDA device 0): 0 none, the CPU runs everything; N the last N layers and the
  // output projection (the first layers and the embedding lookup stay on the CPU, and the activations cross once
  // per pass); kAllGpuLayers (or n_layer and more) the whole pass; kAutoGpuLayers as many as the GPU's free memory
  // holds after the KV cache and scratch (none without a GPU). Asking for GPU layers where there is no GPU is an
  // std::invalid_argument saying why, never a silent CPU run.
  int32_t n_gpu_layers = 0;
  // Called while the constructor copies weights to a GPU (after each layer): bytes copied so far of the total.
  std::function<void(uint64_t copied, uint64_t total)> on_weight_copy = {};
};

inline constexpr int32_t kAllGpuLayers = -1;
inline constexpr int32_t kAutoGpuLayers = -2;

// CUDA GPUs this process can use: 0 without a driver or a device, and in builds without CUDA.
int gpu_count();

// What one device runs and holds for a context, in bytes, decided before anything is allocated.
struct DevicePlan {
  std::string device;       // "cpu", "cuda:0 (NVIDIA H200)"
  int32_t first_layer = 0;  // the decoder layers it runs: [first_layer, end_layer)
  int32_t end_layer = 0;
  bool embeddings = false;  // it looks up the token embeddings
  bool output = false;      // it runs the output norm and projection (the logits)
  uint64_t weights = 0;     // weights copied into its memory (0 on the CPU, which reads the mapped file)
  uint64_t kv_cache = 0;
  uint64_t scratch = 0;     // activations, the backend's workspace and, with the output, the logits
  std::optional<uint64_t> available;  // its free memory when planned, where it can tell

  uint64_t total() const { return weights + kv_cache + scratch; }
};

// Where a context's layers run: one entry per device, in the order a forward pass goes through them.
struct ContextPlan {
  int32_t n_gpu_layers = 0;  // resolved: 0 .. n_layer
  std::vector<DevicePlan> devices;
};

// The plan a Context with these options follows, made the same way (kAutoGpuLayers decided against the free
// memory now) but allocating nothing: for --dry-run. Throws what the Context constructor throws for options
// and memory.
ContextPlan plan_context(const Model& model, const ContextOptions& options);

// One token of a batch.
struct BatchToken {
  int32_t token = 0;
  int32_t pos = 0;     // position in its sequence (RoPE angle and causal order)
  int32_t seq_id = 0;
  bool logits = false;  // compute this token's logits (the distribution of the token after it)
};

struct Batch {
  std::vector<BatchToken> tokens;

  void add(int32_t token, int32_t pos, int32_t seq_id, bool logits) { tokens.push_back({token, pos, seq_id, logits}); }
  void clear() { tokens.clear(); }
  size_t size() const { return tokens.size(); }
  bool empty() const { return tokens.empty(); }
};

// Bytes a context holds besides itself, over every device it uses (ContextPlan has them per device).
struct MemoryReport {
  uint64_t weights_mapped = 0;  // the model file, mapped (shared by contexts; pages load as they are used)
  uint64_t weights_copied = 0;  // weights copied into a GPU's memory (each context holds its own copy)
  uint64_t kv_cache = 0;
  uint64_t scratch = 0;         // activations, logits and the backends' workspace
};

class Context {
 public:
  // Reserves the KV cache and scratch for `options` up front. Throws ResourceError (with the byte counts) when
  // they exceed the memory available, std::invalid_argument for nonsensical options.
  Context(std::shared_ptr<const Model> model, const ContextOptions& options = {});
  ~Context();
  Context(Context&&) noexcept;
  Context& operator=(Context&&) noexcept;

  // Runs the model over every token of the batch, storing their keys and values in the cache, and computes the
  // logits of the tokens that ask for them. Requirements, checked before anything changes (std::invalid_argument
  // names the token otherwise): token ids inside the vocabulary, seq_id in [0, n_seq_max), within each sequence
  // positions strictly increasing and after every position the sequence already holds, at most n_outputs_max
  // tokens asking for logits. ContextFullError when fewer cache cells are free than the batch has tokens.
  // NonFiniteValueError (hearth/numeric_error.h) when the pass meets NaN or infinity.
  // A refused batch changes nothing (the previous batch's logits stay readable).
  void decode(const Batch& batch);

  // The logits (n_vocab values) of token `index` of the last decoded batch; it must have asked for them.
  // Valid until the next decode().
  std::span<const float> logits(size_t index) const;

  // Forgets positions [p0, p1) of a sequence (p1 < 0: to the end); their cells become free.
  void remove(int32_t seq_id, int32_t p0, int32_t p1);
  // Moves positions [p0, p1) of a sequence by `delta` (p1 < 0: to the end), re-rotating their cached keys so
  // they stay valid at the new positions. The moved positions must not land on positions the sequence keeps.
  void shift(int32_t seq_id, int32_t p0, int32_t p1, int32_t delta);
  // Gives sequence `to` the cached keys and values of positions [0, n) of sequence `from`, as copies (the same bits,
  // so what `to` computes next is what it would compute had it decoded those tokens itself). `to` must hold
  // nothing from position 0 to n; `from` must hold all of them. ContextFullError when fewer than n cells are free.
  void copy_prefix(int32_t from, int32_t to, int32_t n);
  // Forgets every sequence.
  void clear();

  // The highest position a sequence holds, or -1 when it is empty.
  int32_t seq_pos_max(int32_t seq_id) const;
  // Tokens a sequence holds.
  int32_t seq_length(int32_t seq_id) const;
  int32_t n_ctx() const;
  int32_t n_cells_used() const;
  int32_t n_vocab() const;
  const ContextOptions& options() const;  // with every 0 replaced by the value chosen
  const Model& model() const;
  MemoryReport memory() const;   // totals over the devices
  const ContextPlan& plan() const;  // which device runs which layers, and what each holds

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What to do when a prompt and the tokens to generate do not fit the context.
enum class ContextOverflow {
  error,          // refuse, stating both numbers (the default: nothing is dropped silently)
  truncate_left,  // drop the oldest prompt tokens (keeping the first n_keep) until prompt + max_tokens fits
  shift,          // keep the prompt whole; when the cache fills during generation, drop the older half of what
                  // follows the first n_keep tokens and move the rest back (llama.cpp's context shift)
};
std::string_view context_overflow_name(ContextOverflow policy);
// "error", "truncate-left", "shift"; nullopt otherwise.
std::optional<ContextOverflow> context_overflow_from_name(std::string_view name);

// Applies the policy before generation starts. Returns the prompt to decode (truncated for truncate_left).
// Throws ContextFullError, stating the prompt length, max_tokens and n_ctx, when
//   error:          prompt + max_tokens > n_ctx
//   truncate_left:  max_tokens + n_keep + 1 > n_ctx (not even one prompt token would remain after the kept ones)
//   shift:          prompt > n_ctx, or n_keep >= n_ctx - 1
// Also throws std::invalid_argument for an empty prompt or a negative max_tokens.
std::vector<int32_t> fit_prompt(std::vector<int32_t> prompt, int32_t max_tokens, int32_t n_ctx, ContextOverflow policy,
                                int32_t n_keep);

// For ContextOverflow::shift: if sequence `seq_id` holds n_ctx tokens (no cell left for the next one), discards
// half of the positions after the first n_keep and moves the rest back. Returns how many positions were discarded
// (0 when there was still room); the next token's position is then seq_pos_max + 1.
int32_t make_room(Context& context, int32_t seq_id, int32_t n_keep);

}  // namespace hearth
