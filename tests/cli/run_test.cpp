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

// stderr with the run's report: "generation:   N tokens in ..., stop: REASON".
test::CommandResult run_reporting(const std::string& flags) {
  const auto model = (test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf").string();
  return test::run_command("timeout 120 " + (test::bin_dir() / "hearth").string() + " run -m " + model +
                           " -p 'The Python interpreter' --temp 0 -t 2 " + flags + " 2>&1 >/dev/null");
}

TEST(CliRun, UnboundedWithShiftStopsAfterAContextOfTokens) {
  // -n -1 is "until the context is full"; shifting, the context never fills, so it means n_ctx tokens (it ran
  // forever before).
  const auto shifted = run_reporting("-n -1 --context-overflow shift -c 64");
  ASSERT_EQ(shifted.exit_code, 0) << shifted.out;
  EXPECT_NE(shifted.out.find("generation:   64 tokens"), std::string::npos) << shifted.out;
  EXPECT_NE(shifted.out.find("positions shifted out"), std::string::npos) << shifted.out;
}

TEST(CliRun, ZeroTokensGeneratesNothing) {
  const auto none = run_reporting("-n 0");
  ASSERT_EQ(none.exit_code, 0) << none.out;
  EXPECT_NE(none.out.find("generation:   0 tokens"), std::string::npos) << none.out;
}

TEST(CliRun, ContextBeyondTheTrainedLengthWarns) {
  const auto longer = run_reporting("-n 1 -c 1024");
  ASSERT_EQ(longer.exit_code, 0) << longer.out;
  EXPECT_NE(longer.out.find("hearth run: warning: a context of 1024 tokens is more than the 512 the model was "
                            "trained for"),
            std::string::npos) << longer.out;
  const auto trained = run_reporting("-n 1 -c 512");
  EXPECT_EQ(trained.out.find("warning"), std::string::npos) << trained.out;
}

}  // namespace
}  // namespace hearth
