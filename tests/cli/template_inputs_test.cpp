// Hostile inputs to `hearth template` (and `hearth chat`, which reads the template the same way): JSON numbers
// that would not render as Python renders them, and a model whose tokenizer.chat_template is not a string.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli/run_command.h"
#include "hearth/gguf.h"
#include "support/shared_data.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

fs::path test_folder() {
  const fs::path dir = fs::path(::testing::TempDir()) / "template_inputs" /
                       ::testing::UnitTest::GetInstance()->current_test_info()->name();
  fs::create_directories(dir);
  return dir;
}

std::string hearth() { return (test::bin_dir() / "hearth").string(); }

test::CommandResult render(const fs::path& dir, const std::string& messages) {
  std::ofstream(dir / "messages.json") << messages;
  std::ofstream(dir / "template.jinja") << "{{ messages[0].n }}";
  return test::run_command(hearth() + " template --file " + (dir / "template.jinja").string() + " --messages " +
                           (dir / "messages.json").string() + " 2>&1");
}

TEST(TemplateInputs, IntegersRenderExactlyOrAreRefused) {
  const fs::path dir = test_folder();
  const auto in_range = render(dir, R"([{"role": "user", "content": "x", "n": -9223372036854775808}])");
  EXPECT_EQ(in_range.exit_code, 0) << in_range.out;
  EXPECT_EQ(in_range.out, "-9223372036854775808");
  for (const char* big : {"123456789012345678901234567890", "18446744073709551615", "-9223372036854775809"}) {
    const auto refused = render(dir, std::string(R"([{"role": "user", "content": "x", "n": )") + big + "}]");
    EXPECT_EQ(refused.exit_code, 1) << refused.out;
    EXPECT_NE(refused.out.find(std::string("holds the integer ") + big + ", outside the 64-bit signed range"),
              std::string::npos) << refused.out;
    EXPECT_EQ(refused.out.find("e+"), std::string::npos) << refused.out;
  }
  // Digits inside strings and in floats are not integers.
  const auto strings = render(dir, R"([{"role": "user", "content": "123456789012345678901234567890", "n": 1.5e300}])");
  EXPECT_EQ(strings.exit_code, 0) << strings.out;
}

TEST(TemplateInputs, NumberOverflowIsOneClearLine) {
  const fs::path dir = test_folder();
  const auto result = render(dir, R"([{"role": "user", "content": "x", "n": 1e999}])");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "hearth template: messages file '" + (dir / "messages.json").string() +
                            "' is not valid JSON: number overflow parsing '1e999'\n");
}

TEST(TemplateInputs, NonStringChatTemplateNamesTheKey) {
  const fs::path dir = test_folder();
  const gguf::File vocab = gguf::File::open(test::shared_dir() / "vocab" / "ggml-vocab-llama-spm.gguf");
  gguf::Writer writer;
  writer.copy_metadata(vocab);
  writer.set("tokenizer.chat_template", uint32_t{7});
  writer.write(dir / "model.gguf");
  std::ofstream(dir / "messages.json") << R"([{"role": "user", "content": "x"}])";
  const auto result = test::run_command(hearth() + " template -m " + (dir / "model.gguf").string() +
                                        " --messages " + (dir / "messages.json").string() + " 2>&1");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.out.find("'tokenizer.chat_template': expected string, found uint32"), std::string::npos)
      << result.out;
}

}  // namespace
}  // namespace hearth
