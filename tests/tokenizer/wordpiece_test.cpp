// WordPiece (bert-bge): BERT's normalization and the greedy longest-match pieces.
#include <gtest/gtest.h>

#include "tokenizer/vocab_files.h"

namespace hearth::tokenizer {
namespace {

std::vector<int32_t> ids(const std::string& text) { return test::load_tokenizer("bert-bge").tokenize(text, false, false); }

TEST(WordPiece, LowercasesAndStripsAccents) {
  EXPECT_EQ(ids("Hello WORLD"), ids("hello world"));
  EXPECT_EQ(ids("Café naïve Ångström"), ids("cafe naive angstrom"));
  EXPECT_EQ(ids("e\xCC\x81"), ids("e"));  // a combining accent is dropped
}

TEST(WordPiece, SplitsPunctuationAndIdeographs) {
  EXPECT_EQ(ids("a.b,c!"), ids("a . b , c !"));
  EXPECT_EQ(ids("$5"), ids("$ 5"));          // ASCII symbols split too
  EXPECT_EQ(ids("中文"), ids("中 文"));
  EXPECT_EQ(ids("中文").size(), 2u);
}

TEST(WordPiece, ContinuationPiecesAndUnknownWords) {
  const Tokenizer bert = test::load_tokenizer("bert-bge");
  const auto pieces = ids("tokenization");
  ASSERT_GE(pieces.size(), 2u);
  EXPECT_EQ(bert.token_text(pieces[0]).substr(0, 3), "\xE2\x96\x81");  // word start: ▁
  EXPECT_NE(bert.token_text(pieces[1]).substr(0, 3), "\xE2\x96\x81");  // continuation: bare
  EXPECT_EQ(ids("🦙"), (std::vector<int32_t>{100}));                   // no piece spells it: [UNK]
  EXPECT_EQ(ids("x🦙y z"), (std::vector<int32_t>{100, ids("z")[0]}));  // the whole word is unknown
}

TEST(WordPiece, DropsControlCharactersAndSplitsAtWhitespace) {
  EXPECT_EQ(ids("a\x01" "b"), ids("ab"));
  EXPECT_EQ(ids("a\t\n\xE3\x80\x80" "b"), ids("a b"));
  EXPECT_TRUE(ids(" \n\t ").empty());
}

}  // namespace
}  // namespace hearth::tokenizer
