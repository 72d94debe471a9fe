#include "server/engine.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

namespace hearth::server {
namespace {

std::string token_text_or_empty(const tokenizer::Tokenizer& tok, int32_t id) {
  return id == tokenizer::kNoToken ? std::string() : std::string(tok.token_text(id));
}

// What follows an assistant message in the template's rendering, up to the first whitespace; "" when that is
// nothing, or one end-of-generation token (the model's own stop), or the template cannot render the probe.
std::string end_of_turn_text(const chat::Template& chat_template, const tokenizer::Tokenizer& tok) {
  constexpr std::string_view kAnswer = "hearth-probe-answer";
  chat::ChatRequest request;
  request.messages = json::array({{{"role", "user"}, {"content", "hearth-probe-question"}},
                                  {{"role", "assistant"}, {"content", kAnswer}}});
  request.bos_token = token_text_or_empty(tok, tok.bos());
  request.eos_token = token_text_or_empty(tok, tok.eos());
  std::string rendered;
  try {
    rendered = chat::apply_chat_template(chat_template, request);
  } catch (const std::exception&) {
    return "";
  }
  const std::size_t at = rendered.rfind(kAnswer);
  if (at == std::string::npos) return "";
  std::string_view rest = std::string_view(rendered).substr(at + kAnswer.size());
  rest = rest.substr(0, rest.find_first_of(" \n\t\r"));
  if (rest.empty()) return "";
  const std::vector<int32_t> tokens = tok.tokenize(rest, /*add_special=*/false, /*parse_special=*/true);
  if (tokens.size() == 1 && tok.is_eog(tokens[0])) return "";
  return std::string(rest);
}

}  // namespace

Engine::Engine(std::shared_ptr<const Model> model, const SchedulerOptions& options, const std::string& template_source,
               std::string alias)
    : model_(model),
      template_(template_source),
      reply_syntax_(chat::detect_reply_syntax(template_source)),
      end_of_turn_(end_of_turn_text(template_, model->tokenizer())),
      alias_(std::move(alias)),
      created_(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count()),
      scheduler_(std::move(model), options) {}

std::vector<int32_t> Engine::chat_prompt(const GenerationParams& params, bool& opens_reasoning) const {
  const tokenizer::Tokenizer& tok = model_->tokenizer();
  chat::ChatRequest request;
  request.messages = params.messages;
  request.tools = params.tools;
  request.add_generation_prompt = true;
  request.bos_token = token_text_or_empty(tok, tok.bos());
  request.eos_token = token_text_or_empty(tok, tok.eos());
  std::string prompt;
  try {
    prompt = chat::apply_chat_template(template_, request);
  } catch (const chat::TemplateError& e) {
    throw bad_request(fmt::format("the chat template rejected the conversation: {}", e.message()), "messages");
  } catch (const std::invalid_argument& e) {
    throw bad_request(fmt::format("malformed messages: {}", e.what()), "messages");
  }
  std::string_view end = prompt;
  while (!end.empty() && (end.back() == '\n' || end.back() == ' ')) end.remove_suffix(1);
  opens_reasoning = !reply_syntax_.reasoning_open.empty() && end.ends_with(reply_syntax_.reasoning_open);
  // As `hearth chat`: the template writes the special tokens it wants as text, so they are parsed, not added; a BOS
  // the model needs but the template leaves out goes in front.
  std::vector<int32_t> tokens = tok.tokenize(prompt, /*add_special=*/false, /*parse_special=*/true);
  if (tok.add_bos() && tok.bos() != tokenizer::kNoToken && (tokens.empty() || tokens.front() != tok.bos())) {
    tokens.insert(tokens.begin(), tok.bos());
  }
  return tokens;
}

Engine::Prepared Engine::build_request(const GenerationParams& params) const {
  const tokenizer::Tokenizer& tok = model_->tokenizer();
  Prepared prepared;
  GenerationRequest& request = prepared.request;
  if (params.endpoint != Endpoint::completions) {
    bool opens_reasoning = false;
    request.prompt = chat_prompt(params, opens_reasoning);
    if (!end_of_turn_.empty()) {
      // Shown as text, so that the stop finds it even where it is a control token the vocabulary does not mark
      // as an end of generation.
      request.show_special_tokens = true;
      if (std::find(params.stop.begin(), params.stop.end(), end_of_turn_) == params.stop.end()) request.stop.push_back(end_of_turn_);
    }
    using ToolChoice = GenerationParams::ToolChoice;
    const bool calls = !params.tools.is_null() && params.tool_choice != ToolChoice::none;
    if (calls || !reply_syntax_.reasoning_open.empty() || params.endpoint == Endpoint::responses) {
      prepared.reply.emplace(reply_syntax_, calls ? params.tools : json(), opens_reasoning);
      request.show_special_tokens = true;  // markers may be control tokens
    }
    if (calls && params.tool_choice == ToolChoice::automatic && !params.grammar) {
      try {
        chat::TriggeredToolGrammar triggered = chat::triggered_tool_call_grammar(reply_syntax_, params.tools, params.parallel_tool_calls);
        request.triggered_grammar = GenerationRequest::TriggeredGrammar{std::move(triggered.trigger), std::move(triggered.grammar),
                                                                        triggered.at_start};
      } catch (const grammar::GrammarError& e) {
        throw bad_request(e.what(), "tools");
      }
    }
    if (params.tool_choice == ToolChoice::required || params.tool_choice == ToolChoice::function) {
      const std::optional<std::string_view> function =
          params.tool_choice == ToolChoice::function ? std::optional<std::string_view>(params.tool_choice_function) : std::nullopt;
      try {
        // A reasoning block the prompt opened is closed first, so that the calls are calls.
        request.grammar = chat::tool_call_grammar(reply_syntax_, params.tools, function, params.parallel_tool_calls,
                                                  opens_reasoning ? reply_syntax_.reasoning_close : std::string_view());
      } catch (const grammar::GrammarError& e) {
        throw bad_request(e.what(), "tools");
      }
    }
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
