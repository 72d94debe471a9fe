#include <gtest/gtest.h>

#include <chrono>

#include "gguf/gguf_bytes.h"
#include "hearth/gguf.h"
#include "support/shared_data.h"

namespace hearth::gguf {
namespace {

using test::GgufBytes;
namespace fs = std::filesystem;

TEST(GgufReader, ReadsLlama3VocabSummary) {
  const File file = File::open(test::shared_dir() / "vocab" / "ggml-vocab-llama-bpe.gguf");
  EXPECT_EQ(file.get<std::string_view>("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(file.get<std::string_view>("tokenizer.ggml.pre"), "llama-bpe");
  const auto tokens = file.get_array<std::string_view>("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 128256u);
  EXPECT_EQ(tokens[0], "!");
  EXPECT_EQ(file.at("tokenizer.ggml.tokens").item(128000).string(), "<|begin_of_text|>");
  EXPECT_EQ(file.get<uint32_t>("tokenizer.ggml.bos_token_id"), 128000u);
  EXPECT_TRUE(file.tensors().empty());
}

TEST(GgufReader, ReadsEverySharedFile) {
  size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(test::shared_dir())) {
    if (entry.path().extension() != ".gguf") continue;
    SCOPED_TRACE(entry.path().string());
    const File file = File::open(entry.path());
    for (const TensorInfo& tensor : file.tensors()) {
      EXPECT_EQ(tensor.bytes().data(), file.tensors().front().data - file.tensors().front().offset + tensor.offset);
      EXPECT_LE(file.data_offset() + tensor.offset + tensor.size, file.file_size());
    }
    ++files;
  }
  EXPECT_GE(files, 23u);  // 8 vocabularies, 14 quant goldens, the demo model
}

TEST(GgufReader, DemoModelTensorsAreViewsIntoTheMapping) {
  const File file = File::open(test::shared_dir() / "models" / "hearth-demo-13m-q8_0.gguf");
  EXPECT_EQ(file.get<std::string_view>("general.architecture"), "llama");
  EXPECT_EQ(file.get<uint32_t>("llama.block_count"), 6u);
  const TensorInfo& embd = file.tensor("token_embd.weight");
  EXPECT_EQ(embd.type, TensorType::Q8_0);
  EXPECT_EQ(embd.ne[0], 256);
  EXPECT_EQ(embd.ne[1], 32000);
  EXPECT_EQ(embd.size, 32000u * 256 / 32 * 34);
  EXPECT_EQ(embd.data, reinterpret_cast<const std::byte*>(embd.data));
}

TEST(GgufReader, TypedGetterNamesKeyAndTypes) {
  const File file = File::open(test::shared_dir() / "vocab" / "ggml-vocab-llama-bpe.gguf");
  try {
    (void)file.get<int32_t>("tokenizer.ggml.bos_token_id");
    FAIL() << "expected KeyError";
  } catch (const KeyError& e) {
    EXPECT_STREQ(e.what(), "metadata key 'tokenizer.ggml.bos_token_id': expected int32, found uint32");
  }
  try {
    (void)file.get<uint32_t>("qwen2.block_count");
    FAIL() << "expected KeyError";
  } catch (const KeyError& e) {
    EXPECT_STREQ(e.what(), "metadata key 'qwen2.block_count' is missing");
  }
  try {
    (void)file.get_array<int32_t>("tokenizer.ggml.tokens");
    FAIL() << "expected KeyError";
  } catch (const KeyError& e) {
    EXPECT_STREQ(e.what(), "metadata key 'tokenizer.ggml.tokens': expected array of int32, found array of string");
  }
  EXPECT_EQ(file.get_or<uint32_t>("qwen2.block_count", 7), 7u);
  EXPECT_EQ(file.get_or<uint32_t>("llama.block_count", 7), 32u);
}

TEST(GgufReader, VersionTwoAndAllScalarTypes) {
  GgufBytes b;
  b.header(0, 12, 2);
  b.str("u8").put<uint32_t>(0).put<uint8_t>(200);
  b.str("i8").put<uint32_t>(1).put<int8_t>(-5);
  b.str("u16").put<uint32_t>(2).put<uint16_t>(60000);
  b.str("i16").put<uint32_t>(3).put<int16_t>(-30000);
  b.str("u32").put<uint32_t>(4).put<uint32_t>(4000000000u);
  b.str("i32").put<uint32_t>(5).put<int32_t>(-2000000000);
  b.str("f32").put<uint32_t>(6).put<float>(1.5f);
  b.str("bool").put<uint32_t>(7).put<uint8_t>(1);
  b.str("str").put<uint32_t>(8).str("héllo");
  b.str("u64").put<uint32_t>(10).put<uint64_t>(1ull << 63);
  b.str("i64").put<uint32_t>(11).put<int64_t>(-(1ll << 62));
  b.str("f64").put<uint32_t>(12).put<double>(2.25);
  const File file = File::from_bytes(b.span());
  EXPECT_EQ(file.version(), 2u);
  EXPECT_EQ(file.get<uint8_t>("u8"), 200);
  EXPECT_EQ(file.get<int8_t>("i8"), -5);
  EXPECT_EQ(file.get<uint16_t>("u16"), 60000);
  EXPECT_EQ(file.get<int16_t>("i16"), -30000);
  EXPECT_EQ(file.get<uint32_t>("u32"), 4000000000u);
  EXPECT_EQ(file.get<int32_t>("i32"), -2000000000);
  EXPECT_EQ(file.get<float>("f32"), 1.5f);
  EXPECT_EQ(file.get<bool>("bool"), true);
  EXPECT_EQ(file.get<std::string_view>("str"), "héllo");
  EXPECT_EQ(file.get<uint64_t>("u64"), 1ull << 63);
  EXPECT_EQ(file.get<int64_t>("i64"), -(1ll << 62));
  EXPECT_EQ(file.get<double>("f64"), 2.25);
  EXPECT_EQ(file.at("i16").as_int(), -30000);
  EXPECT_THROW((void)file.at("u64").as_int(), KeyError);
  EXPECT_THROW((void)file.at("str").as_int(), KeyError);
}

TEST(GgufReader, NestedArrays) {
  GgufBytes b;
  b.header(0, 1);
  b.str("nested").put<uint32_t>(9).put<uint32_t>(9).put<uint64_t>(2);
  b.put<uint32_t>(4).put<uint64_t>(3).put<uint32_t>(1).put<uint32_t>(2).put<uint32_t>(3);
  b.put<uint32_t>(8).put<uint64_t>(2).str("a").str("bc");
  const File file = File::from_bytes(b.span());
  const Value& nested = file.at("nested");
  ASSERT_EQ(nested.size(), 2u);
  EXPECT_EQ(nested.element_type(), ValueType::ARRAY);
  EXPECT_EQ(nested.item(0).as_vector<uint32_t>(), (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_EQ(nested.item(1).as_vector<std::string>(), (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(nested.to_display(), "[[1, 2, 3], [\"a\", \"bc\"]]");
  EXPECT_THROW((void)nested.item(2), std::out_of_range);
}

TEST(GgufReader, AlignmentFromMetadata) {
  GgufBytes b;
  b.header(1, 1).kv_u32("general.alignment", 64).tensor("t", {8}, 0, 64).pad_to(64).zeros(64 + 32);
  const File file = File::from_bytes(b.span());
  EXPECT_EQ(file.alignment(), 64u);
  EXPECT_EQ(file.data_offset() % 64, 0u);
  EXPECT_EQ(file.tensor("t").offset, 64u);
}

TEST(GgufReader, MetadataOfLargeFileIsFast) {
  // A sparse 5 GB file: reading it must touch only the header pages.
  const fs::path path = fs::temp_directory_path() / "hearth-large-test.gguf";
  GgufBytes b;
  b.header(150, 1).kv_str("general.architecture", "llama");
  const uint64_t tensor_bytes = 4096ull * 4096 * 2;
  for (uint64_t i = 0; i < 150; ++i) b.tensor("blk." + std::to_string(i) + ".weight", {4096, 4096}, 1, i * tensor_bytes);
  b.pad_to(32);
  {
    std::FILE* out = std::fopen(path.c_str(), "wb");
    ASSERT_NE(out, nullptr);
    ASSERT_EQ(std::fwrite(b.bytes.data(), 1, b.bytes.size(), out), b.bytes.size());
    std::fclose(out);
  }
  fs::resize_file(path, b.bytes.size() + 150 * tensor_bytes);  // sparse: the data pages are never touched
  const auto start = std::chrono::steady_clock::now();
  const File file = File::open(path);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(file.file_size(), 5'000'000'000u);
  EXPECT_EQ(file.tensors().size(), 150u);
  RecordProperty("open_seconds", std::to_string(seconds));
  std::printf("opened a %.1f GB file in %.3f ms\n", file.file_size() / 1e9, seconds * 1e3);
  fs::remove(path);
}

}  // namespace
}  // namespace hearth::gguf
