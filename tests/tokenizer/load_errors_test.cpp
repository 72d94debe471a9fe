// Vocabularies that are missing pieces or contradict themselves fail to load with a LoadError that names
// the key and the problem; valid hand-made ones load.
#include <gtest/gtest.h>

#include "tokenizer/vocab_builder.h"

namespace hearth::tokenizer {
namespace {

using test::bpe_vocab;
using test::build;
using test::spm_vocab;

// Expects `writer` to fail loading with a LoadError whose message contains every one of `parts`.
void expect_load_error(const gguf::Writer& writer, std::initializer_list<std::string_view> parts) {
  try {
    build(writer);
    ADD_FAILURE() << "loaded without error";
  } catch (const LoadError& e) {
    for (const auto part : parts) EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(LoadErrors, HandMadeVocabulariesLoad) {
  const Tokenizer spm = build(spm_vocab({"▁", "a", "▁a"}));
  EXPECT_EQ(spm.kind(), Kind::SentencePiece);
  EXPECT_EQ(spm.vocab_size(), 3u + 256 + 3);
  const Tokenizer bpe = build(bpe_vocab({"Ġ a", "a b"}));
  EXPECT_EQ(bpe.kind(), Kind::BytePair);
  EXPECT_EQ(bpe.tokenize("ab a", false, false), (std::vector<int32_t>{257, 256}));  // "ab", "Ġa"
  EXPECT_EQ(bpe.tokenize(" ab", false, false), (std::vector<int32_t>{256, 'b'}));  // "Ġ a" ranks before "a b"
}

TEST(LoadErrors, MissingOrUnknownModel) {
  auto writer = spm_vocab({});
  writer.remove("tokenizer.ggml.model");
  expect_load_error(writer, {"tokenizer.ggml.model", "missing"});
  writer.set("tokenizer.ggml.model", gguf::Value("t5x"));
  expect_load_error(writer, {"unsupported tokenizer", "t5x"});
  writer.set("tokenizer.ggml.model", uint32_t{7});
  expect_load_error(writer, {"tokenizer.ggml.model", "must be string"});
}

TEST(LoadErrors, TokensMissingEmptyOrMistyped) {
  auto writer = spm_vocab({});
  writer.remove("tokenizer.ggml.tokens");
  expect_load_error(writer, {"tokenizer.ggml.tokens", "missing"});
  writer.set("tokenizer.ggml.tokens", gguf::Value::array_of(std::vector<std::string>{}));
  expect_load_error(writer, {"tokenizer.ggml.tokens", "empty"});
  writer.set("tokenizer.ggml.tokens", gguf::Value::array_of(std::vector<int32_t>{1, 2, 3}));
  expect_load_error(writer, {"tokenizer.ggml.tokens", "array of string"});
}

TEST(LoadErrors, DuplicateToken) {
  expect_load_error(spm_vocab({"▁a", "b", "▁a"}), {"'▁a' appears twice", "259", "261"});
}

TEST(LoadErrors, ScoresAndTypesOfTheWrongLength) {
  auto writer = spm_vocab({"a"});
  writer.set("tokenizer.ggml.scores", gguf::Value::array_of(std::vector<float>(10, 0.0f)));
  expect_load_error(writer, {"tokenizer.ggml.scores", "10 entries", "260 tokens"});
  writer = spm_vocab({"a"});
  writer.set("tokenizer.ggml.scores", gguf::Value::array_of(std::vector<double>(260, 0.0)));
  expect_load_error(writer, {"tokenizer.ggml.scores", "float64"});
  writer = spm_vocab({"a"});
  writer.set("tokenizer.ggml.token_type", gguf::Value::array_of(std::vector<int32_t>(300, 1)));
  expect_load_error(writer, {"tokenizer.ggml.token_type", "300 entries"});
  writer = spm_vocab({"a"});
  std::vector<int32_t> types(260, 1);
  types[7] = 42;
  writer.set("tokenizer.ggml.token_type", gguf::Value::array_of(types));
  expect_load_error(writer, {"tokenizer.ggml.token_type[7] = 42"});
}

TEST(LoadErrors, SpecialIdsOutOfRange) {
  for (const auto* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
                          "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
                          "tokenizer.ggml.seperator_token_id"}) {
    auto writer = spm_vocab({"a"});
    writer.set(key, uint32_t{260});
    expect_load_error(writer, {key, "260", "outside the vocabulary of 260 tokens"});
    writer.set(key, int32_t{-5});
    expect_load_error(writer, {key, "-5"});
    writer.set(key, gguf::Value("1"));
    expect_load_error(writer, {key, "integer"});
  }
  auto writer = spm_vocab({"a"});
  writer.set("tokenizer.ggml.eos_token_id", int32_t{-1});  // -1 says "none"
  EXPECT_EQ(build(writer).eos(), kNoToken);
}

TEST(LoadErrors, AddBosWithoutBos) {
  auto writer = bpe_vocab({});
  writer.set("tokenizer.ggml.bos_token_id", int32_t{-1});
  writer.set("tokenizer.ggml.add_bos_token", true);
  expect_load_error(writer, {"add_bos_token", "no BOS"});
  writer.set("tokenizer.ggml.add_bos_token", uint8_t{1});
  expect_load_error(writer, {"tokenizer.ggml.add_bos_token", "must be bool"});
}

TEST(LoadErrors, MalformedMerges) {
  expect_load_error(bpe_vocab({"Ġ t", "nospace"}), {"tokenizer.ggml.merges[1] = 'nospace'", "separated by a space"});
  expect_load_error(bpe_vocab({"a "}), {"tokenizer.ggml.merges[0]"});
  expect_load_error(bpe_vocab({" "}), {"tokenizer.ggml.merges[0]"});
  auto writer = bpe_vocab({});
  writer.remove("tokenizer.ggml.merges");
  expect_load_error(writer, {"tokenizer.ggml.merges", "missing"});
  writer.set("tokenizer.ggml.merges", gguf::Value::array_of(std::vector<int32_t>{1}));
  expect_load_error(writer, {"tokenizer.ggml.merges", "array of string"});
}

TEST(LoadErrors, MergesOfSymbolsOutsideTheVocabularyStillMerge) {
  // Merges apply although their results are no tokens; a merged symbol without a token falls back to the
  // tokens of its bytes, as the reference does.
  const Tokenizer merged = build(bpe_vocab({"x y", "xy z"}, "gpt-2", false));
  EXPECT_EQ(merged.tokenize("xyz", false, false), (std::vector<int32_t>{'x', 'y', 'z'}));
  EXPECT_EQ(merged.tokenize("xyzw", false, false), (std::vector<int32_t>{'x', 'y', 'z', 'w'}));
  // With the final result a token, the intermediate "xy" (no token) still leads there.
  auto writer = bpe_vocab({"x y", "xy z"}, "gpt-2", false);
  const gguf::File file = gguf::File::from_bytes(writer.to_bytes());
  auto tokens = file.get_array<std::string_view>("tokenizer.ggml.tokens");
  std::vector<std::string> extended(tokens.begin(), tokens.end());
  extended.push_back("xyz");
  writer.set("tokenizer.ggml.tokens", gguf::Value::array_of(extended));
  writer.set("tokenizer.ggml.token_type", gguf::Value::array_of(std::vector<int32_t>(extended.size(), 1)));
  const auto xyz = static_cast<int32_t>(extended.size() - 1);
  EXPECT_EQ(build(writer).tokenize("xyz", false, false), (std::vector<int32_t>{xyz}));
}

TEST(LoadErrors, UnknownPreTokenizer) {
  expect_load_error(bpe_vocab({}, "no-such-pre"), {"tokenizer.ggml.pre", "no-such-pre"});
}

TEST(LoadErrors, ByteTokenWithoutByteSpelling) {
  auto writer = spm_vocab({"a"});
  std::vector<int32_t> types(260, 1);
  types[259] = 6;  // "a" claims to be a byte token
  writer.set("tokenizer.ggml.token_type", gguf::Value::array_of(types));
  expect_load_error(writer, {"token 259", "BYTE", "<0xXX>"});
}

TEST(LoadErrors, WordPieceNeedsClsAndSep) {
  gguf::Writer writer;
  writer.set("tokenizer.ggml.model", gguf::Value("bert"));
  writer.set("tokenizer.ggml.tokens", gguf::Value::array_of(std::vector<std::string>{"[PAD]", "▁a"}));
  expect_load_error(writer, {"WordPiece", "CLS"});
}

}  // namespace
}  // namespace hearth::tokenizer
