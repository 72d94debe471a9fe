// Weights holding NaN or infinity (a norm weight, a block scale): generation stops with a clear error instead of
// sampling garbage, and `hearth info --check-tensors` names the tensors at fault.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "cli/run_command.h"
#include "hearth/gguf.h"
#include "support/shared_data.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

std::string hearth_cli() { return (test::bin_dir() / "hearth").string(); }

// A copy of the demo model with `bytes` written over the start of tensor `name`.
fs::path patched_demo(const fs::path& folder, const std::string& name, const void* bytes, size_t size) {
  const fs::path source = test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf";
  const fs::path target = folder / fmt::format("demo-{}.gguf", name);
  fs::copy_file(source, target, fs::copy_options::overwrite_existing);
  const gguf::File file = gguf::File::open(source);
  for (const auto& tensor : file.tensors()) {
    if (tensor.name != name) continue;
    std::fstream out(target, std::ios::binary | std::ios::in | std::ios::out);
    out.seekp(static_cast<std::streamoff>(file.data_offset() + tensor.offset));
    out.write(static_cast<const char*>(bytes), static_cast<std::streamsize>(size));
    return target;
  }
  throw std::runtime_error("no tensor " + name);
}

class NonFiniteWeights : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = fs::temp_directory_path() / fmt::format("hearth-nonfinite-{}", ::getpid());
    fs::create_directories(folder_);
  }
  void TearDown() override { fs::remove_all(folder_); }
  fs::path folder_;
};

TEST_F(NonFiniteWeights, GenerationStopsWithAClearError) {
  const float nan = std::nanf("");
  const fs::path norm = patched_demo(folder_, "blk.0.attn_norm.weight", &nan, sizeof(nan));
  const uint16_t f16_infinity = 0x7C00;  // a Q8_0 block whose scale is +inf
  const fs::path scale = patched_demo(folder_, "blk.2.ffn_down.weight", &f16_infinity, sizeof(f16_infinity));
  for (const fs::path& model : {norm, scale}) {
    const auto run = test::run_command(hearth_cli() + " run -m " + model.string() + " -p 'The Python' -n 4 2>&1");
    EXPECT_EQ(run.exit_code, 1) << run.out;
    EXPECT_NE(run.out.find("the model computed a non-finite value"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("--check-tensors"), std::string::npos) << run.out;
    EXPECT_EQ(run.out.find("banned"), std::string::npos) << run.out;
  }
}

TEST_F(NonFiniteWeights, InfoCheckTensorsNamesThem) {
  const float infinity = INFINITY;
  const fs::path model = patched_demo(folder_, "output_norm.weight", &infinity, sizeof(infinity));
  const auto bad = test::run_command(hearth_cli() + " info " + model.string() + " --check-tensors 2>&1 >/dev/null");
  EXPECT_EQ(bad.exit_code, 1) << bad.out;
  EXPECT_NE(bad.out.find("tensor output_norm.weight holds a non-finite value (inf) at element 0"), std::string::npos)
      << bad.out;
  EXPECT_NE(bad.out.find("1 of "), std::string::npos) << bad.out;

  const fs::path demo = test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf";
  const auto good = test::run_command(hearth_cli() + " info " + demo.string() + " --check-tensors 2>&1 >/dev/null");
  EXPECT_EQ(good.exit_code, 0) << good.out;
  EXPECT_NE(good.out.find("hold finite values"), std::string::npos) << good.out;
}

}  // namespace
}  // namespace hearth
