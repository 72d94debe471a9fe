// From a request body's bytes to a checked generation request, without a model: what OpenAI's completions and chat
// completions endpoints accept (plus llama.cpp's extra sampling fields), every known field type-checked and
// range-checked (an ApiError 400 naming the field), unknown fields ignored.
//
// Defaults for omitted sampling fields are OpenAI's, not llama.cpp's: temperature 1, top_p 1, and none of the
// truncations OpenAI lacks (top_k, min_p, typical_p, repeat_penalty off), so that an OpenAI client gets the
// distribution it asked for.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/grammar.h"
#include "hearth/model_chat.h"
#include "hearth/sampling.h"
#include "server/api_error.h"

namespace hearth::server {

enum class Endpoint { completions, chat_completions, responses };  // responses: a chat underneath

// The deepest nesting of arrays and objects a body may have. Checked on the raw bytes before parsing, so that a
// hostile body of a million brackets costs one linear scan.
inline constexpr int kMaxJsonDepth = 64;

// The body as JSON: malformed JSON, invalid UTF-8 in a string, a number out of range or nesting beyond
// kMaxJsonDepth are a 400.
json parse_json_body(std::string_view body);

struct GenerationParams {
  Endpoint endpoint = Endpoint::completions;
  // completions: the prompt as text, or as token ids
  std::optional<std::string> prompt_text;
  std::vector<int32_t> prompt_tokens;
  // chat completions: messages with content flattened to text (content parts joined), and tools as given
  json messages;
  json tools;
  std::optional<int32_t> max_tokens;  // unset: the rest of the slot context
  sampling::SamplingParams sampling;
  std::vector<std::string> stop;
  bool ignore_eos = false;  // llama.cpp's field: end-of-generation tokens are banned
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;
  int32_t top_logprobs = 0;
  // response_format json_object / json_schema, or llama.cpp's grammar (GBNF) or json_schema fields
  std::optional<grammar::Grammar> grammar;
  // tool_choice: "auto" (the default with tools; calls are parsed out of the reply), "none" (the tools are shown
  // to the model, its reply is content), "required" (a grammar makes the reply calls), or one named function.
  using ToolChoice = chat::ToolChoice;
  ToolChoice tool_choice = ToolChoice::automatic;
  std::string tool_choice_function;  // for ToolChoice::function
  bool parallel_tool_calls = true;
};

// Throws ApiError (400 naming the field) for a body that is not an object or has a known field of the wrong type
// or out of range.
GenerationParams parse_generation_params(Endpoint endpoint, const json& body);

struct TokenizeParams {
  std::string content;
  bool add_special = false;
};
TokenizeParams parse_tokenize_params(const json& body);
std::vector<int32_t> parse_detokenize_params(const json& body);  // the "tokens" array

}  // namespace hearth::server
