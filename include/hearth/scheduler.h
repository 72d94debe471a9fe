// Scheduler: many generations over one model at once (continuous batching), the engine behind `hearth serve`.
//
//   auto model = hearth::Model::load(path);
//   hearth::Scheduler scheduler(model, {.n_parallel = 8});
//   auto id = scheduler.submit(std::move(request), sink);   // sink->on_token(...) per token, then on_finished
//
// One worker thread owns a Context whose KV cache is split into n_parallel slots (sequence ids), each holding at
// most slot_context() tokens. Every step runs all active slots in one batched forward pass: one token for each slot
// that is generating, plus chunks of waiting prompts filling the rest of n_batch, so a long prompt never stalls the
// streams already running. New requests join between steps; a cancelled one frees its slot before the next step.
//
// Prefix reuse: a slot keeps its last request's tokens in the cache; a new request goes to the free slot whose
// cached tokens share the longest prefix with its prompt, skips that prefix and reports it as cached_tokens. Where
// another slot (even one still generating) holds a longer prefix, those cells are copied into the new request's
// slot instead (a system prompt that many requests share is computed once).
//
// Reproducible under load: a request's tokens depend only on the request (prompt, sampling parameters with a fixed
// seed, or greedy), never on the other requests it shares steps with (the Context's batch invariance).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "hearth/context.h"
#include "hearth/model.h"
#include "hearth/sampling.h"

namespace hearth {

// submit() was refused because max_queue requests are already waiting for a slot.
class QueueFullError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// submit() was refused because the scheduler is shutting down.
class ShuttingDownError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct GenerationRequest {
  std::vector<int32_t> prompt;       // not empty; ids inside the vocabulary
  int32_t max_tokens = 16;           // > 0; prompt.size() + max_tokens <= slot_context() (else ContextFullError)
  sampling::SamplingParams sampling;  // a seed (or temperature <= 0) makes the result reproducible
  std::vector<std::string> stop;     // stop strings; the text stops before the first one found
  bool ignore_eos = false;           // end-of-generation tokens are banned
  int32_t top_logprobs = 0;          // 0..20: alternatives reported with each token (implies logprobs)
  bool logprobs = false;             // report each token's log-probability
  // The generated text is kept inside this grammar's language (end of generation only where it accepts); not
  // with ignore_eos (std::invalid_argument), which would leave a finished grammar nothing to choose.
  std::optional<grammar::Grammar> grammar;
  // A grammar that switches on where the generated text reaches `trigger`, for the text after it, and off again
  // once nothing more can follow in it; then the trigger is watched for again. Tool calls under tool_choice
  // "auto": free text stays free, a call the model opens follows the tools' schemas. `at_start`: the trigger counts
  // only as the first text of the reply (after whitespace). Not with `grammar`.
  struct TriggeredGrammar {
    std::string trigger;
    grammar::Grammar grammar;
    bool at_start = false;
  };
  std::optional<TriggeredGrammar> triggered_grammar;
  // Control tokens' text is part of the generated text (tool-call and reasoning markers that are control tokens,
  // e.g. Llama 3's <|python_tag|>); end-of-generation tokens never are. A grammar then sees that text too: a
  // literal "<|python_tag|>" in it can be the control token.
  bool show_special_tokens = false;
  // Rewrites each next-token row of logits before the sampler sees it, given the tokens so far (prompt, then
  // generated): a caller's own sampling rule (the Python package's logits processors). Runs on the scheduler's
  // thread, between steps of every request; logprobs still report the model's own distribution. An exception it
  // throws ends the request with FinishReason::error and its message.
  std::function<void(std::span<const int32_t> tokens, std::span<float> logits)> logits_processor;
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;  // natural log of its probability under the model's distribution (log-softmax of the logits)
};

// One generated token. `text` is what became safe to show with it: possibly empty (a stop string may be starting,
// or a UTF-8 character is incomplete), possibly more than the token's own piece (held-back text released).
struct GenerationEvent {
  int32_t token = 0;
  std::string text;
  std::optional<TokenLogprob> logprob;   // with logprobs or top_logprobs
  std::vector<TokenLogprob> top;         // top_logprobs alternatives, most probable first
};

enum class FinishReason {
  stop,       // an end-of-generation token or a stop string
  length,     // max_tokens generated
  cancelled,  // cancel(), or the scheduler shut down
  error,      // the forward pass failed (e.g. non-finite values); `error` says why
};
std::string_view finish_reason_name(FinishReason reason);  // "stop", "length", "cancelled", "error"

struct GenerationResult {
  FinishReason reason = FinishReason::stop;
  std::string text;             // remaining text released at the end (held back until it was clear it is not a stop)
  std::string error;            // for FinishReason::error
  int32_t prompt_tokens = 0;
  int32_t cached_tokens = 0;    // prompt tokens found in the cache and not recomputed
  int32_t generated_tokens = 0;
  double queue_ms = 0;          // from submit() to the first step that ran it
  double time_to_first_token_ms = 0;  // from submit() to the first token's event
  double duration_ms = 0;       // from submit() to on_finished
};

// Receives one request's output. Called on the scheduler's thread: must return quickly and never call back into
// the scheduler except cancel().
class GenerationSink {
 public:
  virtual ~GenerationSink() = default;
  virtual void on_token(GenerationEvent event) = 0;
  virtual void on_finished(GenerationResult result) = 0;  // exactly once, last
};

struct SchedulerOptions {
  int32_t n_parallel = 4;     // slots: requests generating at once
  int32_t slot_context = 0;   // tokens one request may hold (prompt + generated); 0: the model's n_ctx_train, at most 4096
  int32_t n_batch = 512;      // most tokens one step runs
  int32_t max_queue = 64;     // requests waiting for a slot (none free) beyond which submit() throws QueueFullError
  int32_t n_threads = 0;      // 0: one per hardware thread
  KvCacheType kv_type = KvCacheType::f16;
  int32_t n_gpu_layers = 0;   // as ContextOptions::n_gpu_layers
};

struct SchedulerStats {
  int32_t n_parallel = 0;
  int32_t busy_slots = 0;
  int32_t queue_depth = 0;      // submitted, waiting for a slot
  int32_t kv_cells_used = 0;
  int32_t kv_cells = 0;
  uint64_t prompt_tokens = 0;   // totals since start
  uint64_t cached_tokens = 0;
  uint64_t generated_tokens = 0;
  uint64_t steps = 0;           // forward passes run
};

class Scheduler {
 public:
  using RequestId = uint64_t;

  // Allocates the KV cache for n_parallel × slot_context tokens up front (ResourceError when it will not fit) and
  // starts the worker thread.
  Scheduler(std::shared_ptr<const Model> model, const SchedulerOptions& options);
  ~Scheduler();  // cancels what is still running (each sink gets on_finished) and joins the worker
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request. Throws std::invalid_argument (empty prompt, id outside the vocabulary, max_tokens < 1,
  // top_logprobs outside 0..20, a bad logit bias, an empty stop string, a null sink), ContextFullError (prompt + max_tokens > slot_context(), stating
  // both), QueueFullError, ShuttingDownError. On success the sink will get on_finished exactly once.
  RequestId submit(GenerationRequest request, std::shared_ptr<GenerationSink> sink);

  // Stops a request (queued or running) before the next step; its sink gets on_finished(cancelled) unless it had
  // finished already. Unknown or finished ids are ignored. Safe from any thread, including inside a sink callback.
  void cancel(RequestId id);

  // Refuses new requests, lets running and queued ones finish for up to `grace`, then cancels the rest.
  // Returns when nothing is left.
  void shutdown(std::chrono::milliseconds grace);

  SchedulerStats stats() const;
  int32_t slot_context() const;
  const Model& model() const;
  MemoryReport memory() const;
  const ContextPlan& plan() const;  // the devices its context runs on

  // The options of the one Context a Scheduler with these options makes (for plan_context() before making it);
  // std::invalid_argument, as the constructor, for options that cannot work.
  static ContextOptions context_options(const Model& model, const SchedulerOptions& options);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth
