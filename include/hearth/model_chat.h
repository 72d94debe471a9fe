// How one model chats: its chat template, the syntax its replies use for tool calls and reasoning, and the text
// that ends its turn; and the rules that turn a conversation into a generation (prompt tokens, stops, grammars) and
// tell how to read the reply. `hearth serve` and the Python package both prepare chat generations with it, so the
// same conversation gives the same prompt and the same constraints everywhere.
//
//   hearth::chat::ModelChat chat(model->tokenizer(), template_source);
//   hearth::chat::ChatGeneration generation = chat.prepare(messages, tools, {.choice = ToolChoice::automatic});
//   // generation.prompt -> the scheduler; generation.parser->push(text) -> content, reasoning and calls
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/chat.h"
#include "hearth/gguf.h"
#include "hearth/grammar.h"
#include "hearth/tokenizer.h"
#include "hearth/tool_calls.h"

namespace hearth::chat {

// OpenAI's tool_choice: "none" (tools are shown to the model, calls are not read), "auto" (calls the model opens
// follow the tools' schemas and are parsed out of the reply), "required" (one call or more), or one named function.
enum class ToolChoice { none, automatic, required, function };

struct ToolOptions {
  ToolChoice choice = ToolChoice::automatic;
  std::string function;   // for ToolChoice::function
  bool parallel = true;   // more than one call may be made
  // Read the reply (content, reasoning, calls) even without tools or a reasoning syntax (the Responses API).
  bool always_parse = false;
};

// What a chat request adds to its generation.
struct ChatGeneration {
  std::vector<int32_t> prompt;   // the rendered conversation, tokenized as the template wrote it
  bool opens_reasoning = false;  // the prompt ends by opening a reasoning block (e.g. "<think>")
  // The end-of-turn text where it is not an end-of-generation token of the vocabulary: a stop, or the model
  // would write the next turn.
  std::vector<std::string> stop;
  bool show_special_tokens = false;  // control tokens' text is part of the reply (markers may be control tokens)
  std::optional<grammar::Grammar> grammar;                  // a required call
  std::optional<TriggeredToolGrammar> triggered_grammar;    // tool_choice auto: a call the model opens
  std::optional<ReplyParser> parser;                        // with tools or a reasoning syntax: how to read the reply
};

class ModelChat {
 public:
  // Parses the template (TemplateError).
  ModelChat(tokenizer::Tokenizer tokenizer, std::string template_source);

  // The conversation rendered with the generation prompt, tokenized with its special tokens parsed (BOS put in
  // front where the model needs one the template leaves out), and the rules for the reply. Throws TemplateError
  // (the template rejected the conversation), std::invalid_argument (malformed messages, a tool_choice naming no
  // tool), grammar::GrammarError (a tool's parameters the grammar cannot follow).
  // `extra_context`: further template variables, e.g. {"enable_thinking": false}.
  ChatGeneration prepare(const json& messages, const json& tools, const ToolOptions& options,
                         const json& extra_context = json::object()) const;

  // The rendered text alone (add_generation_prompt as given).
  std::string render(const json& messages, const json& tools, bool add_generation_prompt,
                     const json& extra_context = json::object()) const;

  const ReplySyntax& reply_syntax() const { return reply_syntax_; }
  const std::string& end_of_turn() const { return end_of_turn_; }  // "" when the model's own EOG token ends its turn

 private:
  tokenizer::Tokenizer tokenizer_;
  Template template_;
  ReplySyntax reply_syntax_;
  std::string end_of_turn_;
};

// The template a model chats with when the caller names none: its own (GGUF tokenizer.chat_template), else the
// built-in fallback for its architecture (see fallback_template_name), whose name goes to `fallback_name` ("" when
// the model has its own).
std::string model_template_source(const gguf::File& file, std::string_view architecture,
                                  std::string_view* fallback_name = nullptr);

}  // namespace hearth::chat
