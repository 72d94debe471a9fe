// Tool-call parsing: every real template in ../shared/templates renders an assistant turn with tool calls, and the
// syntax detected from that template must parse the calls back out of it, whole and streamed split anywhere; broken
// calls stay content; the tool-call grammar of every syntax generates only replies that parse to valid calls.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "hearth/chat.h"
#include "hearth/tool_calls.h"
#include "support/grammar_walk.h"
#include "support/shared_data.h"

namespace hearth::chat {
namespace {

const json kTools = json::parse(R"([
  {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
                   "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}},
  {"type": "function", "function": {"name": "send_mail", "description": "Sends a mail", "parameters": {"type": "object",
    "properties": {"to": {"type": "string"}, "urgent": {"type": "boolean"}}, "required": ["to", "urgent"]}}}
])");

// Two calls as an OpenAI client sends them back (ids of nine letters and digits, which Mistral's templates demand).
const json kCalls = json::parse(R"([
  {"id": "call00001", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}},
  {"id": "call00002", "type": "function", "function": {"name": "send_mail", "arguments": {"to": "ada@example.com", "urgent": true}}}
])");

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The assistant turn as the template writes it: the conversation with the calls, after the conversation's
// generation prompt. nullopt when the template cannot render the turn or renders it elsewhere.
std::optional<std::string> rendered_reply(const Template& chat_template, const json& calls) {
  ChatRequest request;
  request.messages = json::array({{{"role", "user"}, {"content", "Weather?"}}});
  request.tools = kTools;
  request.bos_token = "<s>";
  request.eos_token = "</s>";
  request.add_generation_prompt = true;
  try {
    const std::string prompt = apply_chat_template(chat_template, request);
    request.messages.push_back({{"role", "assistant"}, {"content", ""}, {"tool_calls", calls}});
    request.add_generation_prompt = false;
    const std::string full = apply_chat_template(chat_template, request);
    // What follows the user's message, less what the generation prompt has there too (templates differ on what
    // a finished turn keeps of it, e.g. an opened "<think>").
    const std::string_view tail = std::string_view(prompt).substr(prompt.rfind("Weather?") + 8);
    const std::size_t at = full.rfind("Weather?");
    if (at == std::string::npos) return std::nullopt;
    const std::string_view rest = std::string_view(full).substr(at + 8);
    std::size_t common = 0;
    while (common < tail.size() && common < rest.size() && tail[common] == rest[common]) ++common;
    // Back to the end of a line or a tag, so that a shared "<" of different tags stays with the reply.
    while (common > 0 && common < tail.size() && tail[common - 1] != '\n' && tail[common - 1] != '>') --common;
    return std::string(rest.substr(common));
  } catch (const std::exception&) {
    return std::nullopt;  // the template refuses this turn (one call at most, arguments as a string, ...)
  }
}

void expect_calls(const Reply& reply, const json& calls, const std::string& label) {
  ASSERT_EQ(reply.calls.size(), calls.size()) << label;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(reply.calls[i].name, calls[i]["function"]["name"]) << label;
    EXPECT_EQ(json::parse(reply.calls[i].arguments), calls[i]["function"]["arguments"]) << label << ": " << reply.calls[i].arguments;
  }
  EXPECT_EQ(reply.content.find("get_weather"), std::string::npos) << label << ": " << reply.content;
}

// Feeds the text in pieces cut at `cuts` and checks that what the deltas add up to is the whole-text parse.
void expect_stream_matches(const ReplySyntax& syntax, std::string_view text, const std::vector<std::size_t>& cuts,
                           const Reply& whole, const std::string& label) {
  ReplyParser parser(syntax, kTools);
  Reply streamed;
  std::size_t from = 0;
  const auto add = [&](const ReplyDelta& delta) {
    streamed.content += delta.content;
    streamed.reasoning += delta.reasoning;
    streamed.calls.insert(streamed.calls.end(), delta.calls.begin(), delta.calls.end());
  };
  for (const std::size_t cut : cuts) {
    add(parser.push(text.substr(from, cut - from)));
    from = cut;
  }
  add(parser.push(text.substr(from)));
  add(parser.finish());
  EXPECT_EQ(streamed.content, whole.content) << label;
  EXPECT_EQ(streamed.reasoning, whole.reasoning) << label;
  EXPECT_EQ(streamed.calls, whole.calls) << label;
}

void expect_streaming_at_every_split(const ReplySyntax& syntax, std::string_view text, const std::string& label) {
  const Reply whole = parse_reply(syntax, text, kTools);
  std::vector<std::size_t> every_byte;
  for (std::size_t i = 1; i < text.size(); ++i) {
    expect_stream_matches(syntax, text, {i}, whole, label + " split at " + std::to_string(i));
    every_byte.push_back(i);
  }
  expect_stream_matches(syntax, text, every_byte, whole, label + " byte by byte");
}

// The templates whose tool-call turns must parse back, with the syntax each must be detected as. A template that
// renders the calls and is not listed fails the test too, so that the list stays complete.
const std::map<std::string, std::string> kExpectedSyntax = {
    {"Apriel-1.6-15b-Thinker-fixed.jinja", "apriel"},
    {"Bielik-11B-v3.0-Instruct.jinja", "hermes"},
    {"ByteDance-Seed-OSS.jinja", "seed-oss"},
    {"Cohere2MoE.jinja", "command-r7b"},
    {"CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja", "command-r7b"},
    {"GLM-4.6.jinja", "glm-4.5"},
    {"GigaChat3-10B-A1.8B.jinja", "gigachat3"},
    {"GigaChat3.1-10B-A1.8B.jinja", "gigachat3.1"},
    {"Kimi-K2-Instruct.jinja", "kimi-k2"},
    {"Kimi-K2-Thinking.jinja", "kimi-k2"},
    {"MiMo-VL.jinja", "hermes"},
    {"MiniMax-M1.jinja", "apriel"},
    {"MiniMax-M2.jinja", "minimax-m2"},
    {"NVIDIA-Nemotron-Nano-v2.jinja", "nemotron"},
    {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", "hermes"},
    {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "hermes"},
    {"Qwen-QwQ-32B.jinja", "hermes"},
    {"Qwen-Qwen2.5-7B-Instruct.jinja", "hermes"},
    {"Qwen-Qwen3-0.6B.jinja", "hermes"},
    {"Qwen3-Coder.jinja", "qwen3-coder"},
    {"Reka-Edge.jinja", "hermes"},
    {"Spark2.5.jinja", "glm-4.5"},
    {"StepFun3.5-Flash.jinja", "qwen3-coder"},
    {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "deepseek-r1"},
    {"deepseek-ai-DeepSeek-V3.1.jinja", "deepseek-v3.1"},
    {"deepseek-ai-DeepSeek-V3.2.jinja", "deepseek-v3.2"},
    {"deepseek-ai-DeepSeek-V4-Flash-0731.jinja", "deepseek-v4"},
    {"ibm-granite-granite-4.0.jinja", "hermes"},
    {"inclusionai-ling-3.0-flash.jinja", "glm-4.5"},
    {"meetkai-functionary-medium-v3.1.jinja", "functionary-v3.1"},
    {"meta-llama-Llama-3.1-8B-Instruct.jinja", "llama-3-json"},
    {"meta-llama-Llama-3.2-3B-Instruct.jinja", "llama-3-json"},
    {"meta-llama-Llama-3.3-70B-Instruct.jinja", "llama-3-json"},
    {"mistralai-Ministral-3-14B-Reasoning-2512.jinja", "mistral"},
    {"mistralai-Mistral-Nemo-Instruct-2407.jinja", "mistral-nemo"},
    {"moonshotai-Kimi-K2.jinja", "kimi-k2"},
    {"openbmb-MiniCPM5-1B.jinja", "minicpm"},
    {"poolside-Laguna-XS-2.1.jinja", "glm-4.5"},
    {"poolside-Laguna-XS.2.jinja", "glm-4.5"},
    {"unsloth-Apriel-1.5.jinja", "apriel"},
    {"unsloth-mistral-Devstral-Small-2507.jinja", "mistral"},
    {"upstage-Solar-Open-100B.jinja", "solar-open"},
};

// Templates that render calls in a syntax Hearth does not parse yet, and why.
const std::map<std::string, std::string> kUnsupported = {
    {"LFM2.5-8B-A1B.jinja", "Python call syntax: [get_weather(city='Paris')]"},
    {"Apertus-8B-Instruct.jinja", "calls keyed by function name: [{\"get_weather\": {...}}]"},
    {"google-gemma-4-31B-it.jinja", "Gemma 4's own argument syntax: call:get_weather{city:<|\"|>Paris<|\"|>}"},
    {"muse-glimmer.jinja", "harmony-like channels with <atem:function_calls>"},
};

TEST(ToolCalls, EveryRealTemplatesCallsParseBackWholeAndStreamed) {
  const auto folder = std::filesystem::path(test::shared_dir()) / "templates";
  std::set<std::string> parsed;
  std::vector<std::string> unparsed;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.path().extension() != ".jinja") continue;
    const std::string name = entry.path().filename().string();
    const std::string source = read_file(entry.path());
    std::unique_ptr<Template> chat_template;
    try {
      chat_template = std::make_unique<Template>(source);
    } catch (const TemplateError&) {
      continue;
    }
    // Some templates take one call per turn (Llama 3.x): then one.
    // Templates differ in what they take: two calls or one, arguments as an object or as JSON text (the OpenAI
    // wire form). The first form each renders is used.
    json calls;
    std::optional<std::string> reply;
    for (const bool both : {true, false}) {
      for (const bool as_text : {false, true}) {
        calls = both ? kCalls : json::array({kCalls[0]});
        json sent = calls;
        for (json& call : sent) {
          if (as_text) call["function"]["arguments"] = call["function"]["arguments"].dump();
        }
        reply = rendered_reply(*chat_template, sent);
        if (reply && reply->find(both ? "send_mail" : "get_weather") != std::string::npos) break;
      }
      if (reply && reply->find(both ? "send_mail" : "get_weather") != std::string::npos) break;
    }
    const ReplySyntax syntax = detect_reply_syntax(source);
    const bool rendered = reply && reply->find("get_weather") != std::string::npos;
    const auto expected = kExpectedSyntax.find(name);
    if (kUnsupported.contains(name)) continue;
    if (!rendered) {
      EXPECT_EQ(expected, kExpectedSyntax.end()) << name << " no longer renders tool calls";
      continue;
    }
    const Reply whole = parse_reply(syntax, *reply, kTools);
    if (whole.calls.size() != calls.size()) unparsed.push_back(name + " (" + std::string(syntax.name) + "): " + *reply);
    if (expected == kExpectedSyntax.end()) {
      ADD_FAILURE() << name << " renders tool calls but is not in the expected list: " << *reply;
      continue;
    }
    EXPECT_EQ(syntax.name, expected->second) << name;
    expect_calls(whole, calls, name + ": " + *reply);
    if (testing::Test::HasFailure()) continue;
    expect_streaming_at_every_split(syntax, *reply, name);
    parsed.insert(name);
  }
  for (const auto& line : unparsed) ADD_FAILURE() << "not parsed: " << line;
  EXPECT_EQ(parsed.size(), kExpectedSyntax.size());
}

TEST(ToolCalls, ReasoningGoesApartFromContent) {
  const ReplySyntax qwen3 = detect_reply_syntax(read_file(std::filesystem::path(test::shared_dir()) / "templates" / "Qwen-Qwen3-0.6B.jinja"));
  ASSERT_EQ(qwen3.reasoning_open, "<think>");
  const std::string text = "<think>\nThe user wants weather.\n</think>\n\nLet me look.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>";
  const Reply reply = parse_reply(qwen3, text, kTools);
  EXPECT_EQ(reply.reasoning, "The user wants weather.");
  EXPECT_EQ(reply.content, "Let me look.");
  ASSERT_EQ(reply.calls.size(), 1u);
  EXPECT_EQ(reply.calls[0].arguments, R"({"city":"Oslo"})");
  expect_streaming_at_every_split(qwen3, text, "qwen3 reasoning");
  // The prompt opened the block (a generation prompt ending in "<think>"): all up to </think> is reasoning, and a
  // reply that never closes it is reasoning only.
  EXPECT_EQ(parse_reply(qwen3, "plan</think>answer", kTools, true).reasoning, "plan");
  EXPECT_EQ(parse_reply(qwen3, "plan</think>answer", kTools, true).content, "answer");
  EXPECT_EQ(parse_reply(qwen3, "still thinking", kTools, true).reasoning, "still thinking");
  // Without tools nothing is a call.
  const Reply no_tools = parse_reply(qwen3, text, json());
  EXPECT_TRUE(no_tools.calls.empty());
  EXPECT_NE(no_tools.content.find("<tool_call>"), std::string::npos);
}

TEST(ToolCalls, BrokenCallsStayContent) {
  const ReplySyntax hermes = detect_reply_syntax("<tool_call>");
  const ReplySyntax llama = detect_reply_syntax(R"({"name": function name, "parameters": dictionary})");
  const ReplySyntax nemo = detect_reply_syntax("[TOOL_CALLS]");
  const std::vector<std::pair<const ReplySyntax*, std::string>> broken = {
      {&hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Pa"},         // cut off
      {&hermes, "<tool_call>\n{\"name\": \"delete_all\", \"arguments\": {}}\n</tool_call>"},        // unknown tool
      {&hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": [1]}\n</tool_call>"},      // not an object
      {&hermes, "<tool_call>\n{\"name\": \"get_weather\" \"arguments\": {}}\n</tool_call>"},        // not JSON
      {&llama, "{\"name\": \"get_weather\"}"},                                                         // no parameters
      {&llama, "Sure: {\"name\": \"get_weather\", \"parameters\": {}}"},                               // not at the start
      {&nemo, "[TOOL_CALLS][{\"name\": \"get_weather\", \"argu"},
  };
  for (const auto& [syntax, text] : broken) {
    const Reply reply = parse_reply(*syntax, text, kTools);
    EXPECT_TRUE(reply.calls.empty()) << text;
    EXPECT_EQ(reply.content, text) << text;
    expect_streaming_at_every_split(*syntax, text, text);
  }
  // A good call before a broken one in a section is kept; the rest is content.
  const std::string text = R"([TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Rome"}}, {"name": "nope", "arguments": {}}])";
  const Reply reply = parse_reply(nemo, text, kTools);
  ASSERT_EQ(reply.calls.size(), 1u);
  EXPECT_EQ(reply.content, R"({"name": "nope", "arguments": {}}])");
  expect_streaming_at_every_split(nemo, text, "nemo half good");
  // Arguments given as a JSON string (as some models write them) are read as the object inside.
  const Reply stringy = parse_reply(hermes, R"(<tool_call>{"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}</tool_call>)", kTools);
  ASSERT_EQ(stringy.calls.size(), 1u);
  EXPECT_EQ(stringy.calls[0].arguments, R"({"city":"Rome"})");
}

TEST(ToolCalls, HarmonyChannelsAndLlamasPythonTag) {
  const ReplySyntax harmony = detect_reply_syntax("{{- '<|constrain|>' }}");
  ASSERT_EQ(harmony.name, "gpt-oss");
  const std::string call = "<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary "
                           "to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Paris\"}<|call|>";
  const Reply called = parse_reply(harmony, call, kTools);
  EXPECT_EQ(called.reasoning, "Need the weather.");
  EXPECT_EQ(called.content, "");
  ASSERT_EQ(called.calls.size(), 1u);
  EXPECT_EQ(called.calls[0].arguments, R"({"city":"Paris"})");
  expect_streaming_at_every_split(harmony, call, "harmony call");
  const std::string answer = "<|channel|>analysis<|message|>Easy.<|end|><|start|>assistant<|channel|>final<|message|>Hello!";
  const Reply answered = parse_reply(harmony, answer, kTools);
  EXPECT_EQ(answered.reasoning, "Easy.");
  EXPECT_EQ(answered.content, "Hello!");
  expect_streaming_at_every_split(harmony, answer, "harmony answer");
  EXPECT_EQ(parse_reply(harmony, "<|channel|>final<|message|>Hi<|end|>", kTools).content, "Hi");

  const ReplySyntax llama = detect_reply_syntax(R"({"name": function name, "parameters": dictionary})");
  const std::string tagged = R"(<|python_tag|>{"name": "get_weather", "parameters": {"city": "Rome"}})";
  const Reply reply = parse_reply(llama, tagged, kTools);
  ASSERT_EQ(reply.calls.size(), 1u);
  EXPECT_EQ(reply.content, "");
  expect_streaming_at_every_split(llama, tagged, "python_tag");
}

TEST(ToolCalls, ParametersWrittenAsTextTakeTheirSchemasType) {
  const ReplySyntax coder = detect_reply_syntax("<parameter=");
  const Reply reply = parse_reply(coder,
                                  "<tool_call>\n<function=get_weather>\n<parameter=city>\nNew York\n</parameter>\n"
                                  "<parameter=days>\n12\n</parameter>\n</function>\n</tool_call>",
                                  kTools);
  ASSERT_EQ(reply.calls.size(), 1u);
  EXPECT_EQ(reply.calls[0].arguments, R"({"city":"New York","days":12})");
  // A value that is not UTF-8 (found by fuzz_tool_calls) becomes U+FFFD in the arguments, not an exception.
  const Reply raw = parse_reply(coder, "<tool_call>\n<function=get_weather>\n<parameter=city>\n\xff\n</parameter>\n</function>\n</tool_call>", kTools);
  ASSERT_EQ(raw.calls.size(), 1u);
  EXPECT_EQ(raw.calls[0].arguments, "{\"city\":\"\xEF\xBF\xBD\"}");
}

TEST(ToolCalls, EverySyntaxsGrammarWritesCallsThatParse) {
  std::mt19937_64 random(7);
  for (const ReplySyntax& syntax : reply_syntaxes()) {
    for (const bool parallel : {false, true}) {
      for (const std::optional<std::string_view> function : {std::optional<std::string_view>(), std::optional<std::string_view>("send_mail")}) {
        const std::string label = fmt::format("{} parallel={} function={}", syntax.name, parallel, function.value_or("any"));
        grammar::Grammar grammar = grammar::Grammar::parse("root ::= \"x\"");
        ASSERT_NO_THROW(grammar = tool_call_grammar(syntax, kTools, function, parallel)) << label << "\n" << tool_call_gbnf(syntax, kTools, function, parallel);
        for (int i = 0; i < 8; ++i) {
          const std::optional<std::string> sentence = test::random_sentence(grammar, random, 4000);
          if (!sentence) continue;
          const Reply reply = parse_reply(syntax, *sentence, kTools);
          ASSERT_FALSE(reply.calls.empty()) << label << ": " << *sentence;
          if (!parallel || syntax.call_only_at_start) EXPECT_EQ(reply.calls.size(), 1u) << label << ": " << *sentence;
          EXPECT_EQ(reply.content, "") << label << ": " << *sentence;
          for (const ToolCall& call : reply.calls) {
            if (function) EXPECT_EQ(call.name, *function) << label;
            const json arguments = json::parse(call.arguments);
            if (call.name == "send_mail") {
              EXPECT_TRUE(arguments["to"].is_string()) << label << ": " << *sentence;
              EXPECT_TRUE(arguments["urgent"].is_boolean()) << label << ": " << *sentence;
            } else {
              EXPECT_TRUE(arguments["city"].is_string()) << label << ": " << *sentence;
            }
          }
        }
      }
    }
  }
  // The triggered grammar: the trigger and then what it generates is a whole call (or section of calls).
  for (const ReplySyntax& syntax : reply_syntaxes()) {
    const TriggeredToolGrammar triggered = triggered_tool_call_grammar(syntax, kTools, true);
    EXPECT_EQ(triggered.at_start, syntax.call_only_at_start) << syntax.name;
    for (int i = 0; i < 8; ++i) {
      const std::optional<std::string> sentence = test::random_sentence(triggered.grammar, random, 4000);
      if (!sentence) continue;
      const std::string text = "Sure. " + std::string(syntax.call_only_at_start ? "" : "Calling.\n") + triggered.trigger + *sentence;
      const Reply reply = parse_reply(syntax, syntax.call_only_at_start ? triggered.trigger + *sentence : text, kTools);
      ASSERT_FALSE(reply.calls.empty()) << syntax.name << ": " << text;
      if (syntax.section_open.empty()) EXPECT_EQ(reply.calls.size(), 1u) << syntax.name << ": " << text;
      if (!syntax.call_only_at_start) EXPECT_EQ(reply.content, "Sure. Calling.") << syntax.name << ": " << text;
      // The grammar's language ends with the call: nothing may follow, so the constraint lets go there.
      grammar::Matcher matcher(triggered.grammar);
      ASSERT_TRUE(matcher.accept(*sentence));
      EXPECT_TRUE(matcher.must_end()) << syntax.name << ": " << *sentence;
    }
  }
  EXPECT_THROW(tool_call_gbnf(reply_syntaxes().front(), kTools, "no_such_tool", false), std::invalid_argument);
  EXPECT_THROW(tool_call_gbnf(reply_syntaxes().front(), json::array(), std::nullopt, false), std::invalid_argument);
}

}  // namespace
}  // namespace hearth::chat
