// `hearth tokenize` and `hearth detokenize` as a user runs them.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <memory>

#include "tokenizer/vocab_files.h"

namespace hearth::tokenizer {
namespace {

struct CommandResult {
  int status;
  std::string out;
};

// Runs hearth with `arguments` (shell syntax), stdin from `input`, and returns its exit status and stdout+stderr.
CommandResult hearth(const std::string& arguments, const std::string& input = "") {
  const auto dir = std::filesystem::temp_directory_path();
  const auto input_path = dir / ("hearth-cli-tokenize-" + std::to_string(::getpid()) + ".in");
  std::ofstream(input_path, std::ios::binary) << input;
  const std::string command =
      (test::bin_dir() / "hearth").string() + " " + arguments + " < '" + input_path.string() + "' 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  std::string out;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe.get())) > 0;) out.append(buffer, n);
  const int status = pclose(pipe.release());
  std::filesystem::remove(input_path);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string vocab(const std::string& name) { return "-m '" + test::vocab_path(name).string() + "'"; }

TEST(TokenizeCommand, PrintsIds) {
  EXPECT_EQ(hearth("tokenize " + vocab("llama-spm") + " --ids -p 'Hello world'").out, "1 15043 3186\n");
  EXPECT_EQ(hearth("tokenize " + vocab("llama-spm") + " --ids --no-bos -p 'Hello world'").out, "15043 3186\n");
  // stdin is read as is: the final newline is text too.
  EXPECT_EQ(hearth("tokenize " + vocab("llama-bpe") + " --ids", "Hello\n").out, "128000 9906 198\n");
  EXPECT_EQ(hearth("tokenize " + vocab("qwen2") + " --ids --special -p '<|im_start|>hi'").out, "151644 6023\n");
}

TEST(TokenizeCommand, PrintsPieces) {
  const CommandResult run = hearth("tokenize " + vocab("llama-spm") + " -p 'Hi\n🦙'");
  EXPECT_EQ(run.status, 0);
  EXPECT_EQ(run.out,
            "      1 -> '<s>'\n"
            "   6324 -> ' Hi'\n"
            "     13 -> '\\n'\n"
            "    243 -> '\\xf0'\n"
            "    162 -> '\\x9f'\n"
            "    169 -> '\\xa6'\n"
            "    156 -> '\\x99'\n");
}

TEST(DetokenizeCommand, PrintsText) {
  EXPECT_EQ(hearth("detokenize " + vocab("llama-spm") + " -p '1 15043 3186'").out, "Hello world");
  EXPECT_EQ(hearth("detokenize " + vocab("llama-spm") + " --special", "[1, 15043, 3186]\n").out, "<s>Hello world");
}

TEST(DetokenizeCommand, ErrorsAreOneLineAndExitCodeOne) {
  CommandResult run = hearth("detokenize " + vocab("llama-spm") + " -p '1 99999'");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.out, "hearth detokenize: token id 99999 is outside the vocabulary of 32000 tokens\n");
  run = hearth("detokenize " + vocab("llama-spm") + " -p '12 abc'");
  EXPECT_EQ(run.status, 1);
  EXPECT_EQ(run.out, "hearth detokenize: 'abc' is not a token id\n");
  run = hearth("tokenize -m /nonexistent.gguf -p x");
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.out.find("hearth tokenize: "), std::string::npos);
  EXPECT_EQ(std::count(run.out.begin(), run.out.end(), '\n'), 1);
}

}  // namespace
}  // namespace hearth::tokenizer
