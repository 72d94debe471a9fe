// `hearth perplexity` on the first chunks of the held-out text, computed as llama.cpp does. A test of its own,
// labelled slow: it tokenizes the whole 293 KB text twice, which takes over 20 s under the sanitizers.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "cli/run_command.h"
#include "support/shared_data.h"

namespace hearth {
namespace {

std::filesystem::path demo_path() { return test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf"; }

std::string hearth_cli() { return (test::bin_dir() / "hearth").string(); }

// The number after `label` in the tool's output (NaN when absent).
double value_after(const std::string& out, const std::string& label) {
  const size_t at = out.find(label);
  return at == std::string::npos ? std::nan("") : std::stod(out.substr(at + label.size()));
}

// The first chunks of llama.cpp-style perplexity, against values this engine computed with the reference kernels
// (whose full-file results agree with llama.cpp's, 17.0044 at -c 512 and 18.2533 at -c 128, within 0.2%). Kernels
// that sum in other orders move these by a few hundredths of a percent; 0.5% still catches a wrong kernel (a
// dropped block scale moves them by tens of percent). The full runs take minutes (scripts/conformance --full).
TEST(Perplexity, FirstChunksOfTheHeldOutText) {
  const std::string base = hearth_cli() + " perplexity -m " + demo_path().string() + " -f " +
                           (test::shared_dir() / "text" / "python-debian-heldout.txt").string();
  const auto c128 = test::run_command(base + " -c 128 --chunks 6 2>/dev/null");
  ASSERT_EQ(c128.exit_code, 0) << c128.out;
  EXPECT_NEAR(value_after(c128.out, "[1]"), 12.00, 0.06) << c128.out;
  EXPECT_NEAR(value_after(c128.out, "Final estimate: PPL = "), 13.91, 0.07) << c128.out;

  const auto c512 = test::run_command(base + " -c 512 --chunks 2 2>/dev/null");
  ASSERT_EQ(c512.exit_code, 0) << c512.out;
  EXPECT_NEAR(value_after(c512.out, "[1]"), 9.26, 0.05) << c512.out;
  EXPECT_NEAR(value_after(c512.out, "Final estimate: PPL = "), 6.64, 0.035) << c512.out;
}

}  // namespace
}  // namespace hearth
