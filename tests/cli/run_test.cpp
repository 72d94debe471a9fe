// `hearth run` prints the prompt and then its continuation, as llama-cli does; --no-display-prompt only the latter.
#include <gtest/gtest.h>

#include <string>

#include "cli/run_command.h"
#include "support/shared_data.h"

namespace hearth {
namespace {

test::CommandResult run_demo(const std::string& flags) {
  const auto model = (test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf").string();
  return test::run_command((test::bin_dir() / "hearth").string() + " run -m " + model + " -n 3 --temp 0 -t 2 " +
                           flags + " 2>/dev/null");
}

TEST(CliRun, PrintsThePromptThenTheContinuation) {
  const auto shown = run_demo("-p 'The Python interpreter'");
  ASSERT_EQ(shown.exit_code, 0);
  EXPECT_EQ(shown.out, "The Python interpreter now supports the\n");
}

TEST(CliRun, NoDisplayPromptPrintsOnlyTheContinuation) {
  const auto hidden = run_demo("-p 'The Python interpreter' --no-display-prompt");
  ASSERT_EQ(hidden.exit_code, 0);
  EXPECT_EQ(hidden.out, " now supports the\n");
}

}  // namespace
}  // namespace hearth
