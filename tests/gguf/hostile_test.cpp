// Malformed GGUF files, each breaking one rule of the reader. Every one must raise FormatError with a message
// that says what was wrong, and `hearth info` must answer it with one line on stderr and exit code 1.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <functional>

#include "gguf/gguf_bytes.h"
#include "hearth/gguf.h"
#include "support/shared_data.h"

namespace hearth::gguf {
namespace {

using test::GgufBytes;
namespace fs = std::filesystem;

constexpr uint32_t kF32 = 0, kQ4_0 = 2, kTypeString = 8, kTypeArray = 9, kTypeU32 = 4;

// A small valid file whose last tensor ends exactly at the end of the file.
GgufBytes valid_file() {
  GgufBytes b;
  b.header(2, 2).kv_str("general.architecture", "llama").str("list").put<uint32_t>(kTypeArray).put<uint32_t>(kTypeString);
  b.put<uint64_t>(2).str("one").str("two");
  b.tensor("a", {8, 2}, kF32, 0).tensor("b", {32}, kQ4_0, 64).pad_to(32).zeros(64 + 18);
  return b;
}

struct Case {
  const char* name;
  std::function<GgufBytes()> build;
  const char* message;  // a part of the expected error
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"empty", [] { return GgufBytes{}; }, "truncated: magic"},
      {"bad_magic", [] { return GgufBytes{}.put<uint32_t>(0x46554746).put<uint32_t>(3).zeros(16); }, "bad magic"},
      {"version_1", [] { return GgufBytes{}.header(0, 0, 1); }, "version 1 is not supported"},
      {"version_4", [] { return GgufBytes{}.header(0, 0, 4); }, "unsupported GGUF version 4"},
      {"huge_tensor_count", [] { return GgufBytes{}.header(1ull << 63, 0); }, "tensor count 9223372036854775808 cannot fit"},
      {"huge_kv_count", [] { return GgufBytes{}.header(0, 1ull << 62); }, "metadata count 4611686018427387904 cannot fit"},
      {"key_length_past_eof", [] { return GgufBytes{}.header(0, 1).put<uint64_t>(1000).zeros(20); },
       "metadata key has length 1000 but only 20 bytes remain"},
      {"string_length_past_eof", [] { return GgufBytes{}.header(0, 1).str("k").put<uint32_t>(kTypeString).put<uint64_t>(1ull << 40).zeros(8); },
       "string value has length 1099511627776"},
      {"array_of_2_62_u32", [] {
         return GgufBytes{}.header(0, 1).str("k").put<uint32_t>(kTypeArray).put<uint32_t>(kTypeU32).put<uint64_t>(1ull << 62).zeros(64);
       }, "array of 4611686018427387904 uint32 elements cannot fit"},
      {"array_of_2_62_strings", [] {
         return GgufBytes{}.header(0, 1).str("k").put<uint32_t>(kTypeArray).put<uint32_t>(kTypeString).put<uint64_t>(1ull << 62).zeros(64);
       }, "array of 4611686018427387904 string elements cannot fit"},
      {"invalid_value_type", [] { return GgufBytes{}.header(0, 1).str("k").put<uint32_t>(13).zeros(8); }, "invalid value type id 13"},
      {"invalid_array_element_type", [] { return GgufBytes{}.header(0, 1).str("k").put<uint32_t>(kTypeArray).put<uint32_t>(77).put<uint64_t>(0); },
       "array element type has invalid value type id 77"},
      {"arrays_nested_too_deep", [] {
         GgufBytes b;
         b.header(0, 1).str("k").put<uint32_t>(kTypeArray);
         for (int i = 0; i < 20; ++i) b.put<uint32_t>(kTypeArray).put<uint64_t>(1);
         return b.put<uint32_t>(kTypeU32).put<uint64_t>(0);
       }, "nested deeper than"},
      {"bool_not_0_or_1", [] { return GgufBytes{}.header(0, 1).str("k").put<uint32_t>(7).put<uint8_t>(2); }, "bool value is 2"},
      {"duplicate_key", [] { return GgufBytes{}.header(0, 2).kv_u32("k", 1).kv_u32("k", 2); }, "duplicate metadata key 'k'"},
      {"empty_key", [] { return GgufBytes{}.header(0, 1).kv_u32("", 1); }, "empty metadata key"},
      {"alignment_not_power_of_two", [] { return GgufBytes{}.header(0, 1).kv_u32("general.alignment", 48); }, "48 is not a power of two"},
      {"alignment_wrong_type", [] { return GgufBytes{}.header(0, 1).kv_str("general.alignment", "32"); }, "general.alignment must be uint32"},
      {"zero_dims", [] { return GgufBytes{}.header(1, 0).str("t").put<uint32_t>(0).zeros(64); }, "has 0 dimensions"},
      {"five_dims", [] { return GgufBytes{}.header(1, 0).tensor("t", {1, 1, 1, 1, 1}, kF32, 0).pad_to(32).zeros(32); }, "has 5 dimensions"},
      {"zero_extent", [] { return GgufBytes{}.header(1, 0).tensor("t", {0}, kF32, 0).pad_to(32).zeros(32); }, "dimension 0 is 0"},
      {"negative_extent", [] { return GgufBytes{}.header(1, 0).tensor("t", {4, -2}, kF32, 0).pad_to(32).zeros(32); }, "dimension 1 is -2"},
      {"dims_overflow_int64", [] {
         return GgufBytes{}.header(1, 0).tensor("t", {1ll << 32, 1ll << 32}, kF32, 0).pad_to(32).zeros(32);
       }, "element count overflows int64"},
      {"byte_size_overflows", [] {
         return GgufBytes{}.header(1, 0).tensor("t", {1ll << 31, 1ll << 31}, kF32, 0).pad_to(32).zeros(32);
       }, "byte size overflows"},
      {"removed_type", [] { return GgufBytes{}.header(1, 0).tensor("t", {32}, 4, 0).pad_to(32).zeros(32); }, "unknown or removed type id 4"},
      {"unknown_type", [] { return GgufBytes{}.header(1, 0).tensor("t", {32}, 1000, 0).pad_to(32).zeros(32); }, "unknown or removed type id 1000"},
      {"row_not_multiple_of_block", [] { return GgufBytes{}.header(1, 0).tensor("t", {33}, kQ4_0, 0).pad_to(32).zeros(64); },
       "row length 33 is not a multiple of the q4_0 block size 32"},
      {"offset_past_eof", [] { return GgufBytes{}.header(1, 0).tensor("t", {8}, kF32, 1ull << 40).pad_to(32).zeros(32); }, "runs past the end"},
      {"size_past_eof", [] { return GgufBytes{}.header(1, 0).tensor("t", {64}, kF32, 0).pad_to(32).zeros(100); }, "runs past the end"},
      {"misaligned_offset", [] { return GgufBytes{}.header(1, 0).tensor("t", {8}, kF32, 4).pad_to(32).zeros(64); },
       "offset 4 is not a multiple of the alignment 32"},
      {"overlapping_tensors", [] {
         return GgufBytes{}.header(2, 0).tensor("a", {16}, kF32, 0).tensor("b", {8}, kF32, 32).pad_to(32).zeros(64);
       }, "tensor 'b' overlaps tensor 'a'"},
      {"duplicate_tensor_name", [] {
         return GgufBytes{}.header(2, 0).tensor("a", {8}, kF32, 0).tensor("a", {8}, kF32, 32).pad_to(32).zeros(64);
       }, "duplicate tensor name 'a'"},
      {"empty_tensor_name", [] { return GgufBytes{}.header(1, 0).tensor("", {8}, kF32, 0).pad_to(32).zeros(32); }, "empty tensor name"},
      {"tensor_name_too_long", [] {
         return GgufBytes{}.header(1, 0).tensor(std::string(64, 'n'), {8}, kF32, 0).pad_to(32).zeros(32);
       }, "tensor name of 64 bytes is longer than 63"},
      {"data_section_missing", [] { return GgufBytes{}.header(1, 0).tensor("t", {8}, kF32, 0); }, "tensor data section would start at byte 64"},
  };
  return all;
}

std::string error_of(std::span<const std::byte> bytes) {
  try {
    (void)File::from_bytes(bytes);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

TEST(GgufHostile, ValidBaseFileParses) {
  const GgufBytes b = valid_file();
  const File file = File::from_bytes(b.span());
  EXPECT_EQ(file.tensors().size(), 2u);
  EXPECT_EQ(file.data_offset() + file.tensor("b").offset + file.tensor("b").size, b.bytes.size());
}

TEST(GgufHostile, EveryTruncationIsAnError) {
  const GgufBytes b = valid_file();
  for (size_t length = 0; length < b.bytes.size(); ++length) {
    const std::string error = error_of(std::span(b.bytes).first(length));
    EXPECT_FALSE(error.empty()) << "a file truncated to " << length << " bytes was accepted";
  }
}

TEST(GgufHostile, EachBrokenRuleIsNamed) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const GgufBytes b = c.build();
    const std::string error = error_of(b.span());
    EXPECT_NE(error.find(c.message), std::string::npos) << "error was: " << error;
    EXPECT_NE(error.find("GGUF error at byte "), std::string::npos) << error;
  }
}

TEST(GgufHostile, EveryByteFlipIsSafe) {
  // Corrupting any single byte of a valid file either still parses or raises FormatError; never anything else.
  const GgufBytes b = valid_file();
  for (size_t i = 0; i < b.bytes.size(); ++i) {
    for (uint8_t value : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
      std::vector<std::byte> corrupt = b.bytes;
      corrupt[i] = std::byte(value);
      try {
        (void)File::from_bytes(corrupt);
      } catch (const FormatError&) {
      }
    }
  }
}

TEST(GgufHostile, InfoExitsOneWithOneLineError) {
  const fs::path dir = fs::temp_directory_path() / "hearth-hostile";
  fs::create_directories(dir);
  const fs::path hearth = test::bin_dir() / "hearth";
  ASSERT_TRUE(fs::exists(hearth)) << hearth;
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const fs::path file = dir / (std::string(c.name) + ".gguf");
    const GgufBytes b = c.build();
    std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(b.bytes.data()), static_cast<std::streamsize>(b.bytes.size()));
    const fs::path err = dir / (std::string(c.name) + ".err");
    const std::string command = hearth.string() + " info " + file.string() + " >/dev/null 2>" + err.string();
    const int status = std::system(command.c_str());
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 1);
    std::ifstream in(err);
    std::string first, second;
    std::getline(in, first);
    EXPECT_FALSE(std::getline(in, second)) << "more than one line: " << second;
    EXPECT_NE(first.find(c.message), std::string::npos) << first;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace hearth::gguf
