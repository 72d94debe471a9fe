// `hearth quantize` and `hearth synth` never replace what is not theirs to replace: a FIFO, a symlink or a device
// at the output is refused, an existing file only goes with --force, and a killed write leaves nothing loadable.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "cli/run_command.h"
#include "model/temp_dir.h"
#include "support/shared_data.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

std::string hearth() { return (test::bin_dir() / "hearth").string(); }
std::string demo() { return (test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf").string(); }

std::string content_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

test::CommandResult quantize_to(const fs::path& out, const std::string& flags = "") {
  return test::run_command(hearth() + " quantize --threads 2 " + demo() + " " + out.string() + " Q4_0 " + flags + " 2>&1");
}

TEST(CliOutputFiles, FifoSymlinkAndDirectoryAreNeverReplaced) {
  test::TempDir dir("out-special");
  const fs::path fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const fs::path target = dir / "target.txt";
  { std::ofstream(target) << "precious"; }
  const fs::path link = dir / "link.gguf";
  fs::create_symlink(target, link);
  const fs::path folder = dir / "folder";
  fs::create_directory(folder);
  for (const auto& [path, kind] : {std::pair{fifo, "a FIFO"}, std::pair{link, "a symlink"}, std::pair{folder, "a directory"}}) {
    for (const std::string flags : {"", "--force"}) {
      const auto result = quantize_to(path, flags);
      EXPECT_EQ(result.exit_code, 1) << path << flags << "\n" << result.out;
      EXPECT_NE(result.out.find(path.string() + " exists and is " + kind + "; refusing to replace it"), std::string::npos)
          << result.out;
    }
  }
  EXPECT_TRUE(fs::is_fifo(fs::symlink_status(fifo)));
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(link)));
  EXPECT_EQ(content_of(target), "precious");
  EXPECT_TRUE(fs::is_directory(folder));
}

TEST(CliOutputFiles, ExistingFileNeedsForce) {
  test::TempDir dir("out-existing");
  const fs::path out = dir / "out.gguf";
  { std::ofstream(out) << "keep me"; }
  fs::permissions(out, fs::perms::owner_read);  // read-only: still refused without --force
  const auto refused = quantize_to(out);
  EXPECT_EQ(refused.exit_code, 1) << refused.out;
  EXPECT_NE(refused.out.find(out.string() + " already exists; pass --force to replace it"), std::string::npos) << refused.out;
  EXPECT_EQ(content_of(out), "keep me");

  const auto synth = test::run_command(hearth() + " synth --shape tiny-llama --vocab " +
                                       (test::shared_dir() / "vocab" / "ggml-vocab-llama-spm.gguf").string() +
                                       " --out " + out.string() + " --quiet 2>&1");
  EXPECT_EQ(synth.exit_code, 1) << synth.out;
  EXPECT_NE(synth.out.find("already exists; pass --force"), std::string::npos) << synth.out;

  const auto forced = quantize_to(out, "--force");
  EXPECT_EQ(forced.exit_code, 0) << forced.out;
  EXPECT_EQ(content_of(out).substr(0, 4), "GGUF");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(CliOutputFiles, StalePartialFilesOfDeadProcessesAreRemoved) {
  test::TempDir dir("out-stale");
  const fs::path out = dir / "out.gguf";
  // No process has this id (above any pid_max), so the file is what a killed quantize left behind.
  const fs::path stale = dir / "out.gguf.hearth-partial-2147483646";
  { std::ofstream(stale) << "half a model"; }
  const fs::path other = dir / "other.gguf.hearth-partial-2147483646";  // another output's: not touched
  { std::ofstream(other) << "not ours"; }
  const auto result = quantize_to(out);
  EXPECT_EQ(result.exit_code, 0) << result.out;
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(other));
  // What a killed write leaves has no GGUF magic: no command loads it.
  { std::ofstream(stale, std::ios::binary) << std::string(64, '\0'); }
  const auto info = test::run_command(hearth() + " info " + stale.string() + " 2>&1");
  EXPECT_EQ(info.exit_code, 1) << info.out;
}

TEST(CliOutputFiles, VocabOnlyFileHasNothingToQuantize) {
  test::TempDir dir("out-vocab");
  const std::string vocab = (test::shared_dir() / "vocab" / "ggml-vocab-llama-spm.gguf").string();
  const auto result = test::run_command(hearth() + " quantize " + vocab + " " + (dir / "out.gguf").string() + " Q8_0 2>&1");
  EXPECT_EQ(result.exit_code, 1) << result.out;
  EXPECT_NE(result.out.find(vocab + " has no tensors to quantize"), std::string::npos) << result.out;
  EXPECT_FALSE(fs::exists(dir / "out.gguf"));
}

}  // namespace
}  // namespace hearth
