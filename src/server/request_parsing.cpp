#include "server/request_parsing.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "hearth/json_schema.h"

namespace hearth::server {
namespace {

// Nesting depth of arrays and objects, strings skipped; stops counting once past the limit.
bool nesting_within(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

std::string type_name(const json& value) { return value.is_null() ? "null" : value.type_name(); }

ApiError wrong_type(const std::string& field, const char* expected, const json& value) {
  return bad_request(fmt::format("'{}' must be {}, not {}", field, expected, type_name(value)), field);
}

const json* find(const json& body, const char* field) {
  const auto it = body.find(field);
  return it == body.end() || it->is_null() ? nullptr : &*it;  // null means omitted, as OpenAI's clients send it
}

std::optional<bool> get_bool(const json& body, const char* field) {
  const json* value = find(body, field);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) throw wrong_type(field, "a boolean", *value);
  return value->get<bool>();
}

std::optional<int64_t> get_integer(const json& body, const std::string& field, int64_t min, int64_t max) {
  const json* value = find(body, field.c_str());
  if (value == nullptr) return std::nullopt;
  // A float with an integral value (2.0) is accepted, as Python's clients may send one.
  if (value->is_number_float()) {
    const double number = value->get<double>();
    if (number != std::floor(number) || !(number >= static_cast<double>(min) && number <= static_cast<double>(max))) {
      throw bad_request(fmt::format("'{}' must be an integer from {} to {}", field, min, max), field);
    }
    return static_cast<int64_t>(number);
  }
  if (value->is_number_unsigned()) {
    const uint64_t number = value->get<uint64_t>();
    if (number > static_cast<uint64_t>(max) || (min > 0 && number < static_cast<uint64_t>(min))) {
      throw bad_request(fmt::format("'{}' must be an integer from {} to {}", field, min, max), field);
    }
    return static_cast<int64_t>(number);
  }
  if (!value->is_number_integer()) throw wrong_type(field, "an integer", *value);
  const int64_t number = value->get<int64_t>();
  if (number < min || number > max) {
    throw bad_request(fmt::format("'{}' must be an integer from {} to {}", field, min, max), field);
  }
  return number;
}

std::optional<float> get_number(const json& body, const char* field, double min, double max) {
  const json* value = find(body, field);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number()) throw wrong_type(field, "a number", *value);
  const double number = value->get<double>();
  if (!(number >= min && number <= max)) {
    throw bad_request(fmt::format("'{}' must be a number from {} to {}", field, min, max), field);
  }
  return static_cast<float>(number);
}

std::vector<std::string> parse_stop(const json& body) {
  const json* value = find(body, "stop");
  if (value == nullptr) return {};
  std::vector<std::string> stop;
  if (value->is_string()) {
    stop.push_back(value->get<std::string>());
  } else if (value->is_array()) {
    if (value->size() > 16) throw bad_request("'stop' may hold at most 16 strings", "stop");
    for (const json& item : *value) {
      if (!item.is_string()) throw wrong_type("stop", "a string or an array of strings", item);
      stop.push_back(item.get<std::string>());
    }
  } else {
    throw wrong_type("stop", "a string or an array of strings", *value);
  }
  for (const std::string& text : stop) {
    if (text.empty()) throw bad_request("'stop' strings must not be empty", "stop");
  }
  return stop;
}

std::map<sampling::TokenId, float> parse_logit_bias(const json& body) {
  const json* value = find(body, "logit_bias");
  if (value == nullptr) return {};
  if (!value->is_object()) throw wrong_type("logit_bias", "an object of token ids to biases", *value);
  std::map<sampling::TokenId, float> bias;
  for (const auto& [key, item] : value->items()) {
    int64_t id = -1;
    const auto [end, error] = std::from_chars(key.data(), key.data() + key.size(), id);
    if (error != std::errc() || end != key.data() + key.size() || id < 0 || id > std::numeric_limits<int32_t>::max()) {
      throw bad_request(fmt::format("'logit_bias' keys must be token ids, not '{}'", key), "logit_bias");
    }
    if (!item.is_number()) throw wrong_type("logit_bias", "an object of numbers", item);
    const double number = item.get<double>();
    if (!(number >= -100 && number <= 100)) {
      throw bad_request("'logit_bias' values must be from -100 to 100", "logit_bias");
    }
    bias[static_cast<sampling::TokenId>(id)] = static_cast<float>(number);
  }
  return bias;
}

std::vector<int32_t> parse_token_array(const json& array, const char* field) {
  std::vector<int32_t> tokens;
  tokens.reserve(array.size());
  for (const json& item : array) {
    if (!item.is_number_integer() || item.get<int64_t>() < 0 || item.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      throw bad_request(fmt::format("'{}' must hold token ids (non-negative integers)", field), field);
    }
    tokens.push_back(static_cast<int32_t>(item.get<int64_t>()));
  }
  return tokens;
}

void parse_prompt(const json& body, GenerationParams& params) {
  const json* prompt = find(body, "prompt");
  if (prompt == nullptr) throw bad_request("'prompt' is required", "prompt");
  if (prompt->is_string()) {
    params.prompt_text = prompt->get<std::string>();
  } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
    params.prompt_text = (*prompt)[0].get<std::string>();
  } else if (prompt->is_array() && !prompt->empty() && (*prompt)[0].is_number()) {
    params.prompt_tokens = parse_token_array(*prompt, "prompt");
  } else if (prompt->is_array() && !prompt->empty() && ((*prompt)[0].is_string() || (*prompt)[0].is_array())) {
    throw bad_request("one prompt per request: 'prompt' must be a string or an array of token ids", "prompt");
  } else {
    throw wrong_type("prompt", "a string or a non-empty array of token ids", *prompt);
  }
}

// Content as a string: a string stays, an array of {"type": "text", "text": ...} parts is joined.
json flatten_content(const json& content) {
  if (content.is_string() || content.is_null()) return content;
  if (!content.is_array()) throw wrong_type("messages.content", "a string or an array of content parts", content);
  std::string text;
  for (const json& part : content) {
    if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
        !part["text"].is_string()) {
      throw bad_request("content parts must be {\"type\": \"text\", \"text\": string}; other kinds are not supported",
                        "messages.content");
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

void parse_tool_choice(const json& body, GenerationParams& params) {
  using ToolChoice = GenerationParams::ToolChoice;
  params.parallel_tool_calls = get_bool(body, "parallel_tool_calls").value_or(true);
  const json* choice = find(body, "tool_choice");
  if (choice == nullptr) return;
  if (choice->is_string()) {
    const std::string mode = choice->get<std::string>();
    if (mode == "none") params.tool_choice = ToolChoice::none;
    else if (mode == "auto") params.tool_choice = ToolChoice::automatic;
    else if (mode == "required") params.tool_choice = ToolChoice::required;
    else throw bad_request("'tool_choice' must be \"none\", \"auto\", \"required\" or a function", "tool_choice");
  } else if (choice->is_object()) {
    const auto function = choice->find("function");
    if (function == choice->end() || !function->is_object() || !function->contains("name") || !(*function)["name"].is_string()) {
      throw bad_request("'tool_choice' must be {\"type\": \"function\", \"function\": {\"name\": string}}", "tool_choice");
    }
    params.tool_choice = ToolChoice::function;
    params.tool_choice_function = (*function)["name"].get<std::string>();
  } else {
    throw wrong_type("tool_choice", "a string or an object", *choice);
  }
  if (params.tool_choice == ToolChoice::required || params.tool_choice == ToolChoice::function) {
    if (params.tools.is_null()) throw bad_request("'tool_choice' asks for a tool call but 'tools' is empty", "tool_choice");
    if (params.tool_choice == ToolChoice::function) {
      const bool known = std::any_of(params.tools.begin(), params.tools.end(), [&](const json& tool) {
        return tool["function"]["name"] == params.tool_choice_function;
      });
      if (!known) throw bad_request(fmt::format("'tool_choice' names '{}', which is not among 'tools'", params.tool_choice_function), "tool_choice");
    }
  }
}

void parse_messages(const json& body, GenerationParams& params) {
  const json* messages = find(body, "messages");
  if (messages == nullptr) throw bad_request("'messages' is required", "messages");
  if (!messages->is_array() || messages->empty()) throw wrong_type("messages", "a non-empty array", *messages);
  params.messages = json::array();
  for (const json& message : *messages) {
    if (!message.is_object()) throw wrong_type("messages", "an array of objects", message);
    const auto role = message.find("role");
    if (role == message.end() || !role->is_string()) throw bad_request("each message needs a string 'role'", "messages.role");
    json flattened = message;
    if (message.contains("content")) flattened["content"] = flatten_content(message["content"]);
    params.messages.push_back(std::move(flattened));
  }
  if (const json* tools = find(body, "tools")) {
    if (!tools->is_array()) throw wrong_type("tools", "an array", *tools);
    for (const json& tool : *tools) {
      const auto function = tool.is_object() ? tool.find("function") : tool.end();
      const auto type = tool.is_object() ? tool.find("type") : tool.end();
      if (!tool.is_object() || (type != tool.end() && *type != "function") || function == tool.end() ||
          !function->is_object() || !function->contains("name") || !(*function)["name"].is_string()) {
        throw bad_request("each tool must be {\"type\": \"function\", \"function\": {\"name\": string, ...}}", "tools");
      }
      if (function->contains("parameters") && !(*function)["parameters"].is_object()) {
        throw wrong_type("tools.function.parameters", "a JSON Schema (an object)", (*function)["parameters"]);
      }
    }
    if (!tools->empty()) params.tools = *tools;
  }
  parse_tool_choice(body, params);
}

grammar::Grammar schema_grammar(const json& schema, const std::string& field) {
  if (!schema.is_object() && !schema.is_boolean()) throw wrong_type(field, "a JSON Schema (an object)", schema);
  try {
    return grammar::json_schema_grammar(schema.dump());
  } catch (const grammar::GrammarError& e) {
    throw bad_request(e.what(), field);
  }
}

// What the output must be: OpenAI's response_format, or llama.cpp's grammar (GBNF text) or json_schema; one of them.
std::optional<grammar::Grammar> parse_output_constraint(const json& body) {
  int given = 0;
  std::optional<grammar::Grammar> constraint;
  if (const json* format = find(body, "response_format")) {
    if (!format->is_object()) throw wrong_type("response_format", "an object", *format);
    const json* type = find(*format, "type");
    if (type == nullptr || !type->is_string()) {
      throw bad_request("'response_format.type' must be \"text\", \"json_object\" or \"json_schema\"", "response_format.type");
    }
    if (*type == "json_object") {
      // llama.cpp lets a schema come with json_object.
      const json* schema = find(*format, "schema");
      constraint = schema ? schema_grammar(*schema, "response_format.schema") : grammar::json_object_grammar();
    } else if (*type == "json_schema") {
      const json* spec = find(*format, "json_schema");
      if (spec == nullptr || !spec->is_object()) {
        throw bad_request("'response_format.json_schema' must be an object with a 'schema'", "response_format.json_schema");
      }
      if (const json* name = find(*spec, "name"); name != nullptr && !name->is_string()) {
        throw wrong_type("response_format.json_schema.name", "a string", *name);
      }
      if (const json* strict = find(*spec, "strict"); strict != nullptr && !strict->is_boolean()) {
        throw wrong_type("response_format.json_schema.strict", "a boolean", *strict);
      }
      // Without a schema, as OpenAI's own server: any JSON object. Strict or not, the output follows the schema.
      const json* schema = find(*spec, "schema");
      constraint = schema ? schema_grammar(*schema, "response_format.json_schema.schema") : grammar::json_object_grammar();
    } else if (*type != "text") {
      throw bad_request("'response_format.type' must be \"text\", \"json_object\" or \"json_schema\"", "response_format.type");
    }
    given += constraint ? 1 : 0;
  }
  if (const json* text = find(body, "grammar")) {
    if (!text->is_string()) throw wrong_type("grammar", "a string of GBNF", *text);
    try {
      constraint = grammar::Grammar::parse(text->get<std::string>());
    } catch (const grammar::GrammarError& e) {
      throw bad_request(fmt::format("the grammar is not valid GBNF: {}", e.what()), "grammar");
    }
    ++given;
  }
  if (const json* schema = find(body, "json_schema")) {
    constraint = schema_grammar(*schema, "json_schema");
    ++given;
  }
  if (given > 1) throw bad_request("give at most one of 'response_format', 'grammar' and 'json_schema'", "response_format");
  return constraint;
}

}  // namespace

json parse_json_body(std::string_view body) {
  if (!nesting_within(body, kMaxJsonDepth)) {
    throw bad_request(fmt::format("the JSON body nests deeper than {} levels", kMaxJsonDepth));
  }
  try {
    return json::parse(body);
  } catch (const json::exception& e) {
    // parse_error for malformed JSON and invalid UTF-8, out_of_range for a number beyond double's range.
    throw bad_request(fmt::format("the body is not valid JSON: {}", e.what()));
  }
}

GenerationParams parse_generation_params(Endpoint endpoint, const json& body) {
  if (!body.is_object()) throw bad_request("the body must be a JSON object");
  GenerationParams params;
  params.endpoint = endpoint;
  if (endpoint == Endpoint::completions) parse_prompt(body, params);
  else parse_messages(body, params);

  if (const auto n = get_integer(body, "n", 1, 128); n && *n != 1) {
    throw bad_request("only n = 1 is supported", "n");
  }
  if (const json* model = find(body, "model"); model != nullptr && !model->is_string()) throw wrong_type("model", "a string", *model);
  if (const json* user = find(body, "user"); user != nullptr && !user->is_string()) throw wrong_type("user", "a string", *user);

  const int32_t max_int = std::numeric_limits<int32_t>::max();
  // max_completion_tokens is the newer name of max_tokens in the chat API; the later-named wins when both come.
  for (const char* field : {"max_tokens", "max_completion_tokens"}) {
    if (const auto value = get_integer(body, field, 1, max_int)) params.max_tokens = static_cast<int32_t>(*value);
  }

  sampling::SamplingParams& s = params.sampling;
  s.temperature = get_number(body, "temperature", 0, 2).value_or(1.0f);
  s.top_p = get_number(body, "top_p", 0, 1).value_or(1.0f);
  s.top_k = static_cast<int32_t>(get_integer(body, "top_k", 0, max_int).value_or(0));
  s.min_p = get_number(body, "min_p", 0, 1).value_or(0.0f);
  s.typical_p = get_number(body, "typical_p", 0, 1).value_or(1.0f);
  s.repeat_penalty = get_number(body, "repeat_penalty", 0, 10).value_or(1.0f);
  s.penalty_last_n = static_cast<int32_t>(get_integer(body, "repeat_last_n", -1, max_int).value_or(64));
  s.presence_penalty = get_number(body, "presence_penalty", -2, 2).value_or(0.0f);
  s.frequency_penalty = get_number(body, "frequency_penalty", -2, 2).value_or(0.0f);
  s.logit_bias = parse_logit_bias(body);
  if (const auto seed = get_integer(body, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max())) {
    s.seed = static_cast<uint64_t>(*seed);
  }
  params.stop = parse_stop(body);
  params.ignore_eos = get_bool(body, "ignore_eos").value_or(false);
  params.grammar = parse_output_constraint(body);
  if (params.grammar && (params.tool_choice == GenerationParams::ToolChoice::required ||
                         params.tool_choice == GenerationParams::ToolChoice::function)) {
    throw bad_request("a required tool call cannot be combined with a grammar or response_format", "tool_choice");
  }
  if (params.grammar && params.ignore_eos) {
    throw bad_request("'ignore_eos' cannot be combined with a grammar or response_format", "ignore_eos");
  }

  params.stream = get_bool(body, "stream").value_or(false);
  if (const json* options = find(body, "stream_options")) {
    if (!options->is_object()) throw wrong_type("stream_options", "an object", *options);
    params.include_usage = get_bool(*options, "include_usage").value_or(false);
  }

  if (endpoint == Endpoint::chat_completions) {
    params.logprobs = get_bool(body, "logprobs").value_or(false);
    params.top_logprobs = static_cast<int32_t>(get_integer(body, "top_logprobs", 0, 20).value_or(0));
    if (params.top_logprobs > 0 && !params.logprobs) {
      throw bad_request("'top_logprobs' needs 'logprobs': true", "top_logprobs");
    }
  } else if (const auto top = get_integer(body, "logprobs", 0, 20)) {
    // completions: logprobs is the number of alternatives; 0 still reports each chosen token's logprob.
    params.logprobs = true;
    params.top_logprobs = static_cast<int32_t>(*top);
  }
  return params;
}

TokenizeParams parse_tokenize_params(const json& body) {
  if (!body.is_object()) throw bad_request("the body must be a JSON object");
  const json* content = find(body, "content");
  if (content == nullptr) throw bad_request("'content' is required", "content");
  if (!content->is_string()) throw wrong_type("content", "a string", *content);
  return {.content = content->get<std::string>(), .add_special = get_bool(body, "add_special").value_or(false)};
}

std::vector<int32_t> parse_detokenize_params(const json& body) {
  if (!body.is_object()) throw bad_request("the body must be a JSON object");
  const json* tokens = find(body, "tokens");
  if (tokens == nullptr) throw bad_request("'tokens' is required", "tokens");
  if (!tokens->is_array()) throw wrong_type("tokens", "an array of token ids", *tokens);
  return parse_token_array(*tokens, "tokens");
}

}  // namespace hearth::server
