// One request inside the Scheduler: checked and prepared when it is submitted, then turned from rows of logits
// into tokens, text and events. Knows nothing of slots, batches or threads (scheduler.cpp does).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "hearth/model.h"
#include "hearth/sampling.h"
#include "hearth/scheduler.h"
#include "hearth/tokenizer.h"

namespace hearth::runtime {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point from, Clock::time_point to);

struct Job {
  Scheduler::RequestId id = 0;
  GenerationRequest request;
  std::shared_ptr<GenerationSink> sink;
  Clock::time_point submitted;
  sampling::Sampler sampler;
  sampling::GenerationStop stop;
  tokenizer::StreamingDetokenizer detokenizer;

  size_t prompt_done = 0;   // prompt tokens in the slot's cache (reused or decoded)
  bool generating = false;  // the prompt is decoded; `last_token` is the next one to decode
  int32_t last_token = 0;
  GenerationResult result{};
};

// Everything that can be refused is refused here, before the request is queued: std::invalid_argument (empty
// prompt, ids outside the vocabulary, max_tokens < 1, top_logprobs outside 0..20, a bad logit bias or stop string),
// ContextFullError (prompt + max_tokens > slot_context). `end_of_generation` lists the tokens ignore_eos bans.
// `vocabulary` (needed only with a grammar) is the model's, shared by every constrained request.
std::unique_ptr<Job> make_job(GenerationRequest request, std::shared_ptr<GenerationSink> sink, const Model& model,
                              int32_t slot_context, std::span<const int32_t> end_of_generation,
                              std::shared_ptr<const grammar::Vocabulary> vocabulary);

struct NextToken {
  GenerationEvent event;
  std::optional<FinishReason> finish;  // set when this token ends the generation (job.result.text then holds the rest)
};
// Samples the job's next token from its logits row, with logprobs when asked, and runs the stop rules.
// Throws sampling::SamplingError when the sampler cannot draw (every candidate banned).
NextToken next_token(Job& job, std::span<const float> logits, const tokenizer::Tokenizer& tokenizer);

}  // namespace hearth::runtime
