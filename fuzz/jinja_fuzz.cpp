// Fuzzes the Jinja engine: the input is a template, parsed and rendered (with small sandbox limits) over a
// conversation with tools. Any outcome but a clean render or a TemplateError is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "hearth/chat.h"

namespace {

const hearth::chat::json& context() {
  static const hearth::chat::json value = hearth::chat::json::parse(R"({
    "messages": [
      {"role": "system", "content": "You are terse."},
      {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
      {"role": "assistant", "content": "", "reasoning_content": "Use the tool.", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "n": 1.5}}}]},
      {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temp\": 21}"},
      {"role": "user", "content": "Thanks ✓"}],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>", "numbers": [3, -1, 2.5, 0]})");
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hearth::chat::TemplateOptions options;
  options.limits.max_loop_iterations = 20'000;
  options.limits.max_output_bytes = 1 << 16;
  options.limits.max_call_depth = 30;
  options.limits.max_nesting_depth = 60;
  options.fixed_now = std::tm{};
  try {
    const hearth::chat::Template chat_template(std::string_view(reinterpret_cast<const char*>(data), size), options);
    chat_template.render(context());
  } catch (const hearth::chat::TemplateError&) {
  }
  return 0;
}
