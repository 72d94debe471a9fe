// Scheduler: one worker thread, one Context split into slots, one batched decode per step (see hearth/scheduler.h).
//
// Threads: submit(), cancel(), shutdown() and stats() take the mutex; the worker takes it only to move requests
// in and out of the queue and to publish counters. Everything about slots and the Context is the worker's alone,
// and sinks are called by the worker with the mutex released, so a sink may call cancel() without deadlock.
#include "hearth/scheduler.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "runtime/scheduler_job.h"

namespace hearth {

std::string_view finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::stop: return "stop";
    case FinishReason::length: return "length";
    case FinishReason::cancelled: return "cancelled";
    case FinishReason::error: return "error";
  }
  return "unknown";
}

namespace {

using runtime::Clock;
using runtime::Job;
using runtime::ms_between;
using runtime::NextToken;

// One sequence of the Context. `cached` is exactly what the sequence holds, positions 0.., kept after its job
// ends so that the next job with the same prefix can skip it.
struct Slot {
  int32_t seq_id = 0;
  std::vector<int32_t> cached{};
  std::unique_ptr<Job> job{};  // null while free
};

}  // namespace

struct Scheduler::Impl {
  std::shared_ptr<const Model> model;
  SchedulerOptions options;
  Context context;
  MemoryReport memory;
  std::vector<int32_t> end_of_generation_tokens;  // banned for ignore_eos

  // The vocabulary's token trie for grammars, built by the first request with one (any thread): with control
  // tokens as their text for requests that show them (the grammar sees the text the client gets), else without.
  std::shared_ptr<const grammar::Vocabulary> grammar_vocabulary(bool show_special) {
    const int which = show_special ? 1 : 0;
    std::call_once(vocabulary_built[which], [this, which, show_special] {
      vocabularies[which] = grammar::Vocabulary::from_tokenizer(model->tokenizer(), show_special);
    });
    return vocabularies[which];
  }
  std::once_flag vocabulary_built[2];
  std::shared_ptr<const grammar::Vocabulary> vocabularies[2];

  // Guarded by `mutex`.
  mutable std::mutex mutex;
  std::condition_variable work_ready;  // the worker waits for requests or cancels
  std::condition_variable all_done;    // shutdown() waits for `live` to empty
  std::deque<std::unique_ptr<Job>> queue;
  std::unordered_set<RequestId> live;           // queued or running, not yet given on_finished
  std::unordered_set<RequestId> cancel_asked;   // subset of live
  RequestId next_id = 1;
  int32_t busy_slots = 0;
  bool accepting = true;
  bool stopping = false;  // the destructor: the worker exits once nothing is live
  SchedulerStats counters;

  // The worker's alone.
  std::vector<Slot> slots;
  std::thread worker;

  Impl(std::shared_ptr<const Model> model_in, const SchedulerOptions& options_in)
      : model(std::move(model_in)), options(resolve(*model, options_in)), context(model, context_options(options)) {
    memory = context.memory();
    for (int32_t id = 0; id < context.n_vocab(); ++id) {
      if (model->tokenizer().is_eog(id)) end_of_generation_tokens.push_back(id);
    }
    for (int32_t seq = 0; seq < options.n_parallel; ++seq) slots.push_back(Slot{.seq_id = seq});
    counters.n_parallel = options.n_parallel;
    counters.kv_cells = context.n_ctx();
    worker = std::thread([this] { run(); });
  }

  static SchedulerOptions resolve(const Model& model, SchedulerOptions options) {
    if (options.n_parallel < 1) throw std::invalid_argument("n_parallel must be at least 1");
    if (options.n_batch < 1) throw std::invalid_argument("n_batch must be at least 1");
    if (options.max_queue < 0) throw std::invalid_argument("max_queue must not be negative");
    if (options.slot_context < 0) throw std::invalid_argument("slot_context must not be negative");
    if (options.slot_context == 0) {
      options.slot_context = static_cast<int32_t>(std::clamp<int64_t>(model.info().n_ctx_train, 1, 4096));
    }
    if (static_cast<int64_t>(options.n_parallel) * options.slot_context > std::numeric_limits<int32_t>::max()) {
      throw std::invalid_argument(fmt::format("{} slots of {} tokens are more cells than a context can hold",
                                              options.n_parallel, options.slot_context));
    }
    return options;
  }

  static ContextOptions context_options(const SchedulerOptions& options) {
    return {.n_ctx = options.n_parallel * options.slot_context,
            .n_batch = options.n_batch,
            .n_seq_max = options.n_parallel,
            .n_outputs_max = options.n_parallel,  // a step asks for at most one token's logits per slot
            .n_threads = options.n_threads,
            .kv_type = options.kv_type,
            .n_gpu_layers = options.n_gpu_layers};
  }

  // ---- The worker ----

  void run() {
    while (true) {
      std::vector<std::unique_ptr<Job>> cancelled;
      {
        std::unique_lock lock(mutex);
        work_ready.wait(lock, [&] {
          return !cancel_asked.empty() || busy_slots > 0 || (!queue.empty() && busy_slots < options.n_parallel) ||
                 (stopping && live.empty());
        });
        if (stopping && live.empty()) return;
        for (auto it = queue.begin(); it != queue.end();) {
          if (cancel_asked.contains((*it)->id)) {
            cancelled.push_back(std::move(*it));
            it = queue.erase(it);
          } else {
            ++it;
          }
        }
        for (Slot& slot : slots) {
          if (slot.job && cancel_asked.contains(slot.job->id)) {
            cancelled.push_back(std::move(slot.job));
            --busy_slots;
          }
        }
        cancel_asked.clear();
        admit_locked();
        counters.queue_depth = static_cast<int32_t>(queue.size());
        counters.busy_slots = busy_slots;
        counters.kv_cells_used = context.n_cells_used();
      }
      for (auto& job : cancelled) finish(*job, FinishReason::cancelled);
      if (busy_slots > 0) step();  // read without the mutex: only this thread writes it
    }
  }

  // Moves queued jobs into free slots, each to the free slot sharing the longest cached prefix with its prompt.
  // Touches the Context (remove) under the mutex: cheap, and only the worker uses the Context.
  void admit_locked() {
    const auto now = Clock::now();
    while (!queue.empty() && busy_slots < options.n_parallel) {
      std::unique_ptr<Job> job = std::move(queue.front());
      queue.pop_front();
      const std::vector<int32_t>& prompt = job->request.prompt;
      const auto shared_prefix = [&](const Slot& slot) {
        const size_t limit = std::min(slot.cached.size(), prompt.size());
        return static_cast<size_t>(
            std::mismatch(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(limit), slot.cached.begin()).first -
            prompt.begin());
      };
      Slot* best = nullptr;
      size_t best_shared = 0;
      for (Slot& slot : slots) {
        if (slot.job) continue;
        const size_t shared = shared_prefix(slot);
        // Among equal prefixes, the slot caching the fewest tokens: what the others hold may serve a later request.
        if (!best || shared > best_shared || (shared == best_shared && slot.cached.size() < best->cached.size())) {
          best = &slot;
          best_shared = shared;
        }
      }
      // Another slot, busy or not, may hold a longer prefix (a system prompt many requests share): its cells are
      // copied in, the same bits, rather than computed again.
      const Slot* donor = nullptr;
      size_t donor_shared = best_shared;
      for (const Slot& slot : slots) {
        if (&slot == best) continue;
        const size_t shared = shared_prefix(slot);
        if (shared > donor_shared) {
          donor = &slot;
          donor_shared = shared;
        }
      }
      // The last prompt token is always decoded again: its logits give the first generated token.
      const size_t reused = std::min(donor ? donor_shared : best_shared, prompt.size() - 1);
      if (donor != nullptr && reused > best_shared) {
        context.remove(best->seq_id, 0, -1);
        context.copy_prefix(donor->seq_id, best->seq_id, static_cast<int32_t>(reused));
        best->cached.assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(reused));
      } else {
        context.remove(best->seq_id, static_cast<int32_t>(reused), -1);
        best->cached.resize(reused);
      }
      job->prompt_done = reused;
      job->result.cached_tokens = static_cast<int32_t>(reused);
      job->result.queue_ms = ms_between(job->submitted, now);
      counters.prompt_tokens += prompt.size();
      counters.cached_tokens += reused;
      best->job = std::move(job);
      ++busy_slots;
    }
  }

  // What one slot puts into a step: its last sampled token (generating) or the next `n_prompt` prompt tokens.
  struct Part {
    Slot* slot;
    size_t n_prompt = 0;
  };

  // One batched forward pass over every busy slot: the generating ones first, then prompt chunks filling the rest
  // of n_batch, oldest request first (at least one token, so that prompts always advance).
  void step() {
    std::vector<Part> parts;
    std::vector<Slot*> prefilling;
    for (Slot& slot : slots) {
      if (!slot.job) continue;
      if (slot.job->generating) {
        parts.push_back({&slot});
      } else {
        prefilling.push_back(&slot);
      }
    }
    std::sort(prefilling.begin(), prefilling.end(), [](Slot* a, Slot* b) { return a->job->id < b->job->id; });
    int64_t budget = std::max<int64_t>(options.n_batch - static_cast<int64_t>(parts.size()), 1);
    for (Slot* slot : prefilling) {
      if (budget == 0) break;
      const Job& job = *slot->job;
      const size_t n = std::min(static_cast<size_t>(budget), job.request.prompt.size() - job.prompt_done);
      parts.push_back({slot, n});
      budget -= static_cast<int64_t>(n);
    }
    run_parts(parts);
  }

  // Decodes the parts in one batch, then samples for each slot that got logits. When the pass fails, each part is
  // tried again on its own, so that only the requests whose own tokens fail (e.g. a prompt meeting broken weights)
  // end with an error; the Context's batch invariance makes the retried ones' results the same bits.
  void run_parts(const std::vector<Part>& parts) {
    Batch batch;
    std::vector<std::pair<Slot*, size_t>> outputs;  // slot, index of its logits in the batch
    for (const Part& part : parts) {
      const Slot& slot = *part.slot;
      const Job& job = *slot.job;
      const auto pos = static_cast<int32_t>(slot.cached.size());
      if (job.generating) {
        outputs.emplace_back(part.slot, batch.size());
        batch.add(job.last_token, pos, slot.seq_id, true);
        continue;
      }
      for (size_t i = 0; i < part.n_prompt; ++i) {
        const bool last = job.prompt_done + i + 1 == job.request.prompt.size();
        if (last) outputs.emplace_back(part.slot, batch.size());
        batch.add(job.request.prompt[job.prompt_done + i], pos + static_cast<int32_t>(i), slot.seq_id, last);
      }
    }

    try {
      context.decode(batch);
    } catch (const std::exception& e) {
      // Earlier passes of a split batch (and the logits check, which comes after them) leave tokens stored.
      for (const Part& part : parts) {
        context.remove(part.slot->seq_id, static_cast<int32_t>(part.slot->cached.size()), -1);
      }
      if (parts.size() > 1) {
        for (const Part& part : parts) run_parts({part});
        return;
      }
      Slot& slot = *parts.front().slot;
      std::unique_ptr<Job> failed = std::move(slot.job);
      count_step(1, 0);
      failed->result.error = e.what();
      finish(*failed, FinishReason::error);
      return;
    }

    for (const Part& part : parts) {
      Slot& slot = *part.slot;
      Job& job = *slot.job;
      if (job.generating) {
        slot.cached.push_back(job.last_token);
        continue;
      }
      const auto chunk = job.request.prompt.begin() + static_cast<std::ptrdiff_t>(job.prompt_done);
      slot.cached.insert(slot.cached.end(), chunk, chunk + static_cast<std::ptrdiff_t>(part.n_prompt));
      job.prompt_done += part.n_prompt;
    }

    std::vector<std::pair<Slot*, FinishReason>> ended;
    for (const auto& [slot, index] : outputs) {
      Job& job = *slot->job;
      job.generating = true;
      if (const std::optional<FinishReason> reason = emit_token(job, context.logits(index))) ended.emplace_back(slot, *reason);
    }
    // The step's counts are published before any of its requests is seen to finish (shutdown() returns once the
    // last one has, and its stats must include that request's tokens).
    count_step(static_cast<int32_t>(ended.size()), outputs.size());
    for (const auto& [slot, reason] : ended) {
      finish(*slot->job, reason);
      slot->job.reset();
    }
  }

  // Samples the job's next token and delivers its event. Returns the finish reason when it ends the generation
  // (the caller then calls finish()).
  std::optional<FinishReason> emit_token(Job& job, std::span<const float> logits) {
    NextToken next;
    try {
      next = next_token(job, logits, model->tokenizer());
    } catch (const std::exception& e) {  // the sampler cannot draw, or the request's logits processor failed
      job.result.error = e.what();
      return FinishReason::error;
    }
    deliver(job, [&] { job.sink->on_token(std::move(next.event)); });
    return next.finish;
  }

  // Calls a sink; a sink that throws has its request cancelled (the worker must keep serving the others).
  void deliver(Job& job, const std::function<void()>& call) {
    try {
      call();
    } catch (...) {
      std::lock_guard lock(mutex);
      cancel_asked.insert(job.id);
    }
  }

  // Publishes a forward pass: `finished` slots freed, `generated` tokens sampled.
  void count_step(int32_t finished, uint64_t generated) {
    std::lock_guard lock(mutex);
    busy_slots -= finished;
    counters.busy_slots = busy_slots;
    counters.generated_tokens += generated;
    counters.steps += 1;
    counters.kv_cells_used = context.n_cells_used();
  }

  // Gives the job's sink on_finished and forgets the job.
  void finish(Job& job, FinishReason reason) {
    job.result.reason = reason;
    job.result.duration_ms = ms_between(job.submitted, Clock::now());
    try {
      job.sink->on_finished(std::move(job.result));
    } catch (...) {
      // Nothing is left to tell this request; the others must go on.
    }
    std::lock_guard lock(mutex);
    live.erase(job.id);
    cancel_asked.erase(job.id);
    if (live.empty()) all_done.notify_all();
  }
};

Scheduler::Scheduler(std::shared_ptr<const Model> model, const SchedulerOptions& options)
    : impl_(std::make_unique<Impl>(std::move(model), options)) {}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->accepting = false;
    impl_->stopping = true;
    impl_->cancel_asked = impl_->live;
  }
  impl_->work_ready.notify_all();
  impl_->worker.join();
}

Scheduler::RequestId Scheduler::submit(GenerationRequest request, std::shared_ptr<GenerationSink> sink) {
  const bool request_has_grammar = request.grammar.has_value() || request.triggered_grammar.has_value();
  const bool show_special = request.show_special_tokens;
  std::unique_ptr<Job> job = runtime::make_job(std::move(request), std::move(sink), *impl_->model,
                                               impl_->options.slot_context, impl_->end_of_generation_tokens,
                                               request_has_grammar ? impl_->grammar_vocabulary(show_special) : nullptr);
  {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->accepting) throw ShuttingDownError("the scheduler is shutting down");
    // Queued requests that a free slot will take at the next step are not waiting.
    const size_t free_slots = static_cast<size_t>(impl_->options.n_parallel - impl_->busy_slots);
    if (impl_->queue.size() >= static_cast<size_t>(impl_->options.max_queue) + free_slots) {
      throw QueueFullError(fmt::format("{} requests are already waiting for a slot",
                                       impl_->queue.size() - std::min(impl_->queue.size(), free_slots)));
    }
    job->id = impl_->next_id++;
    impl_->live.insert(job->id);
    impl_->queue.push_back(std::move(job));
    impl_->counters.queue_depth = static_cast<int32_t>(impl_->queue.size());
    impl_->work_ready.notify_one();
    return impl_->next_id - 1;
  }
}

void Scheduler::cancel(RequestId id) {
  {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->live.contains(id)) return;
    impl_->cancel_asked.insert(id);
  }
  impl_->work_ready.notify_one();
}

void Scheduler::shutdown(std::chrono::milliseconds grace) {
  std::unique_lock lock(impl_->mutex);
  impl_->accepting = false;
  if (!impl_->all_done.wait_for(lock, grace, [&] { return impl_->live.empty(); })) {
    impl_->cancel_asked = impl_->live;
    impl_->work_ready.notify_one();
    impl_->all_done.wait(lock, [&] { return impl_->live.empty(); });
  }
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->counters;
}

int32_t Scheduler::slot_context() const { return impl_->options.slot_context; }
const Model& Scheduler::model() const { return *impl_->model; }
MemoryReport Scheduler::memory() const { return impl_->memory; }
const ContextPlan& Scheduler::plan() const { return impl_->context.plan(); }

ContextOptions Scheduler::context_options(const Model& model, const SchedulerOptions& options) {
  return Scheduler::Impl::context_options(Scheduler::Impl::resolve(model, options));
}

}  // namespace hearth
