#include "hearth/model_chat.h"

#include <stdexcept>
#include <utility>

#include <fmt/format.h>

namespace hearth::chat {
namespace {

std::string token_text_or_empty(const tokenizer::Tokenizer& tok, int32_t id) {
  return id == tokenizer::kNoToken ? std::string() : std::string(tok.token_text(id));
}

ChatRequest chat_request(const tokenizer::Tokenizer& tok, const json& messages, const json& tools,
                         bool add_generation_prompt, const json& extra_context) {
  ChatRequest request;
  request.messages = messages;
  request.tools = tools;
  request.add_generation_prompt = add_generation_prompt;
  request.bos_token = token_text_or_empty(tok, tok.bos());
  request.eos_token = token_text_or_empty(tok, tok.eos());
  request.extra_context = extra_context;
  return request;
}

// What follows an assistant message in the template's rendering, up to the first whitespace; "" when that is
// nothing, or one end-of-generation token (the model's own stop), or the template cannot render the probe.
std::string end_of_turn_text(const Template& chat_template, const tokenizer::Tokenizer& tok) {
  constexpr std::string_view kAnswer = "hearth-probe-answer";
  const json messages = json::array({{{"role", "user"}, {"content", "hearth-probe-question"}},
                                     {{"role", "assistant"}, {"content", kAnswer}}});
  std::string rendered;
  try {
    rendered = apply_chat_template(chat_template, chat_request(tok, messages, json(), false, json::object()));
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

ModelChat::ModelChat(tokenizer::Tokenizer tokenizer, std::string template_source)
    : tokenizer_(std::move(tokenizer)),
      template_(template_source),
      reply_syntax_(detect_reply_syntax(template_source)),
      end_of_turn_(end_of_turn_text(template_, tokenizer_)) {}

std::string ModelChat::render(const json& messages, const json& tools, bool add_generation_prompt,
                              const json& extra_context) const {
  return apply_chat_template(template_, chat_request(tokenizer_, messages, tools, add_generation_prompt, extra_context));
}

ChatGeneration ModelChat::prepare(const json& messages, const json& tools, const ToolOptions& options,
                                  const json& extra_context) const {
  ChatGeneration generation;
  const std::string prompt = render(messages, tools, /*add_generation_prompt=*/true, extra_context);
  std::string_view end = prompt;
  while (!end.empty() && (end.back() == '\n' || end.back() == ' ')) end.remove_suffix(1);
  generation.opens_reasoning = !reply_syntax_.reasoning_open.empty() && end.ends_with(reply_syntax_.reasoning_open);
  // As `hearth chat`: the template writes the special tokens it wants as text, so they are parsed, not added; a BOS
  // the model needs but the template leaves out goes in front.
  generation.prompt = tokenizer_.tokenize(prompt, /*add_special=*/false, /*parse_special=*/true);
  if (tokenizer_.add_bos() && tokenizer_.bos() != tokenizer::kNoToken &&
      (generation.prompt.empty() || generation.prompt.front() != tokenizer_.bos())) {
    generation.prompt.insert(generation.prompt.begin(), tokenizer_.bos());
  }
  if (!end_of_turn_.empty()) {
    // Shown as text, so that the stop finds it even where it is a control token the vocabulary does not mark as an
    // end of generation.
    generation.show_special_tokens = true;
    generation.stop.push_back(end_of_turn_);
  }

  const bool calls = !tools.is_null() && options.choice != ToolChoice::none;
  if (calls && !tools.is_array()) throw std::invalid_argument("'tools' must be a list");
  if (calls || !reply_syntax_.reasoning_open.empty() || options.always_parse) {
    generation.parser.emplace(reply_syntax_, calls ? tools : json(), generation.opens_reasoning);
    generation.show_special_tokens = true;  // markers may be control tokens
  }
  if (calls && options.choice == ToolChoice::automatic) {
    generation.triggered_grammar = triggered_tool_call_grammar(reply_syntax_, tools, options.parallel);
  }
  if (options.choice == ToolChoice::required || options.choice == ToolChoice::function) {
    if (!calls) throw std::invalid_argument("tool_choice asks for a tool call but there are no tools");
    const std::optional<std::string_view> function =
        options.choice == ToolChoice::function ? std::optional<std::string_view>(options.function) : std::nullopt;
    // A reasoning block the prompt opened is closed first, so that the calls are calls.
    generation.grammar = tool_call_grammar(reply_syntax_, tools, function, options.parallel,
                                           generation.opens_reasoning ? reply_syntax_.reasoning_close : std::string_view());
  }
  return generation;
}

std::string model_template_source(const gguf::File& file, std::string_view architecture,
                                  std::string_view* fallback_name) {
  if (fallback_name) *fallback_name = {};
  if (file.contains("tokenizer.chat_template")) {
    return std::string(file.get<std::string_view>("tokenizer.chat_template"));  // its error names the key
  }
  const bool bpe = file.get_or<std::string>("tokenizer.ggml.model", "") == "gpt2";
  const std::string_view name = fallback_template_name(architecture, bpe);
  if (fallback_name) *fallback_name = name;
  return std::string(builtin_template(name));
}

}  // namespace hearth::chat
