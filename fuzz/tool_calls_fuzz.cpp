// Fuzzes the reply parser: the first byte picks a reply syntax, the second where to split the rest; the rest is a
// model's reply. Parsing must not fail, every call must carry a JSON object of arguments, and the reply streamed in
// two pieces must add up to the reply parsed whole.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "hearth/tool_calls.h"

namespace {
const nlohmann::ordered_json kTools = nlohmann::ordered_json::parse(R"([
  {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties":
    {"city": {"type": "string"}, "days": {"type": "integer"}}}}},
  {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])");
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const auto& syntaxes = hearth::chat::reply_syntaxes();
  const hearth::chat::ReplySyntax& syntax = syntaxes[data[0] % syntaxes.size()];
  const bool in_reasoning = (data[0] / syntaxes.size()) % 2 == 1;
  const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);
  const std::size_t split = text.empty() ? 0 : data[1] % (text.size() + 1);

  const hearth::chat::Reply whole = hearth::chat::parse_reply(syntax, text, kTools, in_reasoning);
  for (const auto& call : whole.calls) {
    if (!nlohmann::json::parse(call.arguments, nullptr, false).is_object()) __builtin_trap();
  }
  hearth::chat::ReplyParser parser(syntax, kTools, in_reasoning);
  hearth::chat::Reply streamed;
  for (const hearth::chat::ReplyDelta& delta : {parser.push(text.substr(0, split)), parser.push(text.substr(split)), parser.finish()}) {
    streamed.content += delta.content;
    streamed.reasoning += delta.reasoning;
    streamed.calls.insert(streamed.calls.end(), delta.calls.begin(), delta.calls.end());
  }
  if (streamed.content != whole.content || streamed.reasoning != whole.reasoning || streamed.calls != whole.calls) {
    __builtin_trap();
  }
  return 0;
}
