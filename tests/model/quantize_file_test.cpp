// Whole-file quantization: types, metadata, accuracy, atomic output, cancellation and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "hearth/gguf.h"
#include "model/quantize.h"
#include "model/synth.h"
#include "support/shared_data.h"
#include "temp_dir.h"
#include "tensor/quant.h"

namespace hearth::model {
namespace {

class QuantizeFile : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir("quantize");
    SynthOptions options;
    options.shape = &synth_shape("tiny-llama");
    options.vocab = test::shared_dir() / "vocab" / "ggml-vocab-llama-spm.gguf";
    options.file_type = FileType::F16;
    options.seed = 5;
    options.output = *dir_ / "f16.gguf";
    options.convert.threads = 2;
    write_synth_model(options);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::filesystem::path source() { return *dir_ / "f16.gguf"; }
  static size_t entries() {
    return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(dir_->path()), std::filesystem::directory_iterator()));
  }

  static test::TempDir* dir_;
};

test::TempDir* QuantizeFile::dir_ = nullptr;

std::vector<float> values_of(const gguf::TensorInfo& t) {
  std::vector<float> values(static_cast<size_t>(t.n_elements()));
  const uint64_t row = *row_bytes(t.type, t.ne[0]);
  for (int64_t r = 0; r < t.n_rows(); ++r) {
    tensor::dequantize_row(t.type, t.data + static_cast<uint64_t>(r) * row, values.data() + r * t.ne[0], t.ne[0]);
  }
  return values;
}

double relative_rmse(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (static_cast<double>(y[i]) - x[i]) * (static_cast<double>(y[i]) - x[i]);
    ref += static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(err / ref);
}

TEST_F(QuantizeFile, Q4KMFollowsThePlanAndKeepsEverythingElse) {
  const std::filesystem::path out = *dir_ / "q4km.gguf";
  std::vector<std::string> seen;
  ConvertOptions options;
  options.threads = 2;
  options.on_tensor = [&](size_t index, size_t count, const std::string& name, TensorType, TensorType) {
    EXPECT_EQ(index, seen.size());
    EXPECT_EQ(count, 39u);
    seen.push_back(name);
  };
  const QuantizeSummary summary = quantize_file(source(), out, FileType::Q4_K_M, options);
  EXPECT_EQ(seen.size(), 39u);
  EXPECT_EQ(summary.requantized, 0u);
  EXPECT_EQ(summary.converted, 4u * 7u + 2u);  // 7 matrices per block, embeddings and output

  const gguf::File in = gguf::File::open(source());
  const gguf::File file = gguf::File::open(out);
  EXPECT_EQ(summary.output_bytes, file.file_size());
  EXPECT_LT(file.file_size(), in.file_size() * 4 / 10);
  EXPECT_EQ(file.get<uint32_t>("general.file_type"), 15u);
  EXPECT_EQ(file.get<uint32_t>("general.quantization_version"), 2u);
  for (const gguf::KeyValue& kv : in.metadata()) {
    if (kv.key == "general.file_type") continue;
    ASSERT_TRUE(file.contains(kv.key)) << kv.key;
    EXPECT_EQ(file.at(kv.key).to_display(4), kv.value.to_display(4)) << kv.key;
  }
  EXPECT_EQ(file.tensor("output.weight").type, TensorType::Q6_K);
  EXPECT_EQ(file.tensor("token_embd.weight").type, TensorType::Q4_K);
  // Of 4 layers, 2 and 3 get more bits.
  EXPECT_EQ(file.tensor("blk.0.attn_v.weight").type, TensorType::Q4_K);
  EXPECT_EQ(file.tensor("blk.2.attn_v.weight").type, TensorType::Q6_K);
  EXPECT_EQ(file.tensor("blk.1.ffn_down.weight").type, TensorType::Q4_K);
  EXPECT_EQ(file.tensor("blk.3.ffn_down.weight").type, TensorType::Q6_K);
  EXPECT_EQ(file.tensor("blk.2.ffn_norm.weight").type, TensorType::F32);
  ASSERT_EQ(file.tensors().size(), in.tensors().size());
  for (size_t i = 0; i < in.tensors().size(); ++i) {
    const gguf::TensorInfo& a = in.tensors()[i];
    const gguf::TensorInfo& b = file.tensors()[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.ne, b.ne);
    const double bound = b.type == TensorType::Q6_K ? 0.03 : b.type == TensorType::Q4_K ? 0.11 : 0.0;
    EXPECT_LE(relative_rmse(values_of(a), values_of(b)), bound) << b.name << " " << type_name(b.type);
  }
  EXPECT_EQ(entries(), 2u);  // no temporary left behind
  std::filesystem::remove(out);
}

TEST_F(QuantizeFile, RequantizingIsCountedAndWorks) {
  const std::filesystem::path q8 = *dir_ / "q8.gguf";
  const std::filesystem::path q4 = *dir_ / "q4.gguf";
  ConvertOptions options;
  options.threads = 2;
  EXPECT_EQ(quantize_file(source(), q8, FileType::Q8_0, options).requantized, 0u);
  const QuantizeSummary summary = quantize_file(q8, q4, FileType::Q4_0, options);
  EXPECT_EQ(summary.requantized, summary.converted);
  EXPECT_EQ(summary.converted, 4u * 7u + 2u);  // every matrix, output.weight going Q8_0 -> Q6_K
  const gguf::File file = gguf::File::open(q4);
  EXPECT_EQ(file.tensor("blk.0.attn_q.weight").type, TensorType::Q4_0);
  EXPECT_EQ(file.get<uint32_t>("general.file_type"), 2u);
  // Back to floats: the quantization_version key goes away.
  const std::filesystem::path f32 = *dir_ / "f32.gguf";
  quantize_file(q4, f32, FileType::F32, options);
  const gguf::File floats = gguf::File::open(f32);
  EXPECT_EQ(floats.tensor("blk.0.attn_q.weight").type, TensorType::F32);
  EXPECT_FALSE(floats.contains("general.quantization_version"));
  std::filesystem::remove(q8);
  std::filesystem::remove(q4);
  std::filesystem::remove(f32);
}

TEST_F(QuantizeFile, CancelledLeavesNothing) {
  const std::filesystem::path out = *dir_ / "cancelled.gguf";
  std::atomic<bool> cancel{false};
  ConvertOptions options;
  options.threads = 2;
  options.cancel = &cancel;
  options.on_tensor = [&](size_t index, size_t, const std::string&, TensorType, TensorType) {
    if (index == 5) cancel = true;
  };
  EXPECT_THROW(quantize_file(source(), out, FileType::Q4_K_M, options), Cancelled);
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_EQ(entries(), 1u);
}

TEST_F(QuantizeFile, FailuresLeaveTheOutputUntouched) {
  const std::filesystem::path out = *dir_ / "existing.gguf";
  { std::ofstream(out) << "keep me"; }
  ConvertOptions options;
  // Not a GGUF file.
  EXPECT_THROW(quantize_file(test::shared_dir() / "README.md", out, FileType::Q8_0, options), gguf::FormatError);
  // No such input.
  EXPECT_THROW(quantize_file(*dir_ / "missing.gguf", out, FileType::Q8_0, options), std::runtime_error);
  // An output directory that does not exist.
  EXPECT_THROW(quantize_file(source(), *dir_ / "no" / "such.gguf", FileType::Q8_0, options), std::runtime_error);
  std::ifstream in(out);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "keep me");
  std::filesystem::remove(out);
  EXPECT_EQ(entries(), 1u);
}

TEST(ConvertRows, SplitsRowsOverThreadsAndPropagatesErrors) {
  std::vector<std::byte> out(*row_bytes(TensorType::F32, 64) * 1000);
  ConvertOptions options;
  options.threads = 3;
  convert_rows(1000, 64, TensorType::F32, [](int64_t row, float* v) {
    for (int i = 0; i < 64; ++i) v[i] = static_cast<float>(row * 64 + i);
  }, out, options);
  const float* values = reinterpret_cast<const float*>(out.data());
  for (int64_t i = 0; i < 64000; ++i) ASSERT_EQ(values[i], static_cast<float>(i));
  EXPECT_THROW(convert_rows(1000, 64, TensorType::Q8_0, [](int64_t row, float* v) {
    for (int i = 0; i < 64; ++i) v[i] = row == 700 ? NAN : 1.0f;
  }, std::span<std::byte>(out.data(), *row_bytes(TensorType::Q8_0, 64) * 1000), options), std::invalid_argument);
  EXPECT_THROW(convert_rows(10, 64, TensorType::F32, [](int64_t, float*) {}, out, options), std::invalid_argument);
}

}  // namespace
}  // namespace hearth::model
