// The sampling flags `hearth run` and `hearth chat` share: parsing of --logit-bias, and their effect on a run.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "cli/run_command.h"
#include "cli/sampling_flags.h"
#include "support/shared_data.h"

namespace hearth {
namespace {

TEST(SamplingFlags, LogitBiasTakesLlamaCppsForm) {
  EXPECT_EQ(cli::parse_logit_bias("15043+1"), std::make_pair(15043, 1.0f));
  EXPECT_EQ(cli::parse_logit_bias("7-0.5"), std::make_pair(7, -0.5f));
  const auto banned = cli::parse_logit_bias("2-inf");
  EXPECT_EQ(banned.first, 2);
  EXPECT_TRUE(std::isinf(banned.second) && banned.second < 0);
  for (const char* bad : {"", "15043", "+1", "-5+1", "x+1", "12+", "12+abc", "12+1x", "12=1", "99999999999+1"}) {
    EXPECT_THROW(cli::parse_logit_bias(bad), CLI::ValidationError) << bad;
  }
}

std::string run_demo(const std::string& flags) {
  const auto model = (test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf").string();
  const auto result = test::run_command((test::bin_dir() / "hearth").string() + " run -m " + model +
                                        " -p 'The Python interpreter' -n 4 --temp 0 --no-display-prompt " + flags + " 2>&1");
  EXPECT_EQ(result.exit_code, 0) << result.out;
  return result.out;
}

TEST(SamplingFlags, LogitBiasBansTheGreedyToken) {
  // The demo model's greedy continuation starts with " now" (token 1286 in its vocabulary).
  const std::string plain = run_demo("");
  ASSERT_EQ(plain.rfind(" now supports", 0), 0u) << plain;
  const std::string banned = run_demo("--logit-bias 1286-inf");
  EXPECT_NE(banned.rfind(" now", 0), 0u) << banned;
}

TEST(SamplingFlags, MalformedFlagsAreClearErrors) {
  const auto model = (test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf").string();
  const auto bias = test::run_command((test::bin_dir() / "hearth").string() + " run -m " + model +
                                      " -p hi -n 1 --logit-bias 12x 2>&1");
  EXPECT_NE(bias.exit_code, 0);
  EXPECT_NE(bias.out.find("--logit-bias"), std::string::npos) << bias.out;
  const auto range = test::run_command((test::bin_dir() / "hearth").string() + " run -m " + model +
                                       " -p hi -n 1 --logit-bias 99999999+1 2>&1");
  EXPECT_NE(range.exit_code, 0);
  EXPECT_NE(range.out.find("vocabulary"), std::string::npos) << range.out;
}

}  // namespace
// --json-schema: the output is JSON the schema accepts; a schema it cannot follow stops before the model loads.
TEST(SamplingFlags, JsonSchemaShapesTheOutput) {
  const auto model = (test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf").string();
  const std::string hearth = (test::bin_dir() / "hearth").string();
  const auto run = test::run_command(hearth + " run -m " + model + " -p 'Tell me' -n 120 --seed 4 --no-display-prompt" +
                                     " --json-whitespace compact --json-schema '{\"type\": \"object\", \"properties\": " +
                                     "{\"n\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 5}}, \"required\": [\"n\"]," +
                                     " \"additionalProperties\": false}' 2>/dev/null");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  const std::string text = run.out.substr(0, run.out.find_last_not_of(" \n") + 1);
  ASSERT_EQ(text.size(), 7u) << text;  // {"n":D}
  EXPECT_EQ(text.substr(0, 5), "{\"n\":") << text;
  EXPECT_TRUE(text[5] >= '1' && text[5] <= '5') << text;
  const auto bad = test::run_command(hearth + " run -m " + model + " -p x -n 4 --json-schema '{\"not\": {}}' 2>&1");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.out.find("JSON Schema #"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("not"), std::string::npos) << bad.out;
}

}  // namespace hearth
