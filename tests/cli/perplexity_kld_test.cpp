// `hearth perplexity --kl-divergence-base` / `--kl-divergence` end to end with the demo model: a base, the same
// model against it, a Q4_0 requantization against it, and every refusal. Small settings (-c 128, 4 chunks of the
// held-out text's first 8 KB) keep each test to seconds in Release.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "cli/kl_divergence.h"
#include "cli/run_command.h"
#include "support/shared_data.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string hearth() { return (test::bin_dir() / "hearth").string(); }
std::string demo() { return (test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf").string(); }

// The number after `label` in `text`, or NaN.
double figure(const std::string& text, const std::string& label) {
  const size_t at = text.find(label);
  if (at == std::string::npos) return std::nan("");
  return std::stod(text.substr(at + label.size()));
}

class CliKld : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // One folder per process: CTest runs each test of this suite as its own process, side by side.
    dir_ = fs::path(::testing::TempDir()) / ("hearth-cli-kld-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const std::string heldout = read_all(test::shared_dir() / "text" / "python-debian-heldout.txt");
    std::ofstream(dir_ / "text.txt", std::ios::binary) << heldout.substr(0, 8192);
    std::ofstream(dir_ / "other.txt", std::ios::binary) << heldout.substr(100000, 8192);
    const auto made = test::run_command(hearth() + " perplexity -m " + demo() + " -f " + path("text.txt") +
                                        " -c 128 --chunks 4 -t 2 --kl-divergence-base " + path("base.kld") +
                                        " 2>" + path("base.err"));
    base_run_ = made.out + read_all(dir_ / "base.err");
    base_exit_ = made.exit_code;
  }

  static void TearDownTestSuite() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  static std::string path(const std::string& name) { return (dir_ / name).string(); }

  // `hearth perplexity --kl-divergence` with `flags`, stdout and stderr together.
  static test::CommandResult kld(const std::string& model, const std::string& base, const std::string& flags = "") {
    return test::run_command(hearth() + " perplexity -m " + model + " --kl-divergence-base " + base +
                             " --kl-divergence -t 2 " + flags + " 2>&1");
  }

  static void expect_error(const test::CommandResult& result, const std::string& message) {
    EXPECT_EQ(result.exit_code, 1) << result.out;
    EXPECT_NE(result.out.find("hearth perplexity: "), std::string::npos) << result.out;
    EXPECT_NE(result.out.find(message), std::string::npos) << "no '" << message << "' in:\n" << result.out;
  }

  static inline fs::path dir_;
  static inline std::string base_run_;
  static inline int base_exit_ = -1;
};

TEST_F(CliKld, BaseRunPrintsPerplexityAndSavesTheBase) {
  ASSERT_EQ(base_exit_, 0) << base_run_;
  EXPECT_NE(base_run_.find("[4]"), std::string::npos) << base_run_;
  EXPECT_NE(base_run_.find("Final estimate: PPL = "), std::string::npos) << base_run_;
  // 20 header bytes, 4 x 128 tokens, 4 x 63 records of 32004 words.
  const uint64_t size = 20 + 4 * 128 * 4 + uint64_t{4} * 63 * 32004 * 2;
  EXPECT_EQ(fs::file_size(dir_ / "base.kld"), size);
  EXPECT_NE(base_run_.find("saving the KL-divergence base to " + path("base.kld") + ": 15.4 MiB (4 chunks x 63 "
                           "positions x 64008 bytes)"),
            std::string::npos)
      << base_run_;
  EXPECT_FALSE(fs::exists(dir_ / "base.kld.partial"));
}

TEST_F(CliKld, TheSameModelDivergesOnlyByTheBasesRounding) {
  ASSERT_EQ(base_exit_, 0) << base_run_;
  const auto result = kld(demo(), path("base.kld"), "-f " + path("text.txt"));
  ASSERT_EQ(result.exit_code, 0) << result.out;
  for (const char* line : {"chunk             PPL", "====== Perplexity statistics ======",
                           "====== KL divergence statistics ======", "====== Token probability statistics ======"}) {
    EXPECT_NE(result.out.find(line), std::string::npos) << line << " missing in:\n" << result.out;
  }
  EXPECT_LT(figure(result.out, "Mean    KLD: "), 1e-4) << result.out;
  EXPECT_EQ(figure(result.out, "Same top p: "), 100.0) << result.out;
  // Same logits: PPL(Q) is the base run's perplexity, and PPL(base) differs only by the uint16 rounding of the
  // saved log-probabilities (at most 16/65535/2 per position, averaging out over 252 positions).
  const double ppl = figure(result.out, "Mean PPL(Q)                   : ");
  EXPECT_NEAR(ppl, figure(base_run_, "Final estimate: PPL = "), 1e-4) << result.out << base_run_;
  EXPECT_NEAR(ppl, figure(result.out, "Mean PPL(base)                : "), 1e-4 * ppl) << result.out;
  // One progress line per chunk, in llama.cpp's columns.
  EXPECT_TRUE(std::regex_search(result.out, std::regex("\n   4 +[0-9.]+ ± +[0-9.]+ +")) ) << result.out;
}

// A CTest entry of its own, labelled slow: Q4_0 runs the scalar kernels, over a minute under the sanitizers.
TEST_F(CliKld, Q4_0RequantizationDivergesVisibly) {
  ASSERT_EQ(base_exit_, 0) << base_run_;
  const auto quantized = test::run_command(hearth() + " quantize " + demo() + " " + path("q4_0.gguf") + " Q4_0 2>&1");
  ASSERT_EQ(quantized.exit_code, 0) << quantized.out;
  const auto result = kld(path("q4_0.gguf"), path("base.kld"));
  ASSERT_EQ(result.exit_code, 0) << result.out;
  EXPECT_GT(figure(result.out, "Mean    KLD: "), 1e-3) << result.out;
  EXPECT_LT(figure(result.out, "Same top p: "), 100.0) << result.out;
  EXPECT_GT(figure(result.out, "Maximum KLD: "), figure(result.out, "Median  KLD: ")) << result.out;
}

TEST_F(CliKld, MismatchesAreClearErrors) {
  ASSERT_EQ(base_exit_, 0) << base_run_;
  expect_error(kld(demo(), path("base.kld"), "-c 64"), "was made with -c 128, not 64");
  expect_error(kld(demo(), path("base.kld"), "--chunks 5"), "--chunks 5: " + path("base.kld") + " holds only 4");
  expect_error(kld(demo(), path("base.kld"), "-f " + path("other.txt")),
               path("other.txt") + " is not the text of " + path("base.kld") + ": its tokens differ");
  expect_error(test::run_command(hearth() + " perplexity -m " + demo() + " --kl-divergence 2>&1"),
               "--kl-divergence needs --kl-divergence-base FILE");

  // A valid base of another vocabulary (100 tokens).
  {
    const cli::kld::BaseHeader header{8, 100, 1};
    const std::vector<int32_t> tokens(8, 5);
    cli::kld::BaseFileWriter writer(path("vocab100.kld"), header, tokens);
    std::vector<uint16_t> records(static_cast<size_t>(cli::kld::scored_per_chunk(8) * cli::kld::record_words(100)));
    writer.write_chunk(records);
    writer.commit();
  }
  expect_error(kld(demo(), path("vocab100.kld")), "was made with a vocabulary of 100 tokens; this model's has 32000");
}

TEST_F(CliKld, DamagedBasesAreClearErrors) {
  ASSERT_EQ(base_exit_, 0) << base_run_;
  const std::string bytes = read_all(dir_ / "base.kld");
  std::ofstream(dir_ / "truncated.kld", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_error(kld(demo(), path("truncated.kld")), path("truncated.kld") + ": truncated: ");
  std::string bad_magic = bytes;
  bad_magic.replace(0, 8, "_LOGITS_");
  std::ofstream(dir_ / "magic.kld", std::ios::binary) << bad_magic;
  expect_error(kld(demo(), path("magic.kld")), "does not start with \"_logits_\"");
  expect_error(kld(demo(), path("missing.kld")), "cannot read the KL-divergence base " + path("missing.kld"));
}

TEST_F(CliKld, TooFewPositionsSaySoInsteadOfStatistics) {
  const auto made = test::run_command(hearth() + " perplexity -m " + demo() + " -f " + path("text.txt") +
                                      " -c 16 --chunks 2 -t 2 --kl-divergence-base " + path("small.kld") + " 2>&1");
  ASSERT_EQ(made.exit_code, 0) << made.out;
  const auto result = kld(demo(), path("small.kld"));
  ASSERT_EQ(result.exit_code, 0) << result.out;
  EXPECT_NE(result.out.find("No statistics: only 14 positions were compared; llama.cpp's statistics need at least "
                            "100"),
            std::string::npos)
      << result.out;
  EXPECT_EQ(result.out.find("======"), std::string::npos) << result.out;
}

}  // namespace
}  // namespace hearth
