#include "runtime/scheduler_job.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "hearth/context.h"

namespace hearth::runtime {
namespace {

constexpr int32_t kMaxTopLogprobs = 20;

// log-softmax over one row of logits: the maximum and log-sum-exp are computed once, each token's value on demand.
struct LogSoftmax {
  explicit LogSoftmax(std::span<const float> logits) {
    max = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (const float logit : logits) sum += std::exp(static_cast<double>(logit) - max);
    log_sum = std::log(sum);
  }
  float operator()(float logit) const { return static_cast<float>(static_cast<double>(logit) - max - log_sum); }
  double max = 0;
  double log_sum = 0;
};

// The `n` most probable tokens, most probable first (ties: lower id first, as the sampler orders them).
std::vector<TokenLogprob> top_logprobs(std::span<const float> logits, const LogSoftmax& log_softmax, int32_t n) {
  std::vector<int32_t> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  const auto k = static_cast<std::ptrdiff_t>(std::min(ids.size(), static_cast<size_t>(n)));
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  std::vector<TokenLogprob> top;
  for (std::ptrdiff_t i = 0; i < k; ++i) top.push_back({ids[i], log_softmax(logits[ids[i]])});
  return top;
}

void check_request(const GenerationRequest& request, int32_t n_vocab, int32_t slot_context) {
  if (request.prompt.empty()) throw std::invalid_argument("the prompt is empty");
  for (const int32_t token : request.prompt) {
    if (token < 0 || token >= n_vocab) {
      throw std::invalid_argument(fmt::format("prompt token {} is outside the vocabulary of {} tokens", token, n_vocab));
    }
  }
  if (request.max_tokens < 1) {
    throw std::invalid_argument(fmt::format("max_tokens must be at least 1, not {}", request.max_tokens));
  }
  if (request.top_logprobs < 0 || request.top_logprobs > kMaxTopLogprobs) {
    throw std::invalid_argument(
        fmt::format("top_logprobs must be in 0..{}, not {}", kMaxTopLogprobs, request.top_logprobs));
  }
  for (const auto& [token, bias] : request.sampling.logit_bias) {
    if (token < 0 || token >= n_vocab) {
      throw std::invalid_argument(
          fmt::format("logit bias names token {}, outside the vocabulary of {} tokens", token, n_vocab));
    }
    if (std::isnan(bias)) throw std::invalid_argument(fmt::format("logit bias for token {} is NaN", token));
  }
  for (const std::string& stop : request.stop) {
    if (stop.empty()) throw std::invalid_argument("a stop string is empty");
  }
  const int64_t needed = static_cast<int64_t>(request.prompt.size()) + request.max_tokens;
  if (needed > slot_context) {
    throw ContextFullError(fmt::format("the prompt ({} tokens) and max_tokens ({}) need {} tokens, but a slot holds {}",
                                       request.prompt.size(), request.max_tokens, needed, slot_context));
  }
}

}  // namespace

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

std::unique_ptr<Job> make_job(GenerationRequest request, std::shared_ptr<GenerationSink> sink, const Model& model,
                              int32_t slot_context, std::span<const int32_t> end_of_generation,
                              std::shared_ptr<const grammar::Vocabulary> vocabulary) {
  if (!sink) throw std::invalid_argument("the sink is null");
  const tokenizer::Tokenizer& tok = model.tokenizer();
  check_request(request, static_cast<int32_t>(model.info().n_vocab), slot_context);
  if (request.ignore_eos) sampling::ban_tokens(request.sampling, end_of_generation);
  if (request.top_logprobs > 0) request.logprobs = true;

  sampling::Sampler sampler(request.sampling);
  // As llama.cpp (and `hearth run`) do: the prompt counts for the repetition penalties.
  for (const int32_t token : request.prompt) sampler.accept(token);
  if (request.grammar || request.triggered_grammar) {
    if (request.ignore_eos) throw std::invalid_argument("ignore_eos cannot be combined with a grammar");
    if (request.grammar && request.triggered_grammar) {
      throw std::invalid_argument("a grammar and a triggered grammar cannot be combined");
    }
    if (request.triggered_grammar && request.triggered_grammar->trigger.empty()) {
      throw std::invalid_argument("a triggered grammar needs a trigger");
    }
  }
  if (request.grammar) sampler.set_grammar(grammar::TokenConstraint(*request.grammar, vocabulary));
  const bool show_special = request.show_special_tokens;
  sampling::GenerationStop stop([tok](int32_t id) { return tok.is_eog(id); }, request.stop,
                                static_cast<size_t>(request.max_tokens));
  auto job = std::make_unique<Job>(Job{.request = std::move(request),
                                       .sink = std::move(sink),
                                       .submitted = Clock::now(),
                                       .sampler = std::move(sampler),
                                       .stop = std::move(stop),
                                       .detokenizer = tokenizer::StreamingDetokenizer(tok, show_special, false),
                                       .vocabulary = std::move(vocabulary),
                                       .watched = {},
                                       .tokens = {},
                                       .processed_logits = {}});
  job->result.prompt_tokens = static_cast<int32_t>(job->request.prompt.size());
  if (job->request.logits_processor) job->tokens = job->request.prompt;
  return job;
}

namespace {

// Switches the request's triggered grammar on where the bytes generated so far reach its trigger (the bytes after
// the trigger, in the same token, are the grammar's first), and off where its text is whole.
void follow_trigger(Job& job, int32_t token) {
  const GenerationRequest::TriggeredGrammar& triggered = *job.request.triggered_grammar;
  if (job.triggered) {
    if (job.sampler.grammar()->matcher().must_end()) {
      job.sampler.clear_grammar();
      job.triggered = false;
    }
    return;
  }
  if (!job.trigger_armed || job.vocabulary->is_end_of_generation(token)) return;
  job.watched += job.vocabulary->piece(token);
  if (triggered.at_start) {
    const std::size_t first = job.watched.find_first_not_of(" \n\t\r");
    if (first == std::string::npos) return;
    if (job.watched.size() - first < triggered.trigger.size() &&
        std::string_view(triggered.trigger).starts_with(std::string_view(job.watched).substr(first))) {
      return;  // it may still become the trigger
    }
    job.trigger_armed = job.watched.compare(first, triggered.trigger.size(), triggered.trigger) == 0;
    if (!job.trigger_armed) return;
    job.watched.erase(0, first);
    job.trigger_armed = false;  // once, at the start
  }
  const std::size_t at = job.watched.find(triggered.trigger);
  if (at == std::string::npos) {
    // Keep what may be the trigger's beginning.
    if (job.watched.size() >= triggered.trigger.size()) job.watched.erase(0, job.watched.size() - triggered.trigger.size() + 1);
    return;
  }
  grammar::TokenConstraint constraint(triggered.grammar, job.vocabulary);
  const std::string_view after = std::string_view(job.watched).substr(at + triggered.trigger.size());
  job.watched.clear();
  // Text the grammar cannot continue is no call: it stays free (and the parser will read it as content).
  if (!constraint.accept_text(after)) return;
  job.sampler.set_grammar(std::move(constraint));
  job.triggered = true;
}

}  // namespace

NextToken next_token(Job& job, std::span<const float> logits, const tokenizer::Tokenizer& tokenizer) {
  NextToken next;
  GenerationEvent& event = next.event;
  if (job.request.logits_processor) {
    job.processed_logits.assign(logits.begin(), logits.end());
    job.request.logits_processor(job.tokens, job.processed_logits);
    event.token = job.sampler.sample(job.processed_logits);
    job.tokens.push_back(event.token);
  } else {
    event.token = job.sampler.sample(logits);
  }
  job.sampler.accept(event.token);
  if (job.request.triggered_grammar) follow_trigger(job, event.token);
  job.last_token = event.token;
  ++job.result.generated_tokens;
  if (job.request.logprobs) {
    const LogSoftmax log_softmax(logits);
    event.logprob = TokenLogprob{event.token, log_softmax(logits[static_cast<size_t>(event.token)])};
    if (job.request.top_logprobs > 0) event.top = top_logprobs(logits, log_softmax, job.request.top_logprobs);
  }
  // An end-of-generation token's text is never shown.
  const std::string piece = tokenizer.is_eog(event.token) ? std::string() : job.detokenizer.push(event.token);
  sampling::GenerationStop::Step stop_step = job.stop.on_token(event.token, piece);
  event.text = std::move(stop_step.text);
  if (job.result.generated_tokens == 1) job.result.time_to_first_token_ms = ms_between(job.submitted, Clock::now());
  switch (stop_step.reason) {
    case sampling::StopReason::none: break;
    case sampling::StopReason::stop_string: next.finish = FinishReason::stop; break;
    case sampling::StopReason::end_of_generation:
      job.result.text = job.detokenizer.finish();  // an incomplete UTF-8 character, as is
      next.finish = FinishReason::stop;
      break;
    case sampling::StopReason::max_tokens:
      job.result.text = job.detokenizer.finish();
      next.finish = FinishReason::length;
      break;
  }
  return next;
}

}  // namespace hearth::runtime
