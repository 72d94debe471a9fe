// The exit-code convention end to end, through the binary: a usage error is exit code 2 and exactly one line on
// stderr (nothing on stdout), a failed run is exit code 1, --help and --version exit 0.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cli/run_command.h"
#include "support/shared_data.h"

namespace hearth {
namespace {

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

Result hearth(const std::string& args) {
  const std::filesystem::path err_file = std::filesystem::path(::testing::TempDir()) /
                                         (std::string("usage_errors_") +
                                          ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".err");
  const auto run = test::run_command((test::bin_dir() / "hearth").string() + " " + args + " 2>" + err_file.string() +
                                     " </dev/null");
  std::ifstream in(err_file, std::ios::binary);
  std::stringstream err;
  err << in.rdbuf();
  return {run.exit_code, run.out, err.str()};
}

void expect_usage_error(const std::string& args, const std::string& expected) {
  const Result result = hearth(args);
  EXPECT_EQ(result.exit_code, 2) << args << "\n" << result.err;
  EXPECT_EQ(result.out, "") << args;
  EXPECT_TRUE(result.err.starts_with("hearth: error: ")) << args << "\n" << result.err;
  EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << args << ": not one line:\n" << result.err;
  EXPECT_NE(result.err.find(expected), std::string::npos) << args << "\n" << result.err;
}

TEST(UsageErrors, UnknownCommandsAndOptionsAreNamed) {
  expect_usage_error("bogus", "unknown command 'bogus' (commands: info, template, tokenize, detokenize");
  expect_usage_error("", "no command given");
  expect_usage_error("run --bogus", "unknown option --bogus; see 'hearth run --help'");
  expect_usage_error("run -p hi --bogus=3", "unknown option --bogus;");
  expect_usage_error("run -p hi extra", "unexpected argument 'extra'");
  expect_usage_error("info", "file is required; see 'hearth info --help'");
  expect_usage_error("run", "--prompt is required");
  expect_usage_error("run -p", "--prompt");
}

TEST(UsageErrors, BadValuesAreOneLineWithTheRange) {
  expect_usage_error("run -p hi -n 2147483648", "--n-predict must be an integer (from -1 to 2147483647), not '2147483648'");
  expect_usage_error("quantize --threads -1 in out Q4_0", "--threads must be an integer (from 0 to ");
  expect_usage_error("synth --shape s --vocab v --out o --threads 1000000", "not '1000000'");
  expect_usage_error("run -p hi --min-p 2", "--min-p must be a number (from 0 to 1), not '2'");
  expect_usage_error("perplexity -m m -f t --chunks 0", "--chunks must be an integer (from 1 to");
  expect_usage_error("run -p hi --context-overflow sideways", "--context-overflow");
  expect_usage_error("run -p hi --cache-type q4", "--cache-type");
  expect_usage_error("tokenize -m m --ids --pieces", "excludes");
  expect_usage_error("run -p hi --logit-bias 12x", "--logit-bias: '12x' is not TOKEN+BIAS, TOKEN-BIAS or TOKEN-inf");
  // A flag takes no value (CLI11 would parse one as a count, and a huge one threw std::out_of_range: exit 1).
  expect_usage_error("run -p hi --no-display-prompt=99999999999999999999999", "no-display-prompt");
  expect_usage_error("bench -m m --json=7", "json");
  // A 300-digit value stays a short line (CLI11 used to print a 300-digit bound).
  const Result long_value = hearth("quantize --threads " + std::string(300, '9') + " in out Q4_0");
  EXPECT_EQ(long_value.exit_code, 2);
  EXPECT_LT(long_value.err.size(), 160u) << long_value.err;
}

TEST(UsageErrors, RuntimeErrorsExitOneAndHelpExitsZero) {
  const Result missing = hearth("info /nonexistent/model.gguf");
  EXPECT_EQ(missing.exit_code, 1) << missing.err;
  EXPECT_TRUE(missing.err.starts_with("hearth info: ")) << missing.err;
  const Result help = hearth("run --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--top-p"), std::string::npos);
  EXPECT_EQ(help.err, "");
  const Result version = hearth("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out, "hearth 0.1.0\n");
}

}  // namespace
}  // namespace hearth
