// `hearth perplexity` on the first chunks of the held-out text, computed as llama.cpp does. A test of its own,
// labelled slow: it tokenizes the whole 293 KB text twice, which takes over 20 s under the sanitizers.
#include <gtest/gtest.h>

#include <string>

#include "cli/run_command.h"
#include "support/shared_data.h"

namespace hearth {
namespace {

std::filesystem::path demo_path() { return test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf"; }

std::string hearth_cli() { return (test::bin_dir() / "hearth").string(); }

// The first chunks of llama.cpp-style perplexity. Values computed by this engine; its full-file results agree
// with llama.cpp's (17.0044 at -c 512, 18.2533 at -c 128) within 0.2% (measured: 18.2562 at -c 128); the full
// runs take minutes.
TEST(Perplexity, FirstChunksOfTheHeldOutText) {
  const std::string base = hearth_cli() + " perplexity -m " + demo_path().string() + " -f " +
                           (test::shared_dir() / "text" / "python-debian-heldout.txt").string();
  const auto c128 = test::run_command(base + " -c 128 --chunks 6 2>/dev/null");
  ASSERT_EQ(c128.exit_code, 0) << c128.out;
  EXPECT_NE(c128.out.find("[1]12.00"), std::string::npos) << c128.out;
  EXPECT_NE(c128.out.find("Final estimate: PPL = 13.91"), std::string::npos) << c128.out;

  const auto c512 = test::run_command(base + " -c 512 --chunks 2 2>/dev/null");
  ASSERT_EQ(c512.exit_code, 0) << c512.out;
  EXPECT_NE(c512.out.find("[1]9.26"), std::string::npos) << c512.out;
  EXPECT_NE(c512.out.find("Final estimate: PPL = 6.64"), std::string::npos) << c512.out;
}

}  // namespace
}  // namespace hearth
