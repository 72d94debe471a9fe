#include "server/engine.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

namespace hearth::server {
Engine::Engine(std::shared_ptr<const Model> model, const SchedulerOptions& options, const std::string& template_source,
               std::string alias)
    : model_(model),
      chat_(model->tokenizer(), template_source),
      alias_(std::move(alias)),
      created_(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count()),
      scheduler_(std::move(model), options) {}

void Engine::prepare_chat(const GenerationParams& params, Prepared& prepared) const {
  GenerationRequest& request = prepared.request;
  chat::ChatGeneration generation;
  try {
    generation = chat_.prepare(params.messages, params.tools,
                               {.choice = params.tool_choice,
                                .function = params.tool_choice_function,
                                .parallel = params.parallel_tool_calls,
                                .always_parse = params.endpoint == Endpoint::responses});
  } catch (const chat::TemplateError& e) {
    throw bad_request(fmt::format("the chat template rejected the conversation: {}", e.message()), "messages");
  } catch (const grammar::GrammarError& e) {
    throw bad_request(e.what(), "tools");
  } catch (const std::invalid_argument& e) {
    throw bad_request(fmt::format("malformed messages: {}", e.what()), "messages");
  }
  request.prompt = std::move(generation.prompt);
  for (std::string& stop : generation.stop) {
    if (std::find(params.stop.begin(), params.stop.end(), stop) == params.stop.end()) request.stop.push_back(std::move(stop));
  }
  request.show_special_tokens = generation.show_special_tokens;
  prepared.reply = std::move(generation.parser);
  // A response_format or grammar of the request's own leaves free text free of the tools' trigger.
  if (generation.triggered_grammar && !params.grammar) {
    request.triggered_grammar = GenerationRequest::TriggeredGrammar{std::move(generation.triggered_grammar->trigger),
                                                                    std::move(generation.triggered_grammar->grammar),
                                                                    generation.triggered_grammar->at_start};
  }
  if (generation.grammar) request.grammar = std::move(generation.grammar);
}

Engine::Prepared Engine::build_request(const GenerationParams& params) const {
  const tokenizer::Tokenizer& tok = model_->tokenizer();
  Prepared prepared;
  GenerationRequest& request = prepared.request;
  if (params.endpoint != Endpoint::completions) {
    prepare_chat(params, prepared);
  } else if (params.prompt_text) {
    // As llama.cpp's server: BOS added where the vocabulary asks for it, special tokens written in the text parsed.
    request.prompt = tok.tokenize(*params.prompt_text, /*add_special=*/true, /*parse_special=*/true);
  } else {
    for (const int32_t id : params.prompt_tokens) {
      if (static_cast<size_t>(id) >= tok.vocab_size()) {
        throw bad_request(fmt::format("token id {} is outside the vocabulary of {}", id, tok.vocab_size()), "prompt");
      }
    }
    request.prompt = params.prompt_tokens;
  }
  if (request.prompt.empty()) throw bad_request("the prompt is empty", "prompt");
  for (const auto& [id, bias] : params.sampling.logit_bias) {
    if (static_cast<size_t>(id) >= tok.vocab_size()) {
      throw bad_request(fmt::format("logit_bias names token {}, outside the vocabulary of {}", id, tok.vocab_size()),
                        "logit_bias");
    }
  }

  const int64_t context = scheduler_.slot_context();
  const int64_t prompt_tokens = static_cast<int64_t>(request.prompt.size());
  const int64_t max_tokens = params.max_tokens ? *params.max_tokens : context - prompt_tokens;
  if (max_tokens < 1 || prompt_tokens + max_tokens > context) {
    throw bad_request(fmt::format("This model's maximum context length is {} tokens. However, you requested {} tokens "
                                  "({} in the prompt, {} for the completion). Please reduce the prompt or max_tokens.",
                                  context, prompt_tokens + std::max<int64_t>(max_tokens, 1), prompt_tokens,
                                  std::max<int64_t>(max_tokens, 1)),
                      params.max_tokens                                     ? "max_tokens"
                      : params.endpoint != Endpoint::completions      ? "messages"
                                                                      : "prompt",
                      "context_length_exceeded");
  }
  request.max_tokens = static_cast<int32_t>(max_tokens);
  request.sampling = params.sampling;
  request.stop.insert(request.stop.begin(), params.stop.begin(), params.stop.end());  // (after the end of turn, above)
  request.ignore_eos = params.ignore_eos;
  if (params.grammar) request.grammar = params.grammar;  // (a required tool call set its own above; never both)
  request.logprobs = params.logprobs;
  request.top_logprobs = params.top_logprobs;
  return prepared;
}

}  // namespace hearth::server
