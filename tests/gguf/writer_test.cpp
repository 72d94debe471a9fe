#include <gtest/gtest.h>

#include <random>

#include "hearth/gguf.h"
#include "support/shared_data.h"

namespace hearth::gguf {
namespace {

namespace fs = std::filesystem;

void expect_same_value(const Value& a, const Value& b) {
  ASSERT_EQ(a.type(), b.type());
  if (!a.is_array()) {
    EXPECT_EQ(a.to_display(), b.to_display());
    return;
  }
  ASSERT_EQ(a.element_type(), b.element_type());
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) expect_same_value(a.item(i), b.item(i));
}

void expect_same_file(const File& a, const File& b) {
  ASSERT_EQ(a.metadata().size(), b.metadata().size());
  for (size_t i = 0; i < a.metadata().size(); ++i) {
    EXPECT_EQ(a.metadata()[i].key, b.metadata()[i].key);
    expect_same_value(a.metadata()[i].value, b.metadata()[i].value);
  }
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (size_t i = 0; i < a.tensors().size(); ++i) {
    const TensorInfo& x = a.tensors()[i];
    const TensorInfo& y = b.tensors()[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.type, y.type);
    EXPECT_EQ(x.ne, y.ne);
    EXPECT_EQ(x.n_dims, y.n_dims);
    ASSERT_EQ(x.size, y.size);
    EXPECT_EQ(0, std::memcmp(x.data, y.data, x.size)) << x.name;
  }
}

TEST(GgufWriter, RoundTripsEveryValueTypeAndTensors) {
  Writer writer;
  writer.set("u8", uint8_t{7});
  writer.set("i8", int8_t{-7});
  writer.set("u16", uint16_t{65535});
  writer.set("i16", int16_t{-2});
  writer.set("u32", uint32_t{123456});
  writer.set("i32", int32_t{-123456});
  writer.set("f32", 0.125f);
  writer.set("bool", true);
  writer.set("str", std::string("text with \"quotes\" and ünïcode"));
  writer.set("u64", uint64_t{1} << 40);
  writer.set("i64", int64_t{-1} << 40);
  writer.set("f64", 3.5);
  writer.set("floats", Value::array_of(std::vector<float>{1.f, 2.f, 3.f}));
  writer.set("strings", Value::array_of(std::vector<std::string>{"a", "", "ccc"}));
  writer.set("bools", Value::nested_array(ValueType::BOOL, {Value(true), Value(false)}));
  writer.set("nested", Value::nested_array(ValueType::ARRAY, {Value::array_of(std::vector<int32_t>{1, -1}),
                                                               Value::array_of(std::vector<std::string>{"x"})}));
  writer.set("u32", uint32_t{42});  // replacing keeps the first position

  std::mt19937 rng(1);
  std::vector<float> f32(64 * 3);
  for (float& x : f32) x = std::uniform_real_distribution<float>(-1, 1)(rng);
  std::vector<std::byte> q8(34 * 4);
  for (auto& x : q8) x = std::byte(rng() & 0xff);
  const std::vector<int64_t> shape_a{64, 3};
  const std::vector<int64_t> shape_b{64, 2};
  const std::vector<int64_t> shape_c{7};
  writer.add_tensor("a.weight", TensorType::F32, shape_a, std::as_bytes(std::span(f32)));
  writer.add_tensor("b.weight", TensorType::Q8_0, shape_b, q8);
  writer.add_tensor("c.bias", TensorType::F32, shape_c);  // filled by the callback
  const auto bytes = writer.to_bytes([](size_t index, std::span<std::byte> out) {
    ASSERT_EQ(index, 2u);
    for (size_t i = 0; i < out.size(); ++i) out[i] = std::byte(i);
  });

  const File file = File::from_bytes(bytes);
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.metadata()[4].key, "u32");
  EXPECT_EQ(file.get<uint32_t>("u32"), 42u);
  EXPECT_EQ(file.get<std::string_view>("str"), "text with \"quotes\" and ünïcode");
  EXPECT_EQ(file.get_array<float>("floats"), (std::vector<float>{1.f, 2.f, 3.f}));
  EXPECT_EQ(file.get_array<std::string>("strings"), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(file.at("nested").item(0).as_vector<int32_t>(), (std::vector<int32_t>{1, -1}));
  EXPECT_EQ(file.at("bools").item(1).as<bool>(), false);
  EXPECT_EQ(0, std::memcmp(file.tensor("a.weight").data, f32.data(), f32.size() * 4));
  EXPECT_EQ(0, std::memcmp(file.tensor("b.weight").data, q8.data(), q8.size()));
  EXPECT_EQ(std::to_integer<int>(file.tensor("c.bias").data[27]), 27);
  for (const TensorInfo& tensor : file.tensors()) EXPECT_EQ(tensor.offset % kDefaultAlignment, 0u);

  // write -> read -> write gives the same bytes.
  Writer again;
  again.copy_metadata(file);
  for (const TensorInfo& tensor : file.tensors()) {
    again.add_tensor(tensor.name, tensor.type, std::span(tensor.ne.data(), tensor.n_dims), tensor.bytes());
  }
  EXPECT_EQ(again.to_bytes(), bytes);
}

TEST(GgufWriter, RoundTripsSharedFilesThroughDisk) {
  const fs::path out = fs::temp_directory_path() / "hearth-writer-roundtrip.gguf";
  for (const char* name : {"models/hearth-demo-13m-q8_0.gguf", "vocab/ggml-vocab-qwen2.gguf", "golden/quant/quant-q4_K.gguf"}) {
    SCOPED_TRACE(name);
    const File original = File::open(test::shared_dir() / name);
    Writer writer(original.alignment());
    writer.copy_metadata(original);
    for (const TensorInfo& tensor : original.tensors()) {
      writer.add_tensor(tensor.name, tensor.type, std::span(tensor.ne.data(), tensor.n_dims), tensor.bytes());
    }
    writer.write(out);
    const File copy = File::open(out);
    expect_same_file(original, copy);
  }
  fs::remove(out);
}

TEST(GgufWriter, CustomAlignmentIsWrittenAndHonoured) {
  Writer writer(128);
  const std::vector<int64_t> shape{32};
  writer.add_tensor("x", TensorType::F32, shape);
  writer.add_tensor("y", TensorType::F16, shape);
  const auto bytes = writer.to_bytes([](size_t, std::span<std::byte> out) { std::fill(out.begin(), out.end(), std::byte{1}); });
  const File file = File::from_bytes(bytes);
  EXPECT_EQ(file.alignment(), 128u);
  EXPECT_EQ(file.get<uint32_t>("general.alignment"), 128u);
  EXPECT_EQ(file.tensor("y").offset, 128u);
  EXPECT_EQ(file.data_offset() % 128, 0u);
}

TEST(GgufWriter, RejectsInvalidTensors) {
  Writer writer;
  const std::vector<int64_t> bad_row{33};
  EXPECT_THROW(writer.add_tensor("q", TensorType::Q4_0, bad_row), std::invalid_argument);
  const std::vector<int64_t> zero{0};
  EXPECT_THROW(writer.add_tensor("z", TensorType::F32, zero), std::invalid_argument);
  const std::vector<int64_t> ok{32};
  writer.add_tensor("a", TensorType::F32, ok);
  EXPECT_THROW(writer.add_tensor("a", TensorType::F32, ok), std::invalid_argument);
  EXPECT_THROW((void)writer.to_bytes(), std::invalid_argument);  // no data and no fill callback
}

}  // namespace
}  // namespace hearth::gguf
