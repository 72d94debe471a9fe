// Tool-call syntaxes as data, and one parser for all of them: a left-to-right scan of the reply where each decision
// depends only on the text up to where it is made, so that parsing a growing text releases content, reasoning and
// calls that a later, longer text never takes back.
#include "hearth/tool_calls.h"

#include <algorithm>
#include <stdexcept>

#include "chat/reply_pattern.h"

namespace hearth::chat {
namespace {

using json = nlohmann::ordered_json;

// Markers are searched in this order: the more specific families first (Qwen3-Coder's template contains both
// "<parameter=" and "<tool_call>", Hermes' both "<tool_call>" and Llama 3's "parameters" instructions).
const std::vector<ReplySyntax> kSyntaxes = {
    {.name = "seed-oss", .marker = "<seed:tool_call>",
     .call = "<seed:tool_call>{ws}<function={name}>{ws}{params}</function>{ws}</seed:tool_call>",
     .parameter = "<parameter={key}>{value}</parameter>{ws}"},
    {.name = "qwen3-coder", .marker = "<parameter=",
     .call = "<tool_call>{ws}<function={name}>{ws}{params}</function>{ws}</tool_call>",
     .parameter = "<parameter={key}>{value}</parameter>{ws}"},
    {.name = "glm-4.5", .marker = "<arg_key>", .call = "<tool_call>{name}{ws}{params}</tool_call>",
     .parameter = "<arg_key>{key}</arg_key>{ws}<arg_value>{value}</arg_value>{ws}"},
    {.name = "minimax-m2", .marker = "<minimax:tool_call>", .section_open = "<minimax:tool_call>",
     .section_close = "</minimax:tool_call>", .call = "<invoke name=\"{name}\">{ws}{params}</invoke>",
     .parameter = "<parameter name=\"{key}\">{value}</parameter>{ws}"},
    {.name = "deepseek-v4", .marker = "dsml_token + 'tool_calls>", .section_open = "<｜DSML｜tool_calls>",
     .section_close = "</｜DSML｜tool_calls>", .call = "<｜DSML｜invoke name=\"{name}\">{ws}{params}</｜DSML｜invoke>",
     .parameter = "<｜DSML｜parameter name=\"{key}\" string=\"{skip}\">{value}</｜DSML｜parameter>{ws}"},
    {.name = "deepseek-v3.2", .marker = "｜DSML｜", .section_open = "<｜DSML｜function_calls>",
     .section_close = "</｜DSML｜function_calls>", .call = "<｜DSML｜invoke name=\"{name}\">{ws}{params}</｜DSML｜invoke>",
     .parameter = "<｜DSML｜parameter name=\"{key}\" string=\"{skip}\">{value}</｜DSML｜parameter>{ws}"},
    {.name = "deepseek-r1", .marker = "'```json'",
     .section_open = "<｜tool▁calls▁begin｜>", .section_close = "<｜tool▁calls▁end｜>",
     .call = "<｜tool▁call▁begin｜>function<｜tool▁sep｜>{name}\n```json\n{args}\n```<｜tool▁call▁end｜>"},
    {.name = "deepseek-v3.1", .marker = "<｜tool▁calls▁begin｜>", .section_open = "<｜tool▁calls▁begin｜>",
     .section_close = "<｜tool▁calls▁end｜>", .call = "<｜tool▁call▁begin｜>{name}<｜tool▁sep｜>{args}<｜tool▁call▁end｜>"},
    {.name = "kimi-k2", .marker = "<|tool_calls_section_begin|>", .section_open = "<|tool_calls_section_begin|>",
     .section_close = "<|tool_calls_section_end|>",
     .call = "<|tool_call_begin|>functions.{name}:{skip}<|tool_call_argument_begin|>{args}<|tool_call_end|>"},
    {.name = "command-r7b", .marker = "<|START_ACTION|>", .section_open = "<|START_ACTION|>",
     .section_close = "<|END_ACTION|>", .call = "{call tool_name parameters}", .reasoning_open = "<|START_THINKING|>",
     .reasoning_close = "<|END_THINKING|>", .json_list = true},
    {.name = "mistral", .marker = "[ARGS]", .call = "[TOOL_CALLS]{name}[ARGS]{args}"},
    {.name = "mistral-nemo", .marker = "[TOOL_CALLS]", .section_open = "[TOOL_CALLS]",
     .call = "{call name arguments}", .json_list = true},
    {.name = "apriel", .marker = "<tool_calls>", .section_open = "<tool_calls>", .section_close = "</tool_calls>",
     .call = "{call name arguments}", .json_list = true},
    {.name = "nemotron", .marker = "<TOOLCALL>", .section_open = "<TOOLCALL>", .section_close = "</TOOLCALL>",
     .call = "{call name arguments}", .json_list = true},
    {.name = "granite", .marker = "<|tool_call|>", .section_open = "<|tool_call|>", .call = "{call name arguments}",
     .json_list = true},
    {.name = "solar-open", .marker = "<|tool_call:begin|>", .section_open = "<|tool_calls|>", .section_close = "<|calls|>",
     .call = "<|tool_call:begin|>{id}<|tool_call:name|>{name}<|tool_call:args|>{args}<|tool_call:end|>"},
    {.name = "gigachat3", .marker = "'function call'", .call = "function call<|role_sep|>{ws}{call name arguments}"},
    {.name = "gigachat3.1", .marker = "function_call=\"<|function_call|>\"", .call = "<|function_call|>{ws}{call name arguments}"},
    {.name = "minicpm", .marker = "<param name=", .call = "<function name=\"{name}\">{ws}{params}</function>",
     .parameter = "<param name=\"{key}\">{value}</param>{ws}"},
    {.name = "hermes", .marker = "<tool_call>", .call = "<tool_call>{ws}{call name arguments}{ws}</tool_call>"},
    {.name = "functionary-v3.1", .marker = "<function=", .call = "<function={name}>{args}</function>"},
    // Harmony: reasoning on the analysis channel, calls on commentary to a recipient, the answer on final.
    {.name = "gpt-oss", .marker = "<|constrain|>",
     .call = "<|channel|>commentary to=functions.{name} <|constrain|>json<|message|>{args}",
     .reasoning_open = "<|channel|>analysis<|message|>", .reasoning_close = "<|end|>",
     .dropped = {"<|start|>assistant", "<|channel|>final<|message|>", "<|call|>", "<|end|>"}},
    {.name = "llama-3-json", .marker = "\"parameters\": dictionary", .call = "{call name parameters}",
     .call_only_at_start = true, .dropped = {"<|python_tag|>"}},
};

// The hermes layout is also what the built-in templates render, so it is the default.
const ReplySyntax& default_syntax() {
  return *std::find_if(kSyntaxes.begin(), kSyntaxes.end(), [](const ReplySyntax& s) { return s.name == "hermes"; });
}

}  // namespace

const std::vector<ReplySyntax>& reply_syntaxes() { return kSyntaxes; }

ReplySyntax detect_reply_syntax(std::string_view template_source) {
  const auto match = std::find_if(kSyntaxes.begin(), kSyntaxes.end(), [&](const ReplySyntax& syntax) {
    return template_source.find(syntax.marker) != std::string_view::npos;
  });
  ReplySyntax found = match != kSyntaxes.end() ? *match : default_syntax();
  if (found.reasoning_open.empty() && template_source.find("<think>") != std::string_view::npos) {
    found.reasoning_open = "<think>";
    found.reasoning_close = "</think>";
  }
  return found;
}

ReplyParser::ReplyParser(ReplySyntax syntax, const json& tools, bool in_reasoning)
    : syntax_(syntax), tools_(tools.is_array() ? tools : json::array()), in_reasoning_(in_reasoning) {}

ReplyDelta ReplyParser::push(std::string_view text) {
  text_.append(text);
  return update(false);
}

ReplyDelta ReplyParser::finish() { return update(true); }

ReplyDelta ReplyParser::update(bool final) {
  const Reply now = scan_reply(syntax_, tools_, text_, in_reasoning_, final);
  ReplyDelta delta;
  // scan_reply never takes back what a shorter text released (tests/chat/test_tool_calls checks every split).
  if (now.content.size() > reply_.content.size()) delta.content = now.content.substr(reply_.content.size());
  if (now.reasoning.size() > reply_.reasoning.size()) delta.reasoning = now.reasoning.substr(reply_.reasoning.size());
  delta.calls.assign(now.calls.begin() + static_cast<std::ptrdiff_t>(std::min(reply_.calls.size(), now.calls.size())),
                     now.calls.end());
  reply_ = now;
  return delta;
}

Reply parse_reply(const ReplySyntax& syntax, std::string_view text, const json& tools, bool in_reasoning) {
  ReplyParser parser(syntax, tools, in_reasoning);
  parser.push(text);
  parser.finish();
  return parser.reply();
}

}  // namespace hearth::chat
