// The chat-formatting API: request validation, the context a template sees, the built-in fallback templates
// (exact prompts, and identical to what jinja2 renders from them), and the architecture -> fallback mapping.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat/reference_renderer.h"
#include "hearth/chat.h"

namespace hearth::chat {
namespace {

ChatRequest short_chat() {
  ChatRequest request;
  request.messages = json::parse(R"([
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "Bye"}])");
  request.add_generation_prompt = true;
  request.bos_token = "<s>";
  request.eos_token = "</s>";
  return request;
}

std::string render_builtin(std::string_view name, const ChatRequest& request) {
  return apply_chat_template(Template(builtin_template(name)), request);
}

TEST(ChatFormat, BuiltinTemplatesProduceTheFamiliesPrompts) {
  const ChatRequest request = short_chat();
  EXPECT_EQ(render_builtin("chatml", request),
            "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(render_builtin("llama-3", request),
            "<s><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(render_builtin("llama-2", request),
            "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Bye [/INST]");
  EXPECT_EQ(render_builtin("mistral", request), "<s>[INST] You are terse.\n\nHi [/INST]Hello.</s>[INST] Bye [/INST]");
  EXPECT_EQ(render_builtin("gemma", request),
            "<s><start_of_turn>user\nYou are terse.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n"
            "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(render_builtin("phi-3", request),
            "<|system|>\nYou are terse.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello.<|end|>\n"
            "<|user|>\nBye<|end|>\n<|assistant|>\n");
}

TEST(ChatFormat, BuiltinTemplatesHandleToolsAndContentParts) {
  ChatRequest request;
  request.messages = json::parse(R"([
    {"role": "user", "content": [{"type": "text", "text": "Weather in "}, {"type": "text", "text": "Paris?"}]},
    {"role": "assistant", "content": "", "tool_calls": [
      {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "{\"temp\": 21}"}])");
  request.tools = json::parse(R"([{"type": "function", "function": {"name": "get_weather", "parameters": {}}}])");
  const std::string chatml = render_builtin("chatml", request);
  EXPECT_NE(chatml.find("<|im_start|>user\nWeather in Paris?<|im_end|>"), std::string::npos) << chatml;
  EXPECT_NE(chatml.find("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {}}}\n</tools>"),
            std::string::npos)
      << chatml;
  EXPECT_NE(chatml.find("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"),
            std::string::npos)
      << chatml;
  EXPECT_NE(chatml.find("<tool_response>\n{\"temp\": 21}\n</tool_response>"), std::string::npos) << chatml;
  const std::string llama3 = render_builtin("llama-3", request);
  EXPECT_NE(llama3.find("<|start_header_id|>ipython<|end_header_id|>\n\n{\"temp\": 21}<|eot_id|>"), std::string::npos)
      << llama3;
}

// The fallbacks are ordinary Jinja: jinja2 must render them to the same bytes, for every shared conversation.
TEST(ChatFormat, BuiltinTemplatesRenderLikeJinja2) {
  std::ifstream in(std::filesystem::path(testing::shared_dir()) / "templates/conversations.json");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const json conversations = json::parse(buffer.str());
  std::vector<std::pair<std::string, json>> renders;
  std::vector<std::string> ours;
  std::vector<std::string> labels;
  for (std::string_view name : builtin_template_names()) {
    const std::string source(builtin_template(name));
    const Template chat_template(source);
    for (const json& c : conversations.at("cases")) {
      for (bool generation_prompt : {false, true}) {
        ChatRequest request;
        request.messages = c.at("messages");
        if (c.value("tools", false)) request.tools = conversations.at("tools");
        request.add_generation_prompt = generation_prompt;
        request.bos_token = "<s>";
        request.eos_token = "</s>";
        json context = {{"messages", request.messages},
                        {"add_generation_prompt", generation_prompt},
                        {"bos_token", "<s>"},
                        {"eos_token", "</s>"}};
        if (!request.tools.is_null()) context["tools"] = request.tools;
        renders.emplace_back(source, std::move(context));
        ours.push_back(apply_chat_template(chat_template, request));
        labels.push_back(std::string(name) + " / " + c.at("name").get<std::string>());
      }
    }
  }
  const json expected = testing::reference_render_all(renders);
  ASSERT_EQ(expected.size(), ours.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    ASSERT_TRUE(expected[i].contains("output")) << labels[i] << ": " << expected[i].dump();
    EXPECT_EQ(ours[i], expected[i].at("output").get<std::string>()) << labels[i];
  }
}

TEST(ChatFormat, BuiltinNamesAndFallbacks) {
  EXPECT_EQ(builtin_template_names().size(), 6u);
  for (std::string_view name : builtin_template_names()) EXPECT_FALSE(builtin_template(name).empty()) << name;
  EXPECT_THROW(builtin_template("nope"), std::invalid_argument);
  EXPECT_EQ(fallback_template_name("llama", true), "llama-3");
  EXPECT_EQ(fallback_template_name("llama", false), "llama-2");
  EXPECT_EQ(fallback_template_name("qwen2", true), "chatml");
  EXPECT_EQ(fallback_template_name("qwen3", true), "chatml");
  EXPECT_EQ(fallback_template_name("gemma", false), "gemma");
  EXPECT_EQ(fallback_template_name("gemma3", false), "gemma");
  EXPECT_EQ(fallback_template_name("phi3", true), "phi-3");
  EXPECT_EQ(fallback_template_name("mamba", true), "chatml");
}

TEST(ChatFormat, ContextHoldsTheRequest) {
  const Template probe(
      "{{ messages|length }}|{{ tools is defined }}|{{ add_generation_prompt }}|{{ bos_token }}|{{ eos_token }}|"
      "{{ enable_thinking }}|{{ messages[0].reasoning_content }}|{{ messages[0].name }}");
  ChatRequest request;
  request.messages = json::parse(R"([{"role": "assistant", "content": null, "reasoning_content": "hm", "name": "bot"}])");
  request.bos_token = "B";
  request.eos_token = "E";
  request.extra_context = {{"enable_thinking", false}};
  EXPECT_EQ(apply_chat_template(probe, request), "1|False|False|B|E|False|hm|bot");
  request.tools = json::array();
  request.add_generation_prompt = true;
  EXPECT_EQ(apply_chat_template(probe, request), "1|True|True|B|E|False|hm|bot");
}

TEST(ChatFormat, RejectsMalformedRequests) {
  const Template chat_template("{{ messages }}");
  ChatRequest request;
  request.messages = json::object();
  EXPECT_THROW(apply_chat_template(chat_template, request), std::invalid_argument);
  request.messages = json::parse(R"([{"content": "no role"}])");
  EXPECT_THROW(apply_chat_template(chat_template, request), std::invalid_argument);
  request.messages = json::parse(R"(["not an object"])");
  EXPECT_THROW(apply_chat_template(chat_template, request), std::invalid_argument);
  request.messages = json::parse(R"([{"role": "user", "content": "ok"}])");
  request.tools = json::object();
  EXPECT_THROW(apply_chat_template(chat_template, request), std::invalid_argument);
  request.tools = nullptr;
  request.extra_context = {{"messages", 1}};
  EXPECT_THROW(apply_chat_template(chat_template, request), std::invalid_argument);
  EXPECT_THROW(chat_template.render(json::array()), std::invalid_argument);
}

TEST(ChatFormat, ErrorsNameTheTemplateLine) {
  try {
    Template("line one\n{% if true %}\n{{ raise_exception('nope') }}\n{% endif %}").render(json::object());
    FAIL() << "expected a TemplateError";
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.message(), "nope");
    EXPECT_EQ(e.line(), 3);
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }
  try {
    Template("a\nb\n{% for x in %}");
    FAIL() << "expected a TemplateError";
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.line(), 3);
  }
  try {
    Template("{% set x = {'a': 1} %}\n\n{{ x.a.b.c }}").render(json::object());
    FAIL() << "expected a TemplateError";
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.message(), "'int object' has no attribute 'b'");
    EXPECT_EQ(e.line(), 3);
  }
}

TEST(ChatFormat, StrftimeNowUsesTheClock) {
  char year[8];
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  std::strftime(year, sizeof year, "%Y", &local);
  EXPECT_EQ(Template("{{ strftime_now('%Y') }}").render(json::object()), year);
  TemplateOptions fixed;
  fixed.fixed_now = testing::reference_now();
  EXPECT_EQ(Template("{{ strftime_now('%d %b %Y') }}", fixed).render(json::object()), "15 Jan 2026");
}

TEST(ChatFormat, TemplatesAreReusable) {
  const Template chat_template("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}");
  ChatRequest request = short_chat();
  EXPECT_EQ(apply_chat_template(chat_template, request), "4");
  request.messages.erase(request.messages.begin());
  EXPECT_EQ(apply_chat_template(chat_template, request), "3");
}

}  // namespace
}  // namespace hearth::chat
