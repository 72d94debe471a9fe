// Chat formatting over the Jinja engine: the request -> template context mapping, and the built-in fallback
// templates for models that ship none.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <stdexcept>

#include "hearth/chat.h"

namespace hearth::chat {
namespace {

// Shared by the fallbacks: message content may be a string or a list of parts ({"type": "text", "text": ...});
// a tool call renders as the JSON object most models are trained to emit.
constexpr std::string_view kHelpers = R"jinja(
{%- macro render_content(content) -%}
    {%- if content is string -%}
        {{- content -}}
    {%- elif content is iterable and content is not mapping -%}
        {%- for part in content -%}
            {%- if part is string -%}
                {{- part -}}
            {%- elif part is mapping and part.type == 'text' -%}
                {{- part.text -}}
            {%- endif -%}
        {%- endfor -%}
    {%- elif content is defined and content is not none -%}
        {{- content | string -}}
    {%- endif -%}
{%- endmacro -%}
{%- macro tool_call_json(call) -%}
    {%- set function = call.function if call.function is defined else call -%}
    {%- set arguments = function.arguments | default({}) -%}
    {{- '{"name": ' ~ (function.name | tojson) ~ ', "arguments": ' ~ (arguments if arguments is string else arguments | tojson) ~ '}' -}}
{%- endmacro -%}
{%- macro render_tool_calls(message, separator) -%}
    {%- for call in message.tool_calls | default([], true) -%}
        {{- separator ~ tool_call_json(call) -}}
    {%- endfor -%}
{%- endmacro -%}
)jinja";

constexpr std::string_view kChatml = R"jinja(
{%- set system = namespace(text='', merged=false) -%}
{%- if tools -%}
    {%- if messages and messages[0].role == 'system' -%}
        {%- set system.text = render_content(messages[0].content) ~ '\n\n' -%}
        {%- set system.merged = true -%}
    {%- endif -%}
    {{- '<|im_start|>system\n' ~ system.text -}}
    {{- '# Tools\n\nYou may call one or more functions to assist with the user query.\n\n' -}}
    {{- 'You are provided with function signatures within <tools></tools> XML tags:\n<tools>' -}}
    {%- for tool in tools -%}
        {{- '\n' ~ (tool | tojson) -}}
    {%- endfor -%}
    {{- '\n</tools>\n\nFor each function call, return a json object with function name and arguments within ' -}}
    {{- '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n' -}}
    {{- '</tool_call><|im_end|>\n' -}}
{%- endif -%}
{%- for message in messages -%}
    {%- if message.role == 'system' -%}
        {%- if not (loop.first and system.merged) -%}
            {{- '<|im_start|>system\n' ~ render_content(message.content) ~ '<|im_end|>\n' -}}
        {%- endif -%}
    {%- elif message.role == 'tool' -%}
        {{- '<|im_start|>user\n<tool_response>\n' ~ render_content(message.content) ~ '\n</tool_response><|im_end|>\n' -}}
    {%- else -%}
        {{- '<|im_start|>' ~ message.role ~ '\n' ~ render_content(message.content) -}}
        {%- for call in message.tool_calls | default([], true) -%}
            {{- '\n<tool_call>\n' ~ tool_call_json(call) ~ '\n</tool_call>' -}}
        {%- endfor -%}
        {{- '<|im_end|>\n' -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|im_start|>assistant\n' -}}
{%- endif -%}
)jinja";

constexpr std::string_view kLlama3 = R"jinja(
{{- bos_token -}}
{%- set system = namespace(merged=false) -%}
{%- if tools -%}
    {{- '<|start_header_id|>system<|end_header_id|>\n\n' -}}
    {%- if messages and messages[0].role == 'system' -%}
        {{- (render_content(messages[0].content) | trim) ~ '\n\n' -}}
        {%- set system.merged = true -%}
    {%- endif -%}
    {{- 'You have access to the following functions. To call a function, respond with JSON in the format ' -}}
    {{- '{"name": function name, "arguments": dictionary of argument name and its value}.\n\n' -}}
    {%- for tool in tools -%}
        {{- (tool | tojson(indent=4)) ~ '\n\n' -}}
    {%- endfor -%}
    {{- '<|eot_id|>' -}}
{%- endif -%}
{%- for message in messages -%}
    {%- if not (loop.first and system.merged) -%}
        {%- set role = 'ipython' if message.role == 'tool' else message.role -%}
        {{- '<|start_header_id|>' ~ role ~ '<|end_header_id|>\n\n' ~ (render_content(message.content) | trim) -}}
        {{- render_tool_calls(message, '') ~ '<|eot_id|>' -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
{%- endif -%}
)jinja";

constexpr std::string_view kLlama2 = R"jinja(
{%- set state = namespace(system='') -%}
{%- for message in messages -%}
    {%- if message.role == 'system' -%}
        {%- set state.system = render_content(message.content) | trim -%}
    {%- elif message.role == 'assistant' -%}
        {{- ' ' ~ (render_content(message.content) | trim) ~ render_tool_calls(message, ' ') ~ ' ' ~ eos_token -}}
    {%- else -%}
        {{- bos_token ~ '[INST] ' -}}
        {%- if state.system -%}
            {{- '<<SYS>>\n' ~ state.system ~ '\n<</SYS>>\n\n' -}}
            {%- set state.system = '' -%}
        {%- endif -%}
        {{- (render_content(message.content) | trim) ~ ' [/INST]' -}}
    {%- endif -%}
{%- endfor -%}
)jinja";

constexpr std::string_view kMistral = R"jinja(
{{- bos_token -}}
{%- set state = namespace(system='') -%}
{%- for message in messages -%}
    {%- if message.role == 'system' -%}
        {%- set state.system = render_content(message.content) | trim -%}
    {%- elif message.role == 'assistant' -%}
        {{- (render_content(message.content) | trim) ~ render_tool_calls(message, ' ') ~ eos_token -}}
    {%- else -%}
        {{- '[INST] ' -}}
        {%- if state.system -%}
            {{- state.system ~ '\n\n' -}}
            {%- set state.system = '' -%}
        {%- endif -%}
        {{- (render_content(message.content) | trim) ~ ' [/INST]' -}}
    {%- endif -%}
{%- endfor -%}
)jinja";

constexpr std::string_view kGemma = R"jinja(
{{- bos_token -}}
{%- set state = namespace(system='') -%}
{%- for message in messages -%}
    {%- if message.role == 'system' -%}
        {%- set state.system = (render_content(message.content) | trim) ~ '\n\n' -%}
    {%- else -%}
        {%- set role = 'model' if message.role == 'assistant' else 'user' -%}
        {{- '<start_of_turn>' ~ role ~ '\n' -}}
        {%- if role == 'user' -%}
            {{- state.system -}}
            {%- set state.system = '' -%}
        {%- endif -%}
        {{- (render_content(message.content) | trim) ~ render_tool_calls(message, '\n') ~ '<end_of_turn>\n' -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<start_of_turn>model\n' -}}
{%- endif -%}
)jinja";

constexpr std::string_view kPhi3 = R"jinja(
{%- for message in messages -%}
    {%- set role = 'user' if message.role == 'tool' else message.role -%}
    {%- set content = render_content(message.content) ~ render_tool_calls(message, '\n') -%}
    {%- if role != 'system' or content -%}
        {{- '<|' ~ role ~ '|>\n' ~ content ~ '<|end|>\n' -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|assistant|>\n' -}}
{%- else -%}
    {{- eos_token -}}
{%- endif -%}
)jinja";

struct BuiltinTemplate {
  std::string_view name;
  std::string_view body;
};

constexpr std::array<BuiltinTemplate, 6> kBuiltins = {{
    {"chatml", kChatml},
    {"llama-3", kLlama3},
    {"llama-2", kLlama2},
    {"mistral", kMistral},
    {"gemma", kGemma},
    {"phi-3", kPhi3},
}};

}  // namespace

const std::vector<std::string_view>& builtin_template_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> out;
    for (const auto& builtin : kBuiltins) out.push_back(builtin.name);
    return out;
  }();
  return names;
}

std::string_view builtin_template(std::string_view name) {
  // Each template is the shared helper macros followed by its own body, built once.
  static const std::vector<std::string> sources = [] {
    std::vector<std::string> out;
    for (const auto& builtin : kBuiltins) out.push_back(std::string(kHelpers) + std::string(builtin.body));
    return out;
  }();
  for (size_t i = 0; i < kBuiltins.size(); ++i) {
    if (kBuiltins[i].name == name) return sources[i];
  }
  throw std::invalid_argument(fmt::format("unknown built-in chat template '{}' (known: {})", name,
                                          fmt::join(builtin_template_names(), ", ")));
}

std::string_view fallback_template_name(std::string_view architecture, bool vocab_is_bpe) {
  if (architecture == "llama") return vocab_is_bpe ? "llama-3" : "llama-2";
  if (architecture.starts_with("qwen")) return "chatml";
  if (architecture.starts_with("gemma")) return "gemma";
  if (architecture == "phi3") return "phi-3";
  return "chatml";
}

std::string apply_chat_template(const Template& chat_template, const ChatRequest& request) {
  if (!request.messages.is_array()) throw std::invalid_argument("chat messages must be a JSON array");
  for (size_t i = 0; i < request.messages.size(); ++i) {
    const json& message = request.messages[i];
    if (!message.is_object()) throw std::invalid_argument(fmt::format("chat message {} is not a JSON object", i));
    const auto role = message.find("role");
    if (role == message.end() || !role->is_string()) {
      throw std::invalid_argument(fmt::format("chat message {} has no string \"role\"", i));
    }
  }
  if (!request.tools.is_null() && !request.tools.is_array()) {
    throw std::invalid_argument("chat tools must be a JSON array (or null for none)");
  }
  if (!request.extra_context.is_object()) throw std::invalid_argument("extra template context must be a JSON object");

  // The request's JSON is read in place: conversations can be large, and nlohmann copies recursively.
  const json add_generation_prompt = request.add_generation_prompt;
  const json bos_token = request.bos_token;
  const json eos_token = request.eos_token;
  std::vector<std::pair<std::string_view, const json*>> variables = {
      {"messages", &request.messages},
      {"add_generation_prompt", &add_generation_prompt},
      {"bos_token", &bos_token},
      {"eos_token", &eos_token},
  };
  if (!request.tools.is_null()) variables.emplace_back("tools", &request.tools);
  for (auto item = request.extra_context.begin(); item != request.extra_context.end(); ++item) {
    const std::string& key = item.key();
    const bool taken = std::any_of(variables.begin(), variables.end(), [&](const auto& v) { return v.first == key; }) ||
                       key == "tools";
    if (taken) throw std::invalid_argument(fmt::format("extra template context may not redefine '{}'", key));
    variables.emplace_back(key, &item.value());
  }
  return chat_template.render_variables(variables);
}

}  // namespace hearth::chat
