// `hearth bench --json` prints one well-formed object per test with positive rates; a bad flag is a usage error.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/run_command.h"
#include "model/temp_dir.h"
#include "support/shared_data.h"

namespace hearth {
namespace {

std::string hearth() { return (test::bin_dir() / "hearth").string(); }

TEST(CliBench, JsonHasOneObjectPerTestWithPositiveNumbers) {
  test::TempDir dir("bench");
  const std::string model = (dir / "tiny.gguf").string();
  const auto synth = test::run_command(hearth() + " synth --shape tiny-llama --type Q8_0 --vocab " +
                                       (test::shared_dir() / "vocab" / "ggml-vocab-llama-spm.gguf").string() +
                                       " --out " + model + " --threads 2 --quiet 2>&1");
  ASSERT_EQ(synth.exit_code, 0) << synth.out;

  const auto bench = test::run_command(hearth() + " bench -m " + model + " --json -p 8 -n 4 -r 2 -t 2 -d 3");
  ASSERT_EQ(bench.exit_code, 0) << bench.out;
  std::vector<nlohmann::json> lines;
  std::istringstream out(bench.out);
  for (std::string line; std::getline(out, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 2u) << bench.out;

  const nlohmann::json& pp = lines[0];
  EXPECT_EQ(pp["test"], "pp8");
  EXPECT_EQ(pp["n_prompt"], 8);
  EXPECT_EQ(pp["n_gen"], 0);
  EXPECT_GT(pp["ttft_ms"].get<double>(), 0);
  EXPECT_FALSE(pp.contains("gb_per_second"));

  const nlohmann::json& tg = lines[1];
  EXPECT_EQ(tg["test"], "tg4");
  EXPECT_EQ(tg["n_prompt"], 0);
  EXPECT_EQ(tg["n_gen"], 4);
  EXPECT_GT(tg["gb_per_second"].get<double>(), 0);
  EXPECT_FALSE(tg.contains("ttft_ms"));

  for (const nlohmann::json& line : lines) {
    EXPECT_EQ(line["depth"], 3);
    EXPECT_EQ(line["threads"], 2);
    EXPECT_EQ(line["repetitions"], 2);
    EXPECT_GT(line["tokens_per_second"].get<double>(), 0);
    EXPECT_GE(line["stddev"].get<double>(), 0);
    EXPECT_GT(line["peak_rss_mib"].get<double>(), 0);
  }
}

TEST(CliBench, BadFlagIsAUsageError) {
  // The model is never opened: flags are checked first.
  for (const std::string flags : {"-p 128,x", "-n 0 -p 0", "-r 0", "-t -1", "-t 100000", "-d -1", "-r 99999999999"}) {
    const auto result = test::run_command(hearth() + " bench -m missing.gguf " + flags + " 2>&1");
    EXPECT_EQ(result.exit_code, 2) << flags << "\n" << result.out;
    EXPECT_EQ(result.out.find("hearth: error: "), 0u) << result.out;
    EXPECT_EQ(result.out.find('\n'), result.out.size() - 1) << "one line: " << result.out;
  }
}

}  // namespace
}  // namespace hearth
