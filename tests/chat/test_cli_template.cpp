// `hearth template` end to end: templates from a file, a GGUF model (embedded or fallback) or the built-in set,
// checked byte for byte against jinja2 and the library, and its error reporting.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat/reference_renderer.h"
#include "cli/run_command.h"
#include "hearth/chat.h"
#include "hearth/gguf.h"

namespace hearth::chat {
namespace {

namespace fs = std::filesystem;

class TemplateCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(hearth_binary())) << "build hearth_cli first: " << hearth_binary();
    dir_ = fs::temp_directory_path() / ("hearth-template-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    write("messages.json", messages_.dump());
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string hearth_binary() { return std::string(HEARTH_BIN_DIR) + "/hearth"; }

  std::string write(const std::string& name, const std::string& content) {
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path.string();
  }

  test::CommandResult hearth(const std::string& arguments, bool with_stderr = false) {
    return test::run_command(hearth_binary() + " template " + arguments + (with_stderr ? " 2>&1" : " 2>/dev/null"));
  }

  std::string messages_path() const { return (dir_ / "messages.json").string(); }

  fs::path dir_;
  const json messages_ = json::parse(R"([{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": "Hi ✓ \"there\""}])");
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST_F(TemplateCommand, RendersATemplateFileLikeJinja2) {
  const fs::path file = fs::path(testing::shared_dir()) / "templates/Qwen-Qwen2.5-7B-Instruct.jinja";
  const auto result = hearth("--file '" + file.string() + "' --messages " + messages_path() + " --add-generation-prompt");
  ASSERT_EQ(result.exit_code, 0) << result.out;
  const json expected = testing::reference_render(
      read_file(file), {{"messages", messages_}, {"add_generation_prompt", true}, {"bos_token", ""}, {"eos_token", ""}});
  EXPECT_EQ(result.out, expected.at("output").get<std::string>());
}

TEST_F(TemplateCommand, ToolsAndBosEosOptions) {
  const fs::path file = fs::path(testing::shared_dir()) / "templates/meta-llama-Llama-3.1-8B-Instruct.jinja";
  const json tools = json::parse(R"([{"type": "function", "function": {"name": "f", "description": "d",
                                      "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}}}])");
  const std::string tools_path = write("tools.json", tools.dump());
  const auto result = hearth("--file '" + file.string() + "' --messages " + messages_path() + " --tools " + tools_path +
                             " --bos '<B>' --eos '<E>'");
  ASSERT_EQ(result.exit_code, 0) << result.out;
  const json expected = testing::reference_render(read_file(file), {{"messages", messages_},
                                                                    {"tools", tools},
                                                                    {"add_generation_prompt", false},
                                                                    {"bos_token", "<B>"},
                                                                    {"eos_token", "<E>"}});
  EXPECT_EQ(result.out, expected.at("output").get<std::string>());
  EXPECT_EQ(result.out.substr(0, 3), "<B>");
}

TEST_F(TemplateCommand, MessagesFileMayCarryTools) {
  const json document = {{"messages", messages_}, {"tools", json::array({{{"type", "function"}, {"function", {{"name", "g"}}}}})}};
  const std::string path = write("conversation.json", document.dump());
  const auto result = hearth("--builtin chatml --messages " + path);
  ASSERT_EQ(result.exit_code, 0) << result.out;
  EXPECT_NE(result.out.find("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"g\"}}\n</tools>"), std::string::npos)
      << result.out;
}

TEST_F(TemplateCommand, ModelTemplateWithItsOwnBosAndEos) {
  const fs::path model = fs::path(testing::shared_dir()) / "vocab/ggml-vocab-phi-3.gguf";
  const gguf::File file = gguf::File::open(model);
  const auto tokens = file.get_array<std::string_view>("tokenizer.ggml.tokens");
  const std::string bos(tokens.at(file.get<uint32_t>("tokenizer.ggml.bos_token_id")));
  const std::string eos(tokens.at(file.get<uint32_t>("tokenizer.ggml.eos_token_id")));
  const std::string source(file.get<std::string_view>("tokenizer.chat_template"));
  const json user_only = json::array({messages_[1]});
  const std::string path = write("user.json", user_only.dump());
  const auto result = hearth("-m '" + model.string() + "' --messages " + path + " --add-generation-prompt");
  ASSERT_EQ(result.exit_code, 0) << result.out;
  const json expected = testing::reference_render(
      source, {{"messages", user_only}, {"add_generation_prompt", true}, {"bos_token", bos}, {"eos_token", eos}});
  EXPECT_EQ(result.out, expected.at("output").get<std::string>());
  EXPECT_EQ(result.out.substr(0, bos.size()), bos);
}

TEST_F(TemplateCommand, ModelWithoutTemplateUsesTheArchitecturesFallback) {
  gguf::Writer writer;
  writer.set("general.architecture", std::string("llama"));
  writer.set("tokenizer.ggml.model", std::string("gpt2"));
  writer.set("tokenizer.ggml.tokens", gguf::Value::string_array({"<|begin_of_text|>", "<|eot_id|>", "hello"}));
  writer.set("tokenizer.ggml.bos_token_id", uint32_t{0});
  writer.set("tokenizer.ggml.eos_token_id", uint32_t{1});
  const fs::path model = dir_ / "no-template.gguf";
  writer.write(model);
  const auto result = hearth("-m '" + model.string() + "' --messages " + messages_path() + " --add-generation-prompt", true);
  ASSERT_EQ(result.exit_code, 0) << result.out;
  ChatRequest request;
  request.messages = messages_;
  request.add_generation_prompt = true;
  request.bos_token = "<|begin_of_text|>";
  request.eos_token = "<|eot_id|>";
  const std::string expected = apply_chat_template(Template(builtin_template("llama-3")), request);
  EXPECT_EQ(result.out,
            "hearth template: the model has no chat template; using the built-in 'llama-3' template\n" + expected);
}

TEST_F(TemplateCommand, ErrorsAreOneLineAndExitOne) {
  const fs::path gemma = fs::path(testing::shared_dir()) / "templates/google-gemma-2-2b-it.jinja";
  auto result = hearth("--file '" + gemma.string() + "' --messages " + messages_path(), true);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "hearth template: chat template line 1: System role not supported\n");

  result = hearth("--messages " + messages_path(), true);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "hearth template: give the template with --file, -m/--model or --builtin\n");

  result = hearth("--builtin chatml --messages " + write("bad.json", "[{"), true);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.out.find("hearth template: messages file"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("is not valid JSON"), std::string::npos) << result.out;

  result = hearth("--builtin nope --messages " + messages_path(), true);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.out.find("unknown built-in chat template 'nope'"), std::string::npos) << result.out;

  result = hearth("--file " + write("broken.jinja", "{% if %}") + " --messages " + messages_path(), true);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "hearth template: chat template line 1: Expected an expression, got 'end of statement block'\n");
}

}  // namespace
}  // namespace hearth::chat
