#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/run_command.h"
#include "support/shared_data.h"

namespace hearth {
namespace {

std::string hearth() { return (test::bin_dir() / "hearth").string(); }
std::string shared(const char* relative) { return (test::shared_dir() / relative).string(); }

TEST(CliInfo, Llama3VocabSummary) {
  const auto result = test::run_command(hearth() + " info " + shared("vocab/ggml-vocab-llama-bpe.gguf"));
  ASSERT_EQ(result.exit_code, 0) << result.out;
  EXPECT_NE(result.out.find("gpt2 (pre-tokenizer llama-bpe), 128256 tokens"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("chat template                     none"), std::string::npos);
  EXPECT_NE(result.out.find("tokenizer.ggml.tokens"), std::string::npos);
  EXPECT_NE(result.out.find("... (128256 string in all)"), std::string::npos);
}

TEST(CliInfo, DemoModelJson) {
  const auto result = test::run_command(hearth() + " info --json " + shared("models/hearth-demo-13m-q8_0.gguf"));
  ASSERT_EQ(result.exit_code, 0) << result.out;
  const auto info = nlohmann::json::parse(result.out);
  EXPECT_EQ(info["architecture"], "llama");
  EXPECT_EQ(info["file_type"], "Q8_0");
  EXPECT_EQ(info["parameters"], 12913920);
  EXPECT_EQ(info["hyperparameters"]["block_count"], 6);
  EXPECT_EQ(info["hyperparameters"]["attention.head_count_kv"], 2);
  EXPECT_EQ(info["tokenizer"]["model"], "llama");
  EXPECT_EQ(info["tokenizer"]["vocab_size"], 32000);
  EXPECT_EQ(info["metadata"]["tokenizer.ggml.tokens"]["length"], 32000);
  ASSERT_EQ(info["tensors"].size(), 6u * 9 + 2);
  const auto embd = std::find_if(info["tensors"].begin(), info["tensors"].end(),
                                 [](const auto& t) { return t["name"] == "token_embd.weight"; });
  ASSERT_NE(embd, info["tensors"].end());
  EXPECT_EQ((*embd)["shape"], nlohmann::json::array({256, 32000}));
  EXPECT_EQ((*embd)["type"], "q8_0");
  EXPECT_EQ((*embd)["bytes"], 32000 * 8 * 34);
}

TEST(CliInfo, TemplatePresenceAndHelp) {
  const auto help = test::run_command(hearth() + " info --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--json"), std::string::npos);
  const auto no_file = test::run_command(hearth() + " info 2>&1");
  EXPECT_NE(no_file.exit_code, 0);
  EXPECT_NE(no_file.out.find("file is required"), std::string::npos) << no_file.out;
}

TEST(CliInfo, EverySharedFileExitsZero) {
  for (const char* file : {"vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-qwen2.gguf", "vocab/ggml-vocab-phi-3.gguf",
                           "vocab/ggml-vocab-gpt-2.gguf", "vocab/ggml-vocab-deepseek-llm.gguf", "vocab/ggml-vocab-falcon.gguf",
                           "vocab/ggml-vocab-bert-bge.gguf", "golden/quant/quant-q4_K.gguf"}) {
    const auto result = test::run_command(hearth() + " info --json " + shared(file) + " 2>&1");
    EXPECT_EQ(result.exit_code, 0) << file << ": " << result.out.substr(0, 300);
    EXPECT_TRUE(nlohmann::json::accept(result.out)) << file;
  }
}

}  // namespace
}  // namespace hearth
