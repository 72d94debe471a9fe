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

TEST(CliRun, DryRunPrintsWhereEachLayerRunsAndLoadsNothing) {
  const auto plan = run_demo("-p 'x' --dry-run -c 128");
  ASSERT_EQ(plan.exit_code, 0) << plan.out;
  // 6 layers x 128 cells x (keys + values of 128 values) x 2 bytes = 384 KiB.
  EXPECT_EQ(plan.out.find("layers 0-5 + embeddings + output on cpu: KV cache 0.4 MiB, scratch "), 0u) << plan.out;
  EXPECT_EQ(plan.out.find('\n'), plan.out.size() - 1) << "one device, one line: " << plan.out;
  // A real run reports the same devices.
  const auto report = run_reporting("-n 1 -c 128");
  EXPECT_NE(report.out.find("devices:      layers 0-5 + embeddings + output on cpu"), std::string::npos) << report.out;
}

TEST(CliRun, GpuLayersAreACountAllOrAutoAndNeedAGpu) {
  const auto bad = run_reporting("-n 1 --gpu-layers half");
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_NE(bad.out.find("--gpu-layers must be a number of layers, all or auto, not 'half'"), std::string::npos) << bad.out;
  EXPECT_EQ(run_reporting("-n 1 --gpu-layers -3").exit_code, 2);
  const auto automatic = run_reporting("-n 1 --gpu-layers auto");
  EXPECT_EQ(automatic.exit_code, 0) << automatic.out;
  if (automatic.out.find(" on cuda:") != std::string::npos) return;  // a machine with a GPU: auto took it
  for (const char* layers : {"2", "all"}) {
    const auto refused = run_reporting(std::string("-n 1 --gpu-layers ") + layers);
    EXPECT_EQ(refused.exit_code, 1) << refused.out;
    EXPECT_NE(refused.out.find("use 0 to run on the CPU"), std::string::npos) << refused.out;
  }
}

}  // namespace
}  // namespace hearth
