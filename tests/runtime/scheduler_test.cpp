// Scheduler: a request gives the tokens a plain generation loop gives, alone or among others joining at any time
// with chunked prompts; prefix reuse skips exactly the shared prefix without changing a token; cancel, queue
// limits, validation, stop strings, max_tokens, logprobs, shutdown and the destructor behave as the header says.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "hearth/context.h"
#include "hearth/json_schema.h"
#include "hearth/model.h"
#include "hearth/sampling.h"
#include "hearth/scheduler.h"
#include "model/temp_dir.h"
#include "model/tiny_model.h"
#include "support/shared_data.h"

namespace hearth {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<const Model> demo_model() {
  static const std::shared_ptr<const Model> model =
      Model::load(test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf");
  return model;
}

std::vector<int32_t> demo_tokens(const std::string& text) {
  return demo_model()->tokenizer().tokenize(text, true, false);
}

// Records what a request delivers; wait() blocks until on_finished.
class RecordingSink : public GenerationSink {
 public:
  std::function<void(const GenerationEvent&)> on_each_token;  // called inside on_token, e.g. to cancel

  void on_token(GenerationEvent event) override {
    if (on_each_token) on_each_token(event);
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
    changed_.notify_all();
  }
  void on_finished(GenerationResult result) override {
    std::lock_guard lock(mutex_);
    ++finished_count_;
    result_ = std::move(result);
    changed_.notify_all();
  }

  GenerationResult wait() {
    std::unique_lock lock(mutex_);
    EXPECT_TRUE(changed_.wait_for(lock, 30s, [&] { return finished_count_ > 0; })) << "the request never finished";
    return result_;
  }
  void wait_for_tokens(size_t n) {
    std::unique_lock lock(mutex_);
    EXPECT_TRUE(changed_.wait_for(lock, 30s, [&] { return events_.size() >= n || finished_count_ > 0; }));
  }
  std::vector<int32_t> tokens() const {
    std::lock_guard lock(mutex_);
    std::vector<int32_t> out;
    for (const auto& event : events_) out.push_back(event.token);
    return out;
  }
  std::string text() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& event : events_) out += event.text;
    return out + result_.text;
  }
  std::vector<GenerationEvent> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  int finished_count() const {
    std::lock_guard lock(mutex_);
    return finished_count_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<GenerationEvent> events_;
  GenerationResult result_;
  int finished_count_ = 0;
};

sampling::SamplingParams greedy() {
  sampling::SamplingParams params;
  params.temperature = 0;
  return params;
}

sampling::SamplingParams seeded(uint64_t seed) {
  sampling::SamplingParams params;
  params.temperature = 1.0f;
  params.seed = seed;
  return params;
}

GenerationRequest request(const std::string& prompt, int32_t max_tokens, sampling::SamplingParams params = greedy()) {
  GenerationRequest r;
  r.prompt = demo_tokens(prompt);
  r.max_tokens = max_tokens;
  r.sampling = std::move(params);
  return r;
}

// The reference: one sequence in a plain Context, the prompt in one batch, then token by token, as `hearth run`.
struct Alone {
  std::vector<int32_t> tokens;
  std::string text;
  std::vector<std::vector<float>> logits;  // the row each token was sampled from
};

Alone generate_alone(const GenerationRequest& r, const std::shared_ptr<const Model>& model = demo_model()) {
  const tokenizer::Tokenizer& tok = model->tokenizer();
  Context ctx(model, {.n_ctx = 256, .n_threads = 2});
  sampling::Sampler sampler(r.sampling);
  for (const int32_t token : r.prompt) sampler.accept(token);
  Batch batch;
  for (size_t i = 0; i < r.prompt.size(); ++i) batch.add(r.prompt[i], static_cast<int32_t>(i), 0, i + 1 == r.prompt.size());
  ctx.decode(batch);
  size_t index = r.prompt.size() - 1;
  Alone out;
  tokenizer::StreamingDetokenizer detokenizer(tok, false, false);
  for (int32_t n = 0; n < r.max_tokens; ++n) {
    const auto logits = ctx.logits(index);
    out.logits.emplace_back(logits.begin(), logits.end());
    const int32_t token = sampler.sample(logits);
    sampler.accept(token);
    out.tokens.push_back(token);
    if (tok.is_eog(token)) break;
    out.text += detokenizer.push(token);
    batch.clear();
    batch.add(token, static_cast<int32_t>(r.prompt.size()) + n, 0, true);
    ctx.decode(batch);
    index = 0;
  }
  out.text += detokenizer.finish();
  return out;
}

SchedulerOptions small_options(int32_t n_parallel = 4, int32_t n_batch = 512) {
  return {.n_parallel = n_parallel, .slot_context = 128, .n_batch = n_batch, .max_queue = 64, .n_threads = 2};
}

// Polls until `condition` holds (stats change on the worker thread).
bool eventually(const std::function<bool()>& condition) {
  for (int i = 0; i < 3000; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

TEST(Scheduler, OneGreedyRequestEqualsAPlainGenerationLoop) {
  Scheduler scheduler(demo_model(), small_options());
  const GenerationRequest r = request("The Python interpreter reads a script and", 24);
  const Alone alone = generate_alone(r);
  auto sink = std::make_shared<RecordingSink>();
  scheduler.submit(r, sink);
  const GenerationResult result = sink->wait();
  EXPECT_EQ(sink->tokens(), alone.tokens);
  EXPECT_EQ(sink->text(), alone.text);
  EXPECT_EQ(result.prompt_tokens, static_cast<int32_t>(r.prompt.size()));
  EXPECT_EQ(result.cached_tokens, 0);
  EXPECT_EQ(result.generated_tokens, static_cast<int32_t>(alone.tokens.size()));
  EXPECT_EQ(result.reason, alone.tokens.size() == 24u ? FinishReason::length : FinishReason::stop);
  EXPECT_EQ(sink->finished_count(), 1);
  EXPECT_GE(result.duration_ms, result.time_to_first_token_ms);
  EXPECT_GE(result.time_to_first_token_ms, result.queue_ms);
}

const char* const kPrompts[8] = {"Debian packages are managed with", "A list comprehension builds",
                                 "import os", "The Python interpreter reads a script and runs it line by line, so",
                                 "apt-get install", "def main():", "Unit tests check that", "A dictionary maps keys to"};

std::vector<GenerationRequest> eight_requests() {
  std::vector<GenerationRequest> requests;
  for (int i = 0; i < 8; ++i) {
    requests.push_back(request(kPrompts[i], 10 + i, i % 2 == 0 ? greedy() : seeded(100 + i)));
  }
  return requests;
}

// Runs the eight requests through `scheduler`, submitting request i after `delay(i)` tokens of request 0 were seen.
void expect_each_as_alone(Scheduler& scheduler, const std::vector<size_t>& join_after_tokens) {
  const std::vector<GenerationRequest> requests = eight_requests();
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (size_t i = 0; i < requests.size(); ++i) {
    sinks.push_back(std::make_shared<RecordingSink>());
    if (i > 0 && join_after_tokens[i] > 0) sinks[0]->wait_for_tokens(join_after_tokens[i]);
    scheduler.submit(requests[i], sinks[i]);
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    sinks[i]->wait();
    const Alone alone = generate_alone(requests[i]);
    EXPECT_EQ(sinks[i]->tokens(), alone.tokens) << "request " << i;
    EXPECT_EQ(sinks[i]->text(), alone.text) << "request " << i;
  }
}

TEST(Scheduler, EightConcurrentRequestsGiveTheTokensTheyGiveAlone) {
  Scheduler scheduler(demo_model(), small_options(8));
  expect_each_as_alone(scheduler, std::vector<size_t>(8, 0));
  EXPECT_EQ(scheduler.stats().generated_tokens, 0u + 10 + 11 + 12 + 13 + 14 + 15 + 16 + 17)
      << "unless a request ended early with an end-of-generation token";
  EXPECT_LT(scheduler.stats().steps, 40u) << "the requests share steps";
}

TEST(Scheduler, RequestsJoiningBetweenStepsWithChunkedPromptsGiveTheSameTokens) {
  // Four slots for eight requests (some wait in the queue), prompts cut into chunks of at most 5 - generating slots.
  Scheduler scheduler(demo_model(), small_options(4, 5));
  expect_each_as_alone(scheduler, {0, 1, 2, 2, 4, 5, 7, 9});
  EXPECT_EQ(scheduler.stats().busy_slots, 0);
  EXPECT_EQ(scheduler.stats().queue_depth, 0);
}

TEST(Scheduler, ASharedPrefixIsReusedWithoutChangingTheTokens) {
  Scheduler scheduler(demo_model(), small_options(1));
  const GenerationRequest first = request("The Python interpreter reads a script and runs it", 6);
  auto first_sink = std::make_shared<RecordingSink>();
  scheduler.submit(first, first_sink);
  EXPECT_EQ(first_sink->wait().cached_tokens, 0);

  GenerationRequest second = request("The Python interpreter reads a file", 8);
  const size_t shared = static_cast<size_t>(
      std::mismatch(second.prompt.begin(), second.prompt.end(), first.prompt.begin()).first - second.prompt.begin());
  ASSERT_GT(shared, 3u);
  ASSERT_LT(shared, second.prompt.size());
  auto second_sink = std::make_shared<RecordingSink>();
  scheduler.submit(second, second_sink);
  const GenerationResult result = second_sink->wait();
  EXPECT_EQ(result.cached_tokens, static_cast<int32_t>(shared));
  EXPECT_EQ(second_sink->tokens(), generate_alone(second).tokens);

  // The same prompt again: all but the last token come from the cache.
  auto third_sink = std::make_shared<RecordingSink>();
  scheduler.submit(second, third_sink);
  EXPECT_EQ(third_sink->wait().cached_tokens, static_cast<int32_t>(second.prompt.size()) - 1);
  EXPECT_EQ(third_sink->tokens(), second_sink->tokens());
  EXPECT_EQ(scheduler.stats().cached_tokens, shared + second.prompt.size() - 1);
}

TEST(Scheduler, APrefixAnotherSlotHoldsIsCopiedNotComputed) {
  Scheduler scheduler(demo_model(), small_options(2));
  // A long shared "system prompt", then different questions; the first request is still generating when the
  // second arrives, so the second's slot gets the prefix from the busy one.
  const std::string system = "You are a helpful assistant who answers questions about Python and Debian packages.";
  GenerationRequest first = request(system + " What is pip?", 40);
  first.ignore_eos = true;
  const GenerationRequest second = request(system + " What is apt?", 8);
  const size_t shared = static_cast<size_t>(
      std::mismatch(second.prompt.begin(), second.prompt.end(), first.prompt.begin()).first - second.prompt.begin());
  ASSERT_GT(shared, 10u);
  auto first_sink = std::make_shared<RecordingSink>();
  scheduler.submit(first, first_sink);
  while (first_sink->tokens().empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto second_sink = std::make_shared<RecordingSink>();
  scheduler.submit(second, second_sink);
  const GenerationResult result = second_sink->wait();
  EXPECT_EQ(result.cached_tokens, static_cast<int32_t>(shared));
  EXPECT_EQ(second_sink->tokens(), generate_alone(second).tokens);
  first_sink->wait();
  EXPECT_EQ(first_sink->tokens(), generate_alone(first).tokens);
}

TEST(Scheduler, ARequestGoesToTheSlotWithTheLongestSharedPrefix) {
  Scheduler scheduler(demo_model(), small_options(2));
  // Without the BOS every prompt starts with, so that `a` and `b` share nothing.
  const auto without_bos = [](GenerationRequest r) {
    r.prompt.erase(r.prompt.begin());
    return r;
  };
  const GenerationRequest a = without_bos(request("Debian packages are managed with apt", 4));
  const GenerationRequest b = without_bos(request("A list comprehension builds a new list", 4));
  for (const auto& r : {a, b}) {
    auto sink = std::make_shared<RecordingSink>();
    scheduler.submit(r, sink);
    sink->wait();
  }
  const GenerationRequest again = without_bos(request("A list comprehension builds a new list from", 4));
  auto sink = std::make_shared<RecordingSink>();
  scheduler.submit(again, sink);
  EXPECT_EQ(sink->wait().cached_tokens, static_cast<int32_t>(b.prompt.size()));
  EXPECT_EQ(sink->tokens(), generate_alone(again).tokens);
  // `b` went to the empty slot rather than evict `a`, whose prompt is still cached.
  auto a_again = std::make_shared<RecordingSink>();
  scheduler.submit(a, a_again);
  EXPECT_EQ(a_again->wait().cached_tokens, static_cast<int32_t>(a.prompt.size()) - 1);
  EXPECT_EQ(a_again->tokens(), generate_alone(a).tokens);
}

TEST(Scheduler, CancelFreesTheSlotForAQueuedRequest) {
  Scheduler scheduler(demo_model(), small_options(1));
  GenerationRequest long_one = request("Debian packages are managed with", 100);
  long_one.ignore_eos = true;
  auto running = std::make_shared<RecordingSink>();
  const auto id = scheduler.submit(long_one, running);
  running->wait_for_tokens(2);
  auto queued = std::make_shared<RecordingSink>();
  scheduler.submit(request("import os", 3), queued);
  EXPECT_TRUE(eventually([&] { return scheduler.stats().queue_depth == 1; }));
  EXPECT_EQ(scheduler.stats().busy_slots, 1);
  scheduler.cancel(id);
  EXPECT_EQ(running->wait().reason, FinishReason::cancelled);
  EXPECT_LT(running->tokens().size(), 100u);
  EXPECT_NE(queued->wait().reason, FinishReason::cancelled);
  EXPECT_TRUE(eventually([&] { return scheduler.stats().busy_slots == 0; }));
  scheduler.cancel(id);  // finished: ignored
  scheduler.cancel(12345);
  EXPECT_EQ(running->finished_count(), 1);
}

TEST(Scheduler, CancelFromInsideOnTokenAndOfAQueuedRequest) {
  Scheduler scheduler(demo_model(), small_options(1));
  auto sink = std::make_shared<RecordingSink>();
  GenerationRequest r = request("Unit tests check that", 50);
  r.ignore_eos = true;
  Scheduler::RequestId id = 0;
  std::mutex id_mutex;
  std::unique_lock id_lock(id_mutex);  // held until `id` is known
  sink->on_each_token = [&](const GenerationEvent&) {
    std::lock_guard lock(id_mutex);
    scheduler.cancel(id);
  };
  id = scheduler.submit(r, sink);
  auto queued = std::make_shared<RecordingSink>();
  const auto queued_id = scheduler.submit(request("import os", 3), queued);
  scheduler.cancel(queued_id);
  id_lock.unlock();
  EXPECT_EQ(sink->wait().reason, FinishReason::cancelled);
  EXPECT_EQ(sink->tokens().size(), 1u) << "cancelled before the next step";
  EXPECT_EQ(queued->wait().reason, FinishReason::cancelled);
  EXPECT_TRUE(queued->tokens().empty());
  EXPECT_TRUE(eventually([&] { return scheduler.stats().busy_slots == 0; }));
  EXPECT_EQ(sink->finished_count(), 1);
  EXPECT_EQ(queued->finished_count(), 1);
}

TEST(Scheduler, MaxQueueZeroStillRunsWhatAFreeSlotTakes) {
  SchedulerOptions options = small_options(1);
  options.max_queue = 0;
  Scheduler scheduler(demo_model(), options);
  GenerationRequest long_one = request("import os", 100);
  long_one.ignore_eos = true;
  auto running = std::make_shared<RecordingSink>();
  const auto running_id = scheduler.submit(long_one, running);
  EXPECT_TRUE(eventually([&] { return scheduler.stats().busy_slots == 1; }));
  EXPECT_THROW(scheduler.submit(request("import os", 4), std::make_shared<RecordingSink>()), QueueFullError);
  scheduler.cancel(running_id);
  running->wait();
  EXPECT_TRUE(eventually([&] { return scheduler.stats().busy_slots == 0; }));
  auto next = std::make_shared<RecordingSink>();
  scheduler.submit(request("import os", 4), next);
  next->wait();
  EXPECT_EQ(next->finished_count(), 1);
}

TEST(Scheduler, RefusesWhatItCannotRun) {
  SchedulerOptions options = small_options(1);
  options.max_queue = 1;
  Scheduler scheduler(demo_model(), options);
  const auto sink = std::make_shared<RecordingSink>();
  GenerationRequest bad = request("import os", 4);
  bad.prompt.push_back(demo_model()->tokenizer().vocab_size());
  EXPECT_THROW(scheduler.submit(bad, sink), std::invalid_argument);
  bad = request("import os", 4);
  bad.prompt.clear();
  EXPECT_THROW(scheduler.submit(bad, sink), std::invalid_argument);
  EXPECT_THROW(scheduler.submit(request("import os", 0), sink), std::invalid_argument);
  bad = request("import os", 4);
  bad.top_logprobs = 21;
  EXPECT_THROW(scheduler.submit(bad, sink), std::invalid_argument);
  bad = request("import os", 4);
  bad.sampling.logit_bias[-1] = 1.0f;
  EXPECT_THROW(scheduler.submit(bad, sink), std::invalid_argument);
  const GenerationRequest fits = request("import os", 4);
  EXPECT_THROW(scheduler.submit(request("import os", 128 - static_cast<int32_t>(fits.prompt.size()) + 1), sink),
               ContextFullError);
  EXPECT_EQ(scheduler.stats().queue_depth, 0);

  GenerationRequest long_one = request("import os", 100);
  long_one.ignore_eos = true;
  auto running = std::make_shared<RecordingSink>();
  const auto running_id = scheduler.submit(long_one, running);
  EXPECT_TRUE(eventually([&] { return scheduler.stats().busy_slots == 1; }));
  auto waiting = std::make_shared<RecordingSink>();
  scheduler.submit(fits, waiting);
  EXPECT_THROW(scheduler.submit(fits, std::make_shared<RecordingSink>()), QueueFullError);
  scheduler.cancel(running_id);
  waiting->wait();
  EXPECT_EQ(sink->finished_count(), 0) << "a refused request never reaches its sink";
}

TEST(Scheduler, TextStopsBeforeTheFirstStopString) {
  Scheduler scheduler(demo_model(), small_options(2));
  GenerationRequest r = request("The Python interpreter reads a script and", 24);
  r.ignore_eos = true;
  const Alone alone = generate_alone(r);
  ASSERT_GT(alone.text.size(), 12u);
  const std::string stop = alone.text.substr(alone.text.size() / 2, 3);
  r.stop = {"no such stop string", stop};
  auto sink = std::make_shared<RecordingSink>();
  scheduler.submit(r, sink);
  const GenerationResult result = sink->wait();
  EXPECT_EQ(result.reason, FinishReason::stop);
  EXPECT_EQ(sink->text(), alone.text.substr(0, alone.text.find(stop)));
  EXPECT_LT(sink->tokens().size(), alone.tokens.size());
  const std::vector<int32_t> expected(alone.tokens.begin(), alone.tokens.begin() + sink->tokens().size());
  EXPECT_EQ(sink->tokens(), expected);
}

TEST(Scheduler, MaxTokensEndsWithReasonLength) {
  Scheduler scheduler(demo_model(), small_options(2));
  GenerationRequest r = request("def main():", 5, seeded(7));
  r.ignore_eos = true;
  auto sink = std::make_shared<RecordingSink>();
  scheduler.submit(r, sink);
  const GenerationResult result = sink->wait();
  EXPECT_EQ(result.reason, FinishReason::length);
  EXPECT_EQ(result.generated_tokens, 5);
  EXPECT_EQ(sink->tokens().size(), 5u);
  EXPECT_EQ(finish_reason_name(result.reason), "length");
}

TEST(Scheduler, IgnoreEosNeverGivesAnEndOfGenerationToken) {
  Scheduler scheduler(demo_model(), small_options(2));
  GenerationRequest r = request("A list comprehension builds", 60, seeded(3));
  r.sampling.temperature = 1.5f;
  r.ignore_eos = true;
  auto sink = std::make_shared<RecordingSink>();
  scheduler.submit(r, sink);
  EXPECT_EQ(sink->wait().reason, FinishReason::length);
  for (const int32_t token : sink->tokens()) EXPECT_FALSE(demo_model()->tokenizer().is_eog(token));
}

TEST(Scheduler, AGrammarShapesOnlyItsOwnRequest) {
  Scheduler scheduler(demo_model(), small_options(2));
  const grammar::Grammar schema = grammar::json_schema_grammar(
      R"({"type": "object", "properties": {"answer": {"enum": ["yes", "no"]}, "n": {"type": "integer", "minimum": 1,
          "maximum": 9}}, "required": ["answer", "n"], "additionalProperties": false})",
      {.whitespace = grammar::JsonWhitespace::compact});
  std::vector<std::shared_ptr<RecordingSink>> constrained, free;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    GenerationRequest r = request("Answer in JSON:", 40, seeded(seed));
    r.sampling.temperature = 1.2f;
    GenerationRequest plain = r;
    r.grammar = schema;
    constrained.push_back(std::make_shared<RecordingSink>());
    free.push_back(std::make_shared<RecordingSink>());
    scheduler.submit(r, constrained.back());
    scheduler.submit(plain, free.back());
  }
  for (size_t i = 0; i < constrained.size(); ++i) {
    const GenerationResult result = constrained[i]->wait();
    EXPECT_EQ(result.reason, FinishReason::stop) << constrained[i]->text();  // the grammar ends it: {"answer":"no","n":3}
    const std::string text = constrained[i]->text() + result.text;
    grammar::Matcher matcher(schema);
    EXPECT_TRUE(matcher.accept(text) && matcher.can_end()) << text;
    const nlohmann::json value = nlohmann::json::parse(text);
    EXPECT_TRUE(value["answer"] == "yes" || value["answer"] == "no") << text;
    EXPECT_GE(value["n"].get<int>(), 1);
    EXPECT_LE(value["n"].get<int>(), 9);
    // Beside it, the same request without the grammar is not bent by it (the demo model writes no such JSON).
    const std::string rest = free[i]->wait().text;  // first: the operands of + may be read in either order
    const std::string plain = free[i]->text() + rest;
    EXPECT_FALSE(plain.starts_with("{\"answer\"")) << plain;
  }
  GenerationRequest both = request("x", 4);
  both.grammar = schema;
  both.ignore_eos = true;
  EXPECT_THROW(scheduler.submit(both, std::make_shared<RecordingSink>()), std::invalid_argument);
}

// A triggered grammar is off until the text reaches its trigger, holds the text after it, and lets go where its
// language is whole; then the text is free again.
TEST(Scheduler, ATriggeredGrammarHoldsOnlyTheTextAfterItsTrigger) {
  Scheduler scheduler(demo_model(), small_options(1));
  // The greedy reply's first two tokens (which ones depends on the build's float orders) serve as triggers.
  GenerationRequest plain = request("The Python interpreter", 24);
  const auto free = std::make_shared<RecordingSink>();
  scheduler.submit(plain, free);
  const std::string free_rest = free->wait().text;  // before text(): it must read the finished generation
  const std::string free_text = free->text() + free_rest;
  const tokenizer::Tokenizer& tok = demo_model()->tokenizer();
  ASSERT_GE(free->tokens().size(), 2u);
  const std::string first = tok.token_to_piece(free->tokens()[0], false);
  const std::string second = tok.token_to_piece(free->tokens()[1], false);
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  ASSERT_TRUE(free_text.starts_with(first + second)) << free_text;

  GenerationRequest held = plain;
  held.triggered_grammar = GenerationRequest::TriggeredGrammar{first, grammar::Grammar::parse(R"(root ::= " ALPHA BETA")")};
  const auto sink = std::make_shared<RecordingSink>();
  scheduler.submit(held, sink);
  const GenerationResult result = sink->wait();
  const std::string text = sink->text() + result.text;
  EXPECT_TRUE(text.starts_with(first + " ALPHA BETA")) << text;
  // Free after it: the generation runs on to max_tokens instead of ending where the grammar's language does.
  EXPECT_EQ(result.reason, FinishReason::length) << text;
  EXPECT_GT(text.size(), first.size() + std::string(" ALPHA BETA").size() + 4) << text;

  // A trigger the reply never writes changes nothing; at_start watches only the reply's first text.
  for (const bool at_start : {false, true}) {
    GenerationRequest untouched = plain;
    untouched.triggered_grammar = GenerationRequest::TriggeredGrammar{at_start ? second : " zebra-xyzzy",
                                                                      grammar::Grammar::parse(R"(root ::= "!")"), at_start};
    const auto same = std::make_shared<RecordingSink>();
    scheduler.submit(untouched, same);
    const std::string rest = same->wait().text;
    EXPECT_EQ(same->text() + rest, free_text) << at_start;
  }
  GenerationRequest both = plain;
  both.grammar = grammar::Grammar::parse(R"(root ::= "x")");
  both.triggered_grammar = held.triggered_grammar;
  EXPECT_THROW(scheduler.submit(both, std::make_shared<RecordingSink>()), std::invalid_argument);
}

// log-softmax of one logit, computed here in long double as a reference.
float reference_logprob(const std::vector<float>& logits, int32_t token) {
  const float max = *std::max_element(logits.begin(), logits.end());
  long double sum = 0;
  for (const float logit : logits) sum += std::exp(static_cast<long double>(logit) - max);
  return static_cast<float>(static_cast<long double>(logits[static_cast<size_t>(token)]) - max - std::log(sum));
}

TEST(Scheduler, LogprobsAreTheLogSoftmaxOfThePlainContextsLogits) {
  Scheduler scheduler(demo_model(), small_options(2));
  GenerationRequest greedy_request = request("Debian packages are managed with", 8);
  greedy_request.top_logprobs = 5;
  GenerationRequest sampled_request = request("import os", 8, seeded(11));
  sampled_request.logprobs = true;
  auto greedy_sink = std::make_shared<RecordingSink>();
  auto sampled_sink = std::make_shared<RecordingSink>();
  scheduler.submit(greedy_request, greedy_sink);
  scheduler.submit(sampled_request, sampled_sink);
  greedy_sink->wait();
  sampled_sink->wait();

  const Alone greedy_alone = generate_alone(greedy_request);
  const std::vector<GenerationEvent> greedy_events = greedy_sink->events();
  ASSERT_EQ(greedy_events.size(), greedy_alone.tokens.size());
  for (size_t i = 0; i < greedy_events.size(); ++i) {
    const GenerationEvent& event = greedy_events[i];
    ASSERT_TRUE(event.logprob);
    EXPECT_EQ(event.logprob->token, event.token);
    EXPECT_NEAR(event.logprob->logprob, reference_logprob(greedy_alone.logits[i], event.token), 1e-5);
    ASSERT_EQ(event.top.size(), 5u);
    EXPECT_EQ(event.top[0].token, event.token) << "greedy picks the most probable token";
    for (size_t k = 0; k < event.top.size(); ++k) {
      EXPECT_NEAR(event.top[k].logprob, reference_logprob(greedy_alone.logits[i], event.top[k].token), 1e-5);
      if (k > 0) EXPECT_GE(event.top[k - 1].logprob, event.top[k].logprob);
    }
    // Nothing outside the list is more probable than its last entry.
    const std::vector<float>& row = greedy_alone.logits[i];
    for (size_t v = 0; v < row.size(); ++v) {
      const bool listed = std::any_of(event.top.begin(), event.top.end(),
                                      [&](const TokenLogprob& t) { return t.token == static_cast<int32_t>(v); });
      if (!listed) EXPECT_LE(row[v], row[static_cast<size_t>(event.top.back().token)]);
    }
  }

  const Alone sampled_alone = generate_alone(sampled_request);
  const std::vector<GenerationEvent> sampled_events = sampled_sink->events();
  ASSERT_EQ(sampled_events.size(), sampled_alone.tokens.size());
  for (size_t i = 0; i < sampled_events.size(); ++i) {
    ASSERT_TRUE(sampled_events[i].logprob);
    EXPECT_NEAR(sampled_events[i].logprob->logprob,
                reference_logprob(sampled_alone.logits[i], sampled_events[i].token), 1e-5);
    EXPECT_TRUE(sampled_events[i].top.empty());
  }
}

TEST(Scheduler, ASinkThatThrowsIsCancelledAndTheOthersGoOn) {
  class ThrowingSink : public RecordingSink {
   public:
    void on_token(GenerationEvent event) override {
      RecordingSink::on_token(std::move(event));
      throw std::runtime_error("the client went away");
    }
  };
  Scheduler scheduler(demo_model(), small_options(2));
  auto throwing = std::make_shared<ThrowingSink>();
  auto fine = std::make_shared<RecordingSink>();
  GenerationRequest r = request("Unit tests check that", 12);
  r.ignore_eos = true;
  scheduler.submit(r, throwing);
  scheduler.submit(r, fine);
  EXPECT_EQ(throwing->wait().reason, FinishReason::cancelled);
  EXPECT_EQ(fine->wait().reason, FinishReason::length);
  EXPECT_EQ(fine->tokens(), generate_alone(r).tokens);
}

TEST(Scheduler, ShutdownLetsRunningAndQueuedRequestsFinishWithinTheGrace) {
  Scheduler scheduler(demo_model(), small_options(1));
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (const char* prompt : {"import os", "def main():", "apt-get install"}) {
    sinks.push_back(std::make_shared<RecordingSink>());
    GenerationRequest r = request(prompt, 6);
    r.ignore_eos = true;
    scheduler.submit(r, sinks.back());
  }
  scheduler.shutdown(30s);
  for (const auto& sink : sinks) {
    EXPECT_EQ(sink->finished_count(), 1);
    EXPECT_EQ(sink->wait().reason, FinishReason::length);
  }
  EXPECT_THROW(scheduler.submit(request("import os", 2), std::make_shared<RecordingSink>()), ShuttingDownError);
  const SchedulerStats stats = scheduler.stats();
  EXPECT_EQ(stats.generated_tokens, 18u);
  EXPECT_GT(stats.steps, 6u);
  EXPECT_EQ(stats.kv_cells, 128);
  EXPECT_GT(stats.kv_cells_used, 0) << "the last request's tokens stay cached";
}

TEST(Scheduler, ShutdownCancelsWhatOutlastsTheGrace) {
  Scheduler scheduler(demo_model(), small_options(1));
  GenerationRequest r = request("import os", 120);
  r.ignore_eos = true;
  auto running = std::make_shared<RecordingSink>();
  auto queued = std::make_shared<RecordingSink>();
  scheduler.submit(r, running);
  scheduler.submit(request("def main():", 4), queued);
  running->wait_for_tokens(1);
  scheduler.shutdown(0ms);
  EXPECT_EQ(running->finished_count(), 1);
  EXPECT_EQ(running->wait().reason, FinishReason::cancelled);
  EXPECT_EQ(queued->wait().reason, FinishReason::cancelled);
}

TEST(Scheduler, DestructorCancelsRunningAndQueuedRequests) {
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  {
    Scheduler scheduler(demo_model(), small_options(2));
    for (int i = 0; i < 4; ++i) {
      sinks.push_back(std::make_shared<RecordingSink>());
      GenerationRequest r = request(kPrompts[i], 100);
      r.ignore_eos = true;
      scheduler.submit(r, sinks.back());
    }
    sinks[0]->wait_for_tokens(2);
  }
  for (const auto& sink : sinks) {
    EXPECT_EQ(sink->finished_count(), 1);
    EXPECT_EQ(sink->wait().reason, FinishReason::cancelled);
  }
}

// A tiny model whose embedding row of `broken_token` is NaN: a sequence that reads that token fails its pass.
std::shared_ptr<const Model> model_with_broken_token(const test::TempDir& dir, int32_t broken_token) {
  test::TinyModelSpec spec;
  spec.embedding_type = TensorType::F32;
  spec.tied_output = false;
  const auto path = dir / "broken.gguf";
  test::write_tiny_model(spec, path);
  uint64_t row_offset = 0;
  int64_t n_embd = 0;
  {
    const gguf::File file = gguf::File::open(path);
    const gguf::TensorInfo& embedding = file.tensor("token_embd.weight");
    n_embd = embedding.ne[0];
    row_offset = file.data_offset() + embedding.offset + static_cast<uint64_t>(broken_token * n_embd) * sizeof(float);
  }
  const std::vector<float> nan_row(static_cast<size_t>(n_embd), std::numeric_limits<float>::quiet_NaN());
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekp(static_cast<std::streamoff>(row_offset));
  file.write(reinterpret_cast<const char*>(nan_row.data()), static_cast<std::streamsize>(n_embd * sizeof(float)));
  return Model::load(path);
}

TEST(Scheduler, AForwardPassErrorEndsOnlyTheRequestWhoseTokensFail) {
  const test::TempDir dir("scheduler-nan");
  const int32_t broken = 777;
  const auto model = model_with_broken_token(dir, broken);
  Scheduler scheduler(model, small_options(2));
  GenerationRequest good;
  good.prompt = {1, 450, 5132, 26997, 338};
  good.max_tokens = 20;
  good.sampling = greedy();
  good.ignore_eos = true;
  GenerationRequest bad = good;
  bad.prompt = {1, 450, broken, 338};

  auto good_sink = std::make_shared<RecordingSink>();
  auto bad_sink = std::make_shared<RecordingSink>();
  scheduler.submit(good, good_sink);
  good_sink->wait_for_tokens(2);
  scheduler.submit(bad, bad_sink);  // its prompt joins a step of the running request
  const GenerationResult failed = bad_sink->wait();
  EXPECT_EQ(failed.reason, FinishReason::error);
  EXPECT_NE(failed.error.find("non-finite"), std::string::npos) << failed.error;
  EXPECT_TRUE(bad_sink->tokens().empty());
  EXPECT_EQ(good_sink->wait().reason, FinishReason::length);
  const Alone alone = generate_alone(good, model);
  EXPECT_EQ(good_sink->tokens(), alone.tokens);

  // The scheduler goes on serving, in the failed request's slot too.
  std::vector<std::shared_ptr<RecordingSink>> after = {std::make_shared<RecordingSink>(),
                                                        std::make_shared<RecordingSink>()};
  for (const auto& sink : after) scheduler.submit(good, sink);
  for (const auto& sink : after) {
    EXPECT_EQ(sink->wait().reason, FinishReason::length);
    EXPECT_EQ(sink->tokens(), alone.tokens);
  }
}

}  // namespace
}  // namespace hearth
