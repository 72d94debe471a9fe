// Differential tests: every real chat template in ../shared/templates, for every conversation of a conversation
// file and with add_generation_prompt false and true, must render byte for byte what Python's jinja2 renders
// (or fail with the same message). The shared conversations.json is the target; tests/chat/extra_conversations.json
// adds reasoning, string and parallel tool calls, content parts and odd characters.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "chat/reference_renderer.h"
#include "hearth/chat.h"

namespace hearth::chat {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::filesystem::path templates_folder() { return std::filesystem::path(testing::shared_dir()) / "templates"; }

// Renders every template x conversation x add_generation_prompt with our engine and compares with jinja2.
void expect_all_match(const std::filesystem::path& conversations_path) {
  const std::filesystem::path folder = templates_folder();
  ASSERT_TRUE(std::filesystem::exists(conversations_path)) << conversations_path;
  const json conversations = json::parse(read_file(conversations_path));
  const json reference =
      testing::run_reference("'" + folder.string() + "' '" + conversations_path.string() + "'");
  const json& results = reference.at("results");
  ASSERT_EQ(results.size(), conversations.at("cases").size() * 2 *
                                static_cast<size_t>(std::count_if(
                                    std::filesystem::directory_iterator(folder), std::filesystem::directory_iterator(),
                                    [](const auto& entry) { return entry.path().extension() == ".jinja"; })));

  std::map<std::string, json> cases;
  for (const json& c : conversations.at("cases")) cases[c.at("name").get<std::string>()] = c;
  TemplateOptions options;
  options.fixed_now = testing::reference_now();
  std::map<std::string, std::unique_ptr<Template>> parsed;

  size_t matched = 0;
  std::map<std::string, size_t> failures_per_template;
  for (const json& expected : results) {
    const std::string name = expected.at("template").get<std::string>();
    const json& conversation = cases.at(expected.at("case").get<std::string>());
    ChatRequest request;
    request.messages = conversation.at("messages");
    if (conversation.value("tools", false)) request.tools = conversations.at("tools");
    request.add_generation_prompt = expected.at("add_generation_prompt").get<bool>();
    request.bos_token = "<s>";
    request.eos_token = "</s>";
    request.extra_context = conversation.value("extra_context", json::object());

    std::string output;
    std::string error;
    try {
      auto& chat_template = parsed[name];
      if (!chat_template) chat_template = std::make_unique<Template>(read_file(folder / name), options);
      output = apply_chat_template(*chat_template, request);
    } catch (const TemplateError& e) {
      error = e.message();
    }
    const std::string label = name + " / " + expected.at("case").get<std::string>() +
                              (request.add_generation_prompt ? " / generation prompt" : "");
    if (expected.contains("error")) {
      const std::string expected_error = expected.at("error").get<std::string>();
      if (error == expected_error) {
        ++matched;
      } else {
        ++failures_per_template[name];
        ADD_FAILURE() << label << ": jinja2 raised \"" << expected_error << "\", we "
                      << (error.empty() ? "rendered:\n" + output : "raised \"" + error + "\"");
      }
      continue;
    }
    const std::string expected_output = expected.at("output").get<std::string>();
    if (error.empty() && output == expected_output) {
      ++matched;
    } else {
      ++failures_per_template[name];
      ADD_FAILURE() << label << ": "
                    << (error.empty() ? "output differs.\n--- jinja2:\n" + expected_output + "\n--- ours:\n" + output
                                      : "we raised \"" + error + "\"; jinja2 rendered:\n" + expected_output);
    }
  }
  std::printf("%zu / %zu template x conversation renders match jinja2 (%s)\n", matched, results.size(),
              conversations_path.filename().c_str());
  for (const auto& [name, count] : failures_per_template) std::printf("  %s: %zu mismatches\n", name.c_str(), count);
  EXPECT_EQ(matched, results.size());
}

TEST(RealTemplates, SharedConversationsMatchJinja2) { expect_all_match(templates_folder() / "conversations.json"); }

TEST(RealTemplates, ExtraConversationsMatchJinja2) {
  expect_all_match(std::filesystem::path(HEARTH_SOURCE_DIR) / "tests/chat/extra_conversations.json");
}

}  // namespace
}  // namespace hearth::chat
