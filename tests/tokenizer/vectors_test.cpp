// Every test vector of ../shared/vocab: ids exactly as the real tokenizers produce them (no BOS, special
// tokens not parsed), and detokenizing them gives the text back.
#include <gtest/gtest.h>

#include "tokenizer/vocab_files.h"

namespace hearth::tokenizer {
namespace {

class VocabVectors : public ::testing::TestWithParam<std::string> {};

std::string ids_string(const std::vector<int32_t>& ids) {
  std::string out;
  for (const int32_t id : ids) out += (out.empty() ? "" : " ") + std::to_string(id);
  return out;
}

TEST_P(VocabVectors, IdsMatchTheReference) {
  const Tokenizer tokenizer = test::load_tokenizer(GetParam());
  const auto vectors = test::read_test_vectors(GetParam());
  ASSERT_GE(vectors.size(), 40u);
  int failures = 0;
  for (const auto& vector : vectors) {
    const std::vector<int32_t> ids = tokenizer.tokenize(vector.text, false, false);
    EXPECT_EQ(ids_string(ids), ids_string(vector.ids)) << "text: '" << vector.text << "'";
    failures += ids != vector.ids;
  }
  EXPECT_EQ(failures, 0);
}

TEST_P(VocabVectors, DetokenizeRestoresTheText) {
  const Tokenizer tokenizer = test::load_tokenizer(GetParam());
  if (tokenizer.kind() == Kind::WordPiece) return;  // WordPiece normalizes; see the WordPiece tests
  for (const auto& vector : test::read_test_vectors(GetParam())) {
    EXPECT_EQ(tokenizer.detokenize(vector.ids, false), vector.text);
    EXPECT_EQ(tokenizer.detokenize(tokenizer.tokenize(vector.text, true, false), false), vector.text);
  }
}

INSTANTIATE_TEST_SUITE_P(SharedVocabularies, VocabVectors,
                         ::testing::Values("llama-spm", "llama-bpe", "qwen2", "phi-3", "gpt-2", "deepseek-llm",
                                           "falcon", "bert-bge"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

}  // namespace
}  // namespace hearth::tokenizer
