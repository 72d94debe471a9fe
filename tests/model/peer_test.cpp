// The peer check: llama.cpp (node-llama-cpp, tools/peer) loads and runs what `hearth synth` and
// `hearth quantize` write, and reads back the architecture, tensor count and file type.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "hearth/gguf.h"
#include "model/quantize.h"
#include "support/shared_data.h"
#include "temp_dir.h"

namespace hearth::model {
namespace {

const std::filesystem::path kSourceDir = HEARTH_SOURCE_DIR;

std::string quoted(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

// Runs a shell command with its output in `log`; returns the exit status.
int run(const std::string& command, const std::filesystem::path& log) {
  const int status = std::system((command + " > " + quoted(log) + " 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Case {
  std::string file;
  std::string shape;
  std::string vocab;
  std::string synth_type;
  std::string quantize_to;  // empty: check the synthesized file itself
};

TEST(Peer, LlamaCppLoadsSynthesizedAndQuantizedModels) {
  const std::filesystem::path hearth = test::bin_dir() / "hearth";
  const std::filesystem::path inspect = kSourceDir / "tools" / "peer" / "inspect.mjs";
  ASSERT_TRUE(std::filesystem::exists(hearth)) << hearth << " is not built";
  ASSERT_TRUE(std::filesystem::exists(inspect)) << inspect;
  ASSERT_TRUE(std::filesystem::exists(kSourceDir / "tools" / "peer" / "node_modules" / "node-llama-cpp"))
      << "the peer is not installed (tools/peer/node_modules/node-llama-cpp)";
  test::TempDir dir("peer");
  ASSERT_EQ(run("command -v node", dir / "node.log"), 0) << "node is not on PATH; the peer check needs it";

  // The K mixes on the small-vocabulary shape; the large-vocabulary shapes (whose embeddings dominate) go through
  // the quick conversions, so the whole check stays within seconds.
  const std::vector<Case> cases = {
      {"llama-q4km.gguf", "tiny-llama", "llama-spm", "Q4_K_M", ""},
      {"llama-q8.gguf", "tiny-llama", "llama-spm", "Q4_K_M", "Q8_0"},
      {"llama-iq4xs.gguf", "tiny-llama", "llama-spm", "F16", "IQ4_XS"},
      {"llama-q3kl.gguf", "tiny-llama", "llama-spm", "F16", "Q3_K_L"},
      {"llama-q2k.gguf", "tiny-llama", "llama-spm", "F16", "Q2_K"},
      {"llama3-q8.gguf", "tiny-llama3", "llama-bpe", "BF16", "Q8_0"},
      {"qwen2-bf16.gguf", "tiny-qwen2", "qwen2", "F16", "BF16"},
      {"qwen3-q8.gguf", "tiny-qwen3", "qwen2", "Q8_0", ""},
      {"qwen3-f16.gguf", "tiny-qwen3", "qwen2", "Q8_0", "F16"},
  };
  std::string files;
  for (const Case& c : cases) {
    const std::filesystem::path synthesized = dir / (c.shape + "-" + c.synth_type + ".gguf");
    if (!std::filesystem::exists(synthesized)) {
      const std::string command = quoted(hearth) + " synth --quiet --threads 2 --seed 3 --shape " + c.shape +
                                  " --type " + c.synth_type + " --vocab " +
                                  quoted(test::shared_dir() / "vocab" / ("ggml-vocab-" + c.vocab + ".gguf")) +
                                  " --out " + quoted(synthesized);
      ASSERT_EQ(run(command, dir / "synth.log"), 0) << command << "\n" << read_text(dir / "synth.log");
    }
    if (c.quantize_to.empty()) {
      std::filesystem::copy_file(synthesized, dir / c.file);
    } else {
      const std::string command =
          quoted(hearth) + " quantize --threads 2 " + quoted(synthesized) + " " + quoted(dir / c.file) + " " + c.quantize_to;
      ASSERT_EQ(run(command, dir / "quantize.log"), 0) << command << "\n" << read_text(dir / "quantize.log");
      const std::string log = read_text(dir / "quantize.log");
      const bool requantizing = c.synth_type != "F16" && c.synth_type != "BF16";
      EXPECT_EQ(log.find("requantizing loses quality") != std::string::npos, requantizing) << log;
    }
    files += " " + quoted(dir / c.file);
  }

  const std::string command = "node " + quoted(inspect) + files + " --eval 2";
  ASSERT_EQ(run(command, dir / "peer.log"), 0) << command << "\n" << read_text(dir / "peer.log");
  std::istringstream lines(read_text(dir / "peer.log"));
  for (const Case& c : cases) {
    std::string line;
    ASSERT_TRUE(std::getline(lines, line)) << "no peer result for " << c.file;
    const nlohmann::json result = nlohmann::json::parse(line);
    const gguf::File file = gguf::File::open(dir / c.file);
    const std::string type = c.quantize_to.empty() ? c.synth_type : c.quantize_to;
    EXPECT_EQ(result.at("architecture"), file.get<std::string_view>("general.architecture")) << c.file;
    EXPECT_EQ(result.at("architecture"), c.shape == "tiny-qwen2" ? "qwen2" : c.shape == "tiny-qwen3" ? "qwen3" : "llama");
    EXPECT_EQ(result.at("tensorCount"), file.tensors().size()) << c.file;
    EXPECT_EQ(result.at("fileType"), static_cast<uint32_t>(*file_type_from_name(type))) << c.file;
    EXPECT_EQ(result.at("loaded"), true) << c.file;
    EXPECT_EQ(result.at("generated").size(), 2u) << c.file;
  }
}

TEST(Peer, CliRejectsBadArgumentsWithoutWriting) {
  const std::filesystem::path hearth = test::bin_dir() / "hearth";
  test::TempDir dir("cli");
  const std::filesystem::path out = dir / "out.gguf";
  const std::filesystem::path vocab = test::shared_dir() / "vocab" / "ggml-vocab-llama-spm.gguf";
  EXPECT_EQ(run(quoted(hearth) + " quantize " + quoted(vocab) + " " + quoted(out) + " Q4_K_Q", dir / "log"), 1);
  EXPECT_NE(read_text(dir / "log").find("unknown file type 'Q4_K_Q'"), std::string::npos) << read_text(dir / "log");
  EXPECT_EQ(run(quoted(hearth) + " quantize " + quoted(dir / "none.gguf") + " " + quoted(out) + " Q8_0", dir / "log"), 1);
  EXPECT_EQ(run(quoted(hearth) + " synth --shape tiny-gpt --vocab " + quoted(vocab) + " --out " + quoted(out), dir / "log"), 1);
  EXPECT_NE(read_text(dir / "log").find("unknown shape 'tiny-gpt'"), std::string::npos) << read_text(dir / "log");
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()), 1);
}

}  // namespace
}  // namespace hearth::model
