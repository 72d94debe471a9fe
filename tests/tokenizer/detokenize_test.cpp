// Ids back to text: pieces per token kind, the leading space, and streaming that never splits a character.
#include <gtest/gtest.h>

#include "tokenizer/text_corpus.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab_files.h"

namespace hearth::tokenizer {
namespace {

TEST(Detokenize, PiecesOfEachTokenKind) {
  const Tokenizer spm = test::load_tokenizer("llama-spm");
  EXPECT_EQ(spm.token_text(15043), "\xE2\x96\x81Hello");
  EXPECT_EQ(spm.token_to_piece(15043, false), " Hello");
  EXPECT_EQ(spm.token_to_piece(13, false), "\n");  // <0x0A>
  EXPECT_EQ(spm.token_to_piece(3 + 0xF0, false), "\xF0");
  EXPECT_EQ(spm.token_to_piece(1, false), "");
  EXPECT_EQ(spm.token_to_piece(1, true), "<s>");
  EXPECT_EQ(spm.token_to_piece(0, true), "<unk>");

  const Tokenizer gpt2 = test::load_tokenizer("gpt-2");
  EXPECT_EQ(gpt2.token_text(995), "\xC4\xA0world");  // Ġworld
  EXPECT_EQ(gpt2.token_to_piece(995, false), " world");
  EXPECT_EQ(gpt2.token_to_piece(198, false), "\n");  // Ċ

  const Tokenizer bert = test::load_tokenizer("bert-bge");
  EXPECT_EQ(bert.token_to_piece(7592, false), " hello");
  EXPECT_EQ(bert.detokenize(bert.tokenize("Hello, World!", true, false), false), " hello , world !");
}

TEST(Detokenize, BadIdsThrow) {
  const Tokenizer spm = test::load_tokenizer("llama-spm");
  EXPECT_THROW(spm.token_to_piece(32000, false), TokenIdError);
  EXPECT_THROW(spm.token_to_piece(-1, true), TokenIdError);
  const std::vector<int32_t> ids = {15043, 99999};
  EXPECT_THROW(spm.detokenize(ids, false), TokenIdError);
  EXPECT_THROW(spm.token_text(32000), TokenIdError);
}

TEST(Detokenize, LeadingSpaceRemovedOnlyAtTheStart) {
  const Tokenizer spm = test::load_tokenizer("llama-spm");
  EXPECT_EQ(spm.detokenize(std::vector<int32_t>{15043, 15043}, false), "Hello Hello");
  EXPECT_EQ(spm.detokenize(std::vector<int32_t>{1, 15043}, false), "Hello");
  EXPECT_EQ(spm.detokenize(std::vector<int32_t>{1, 15043}, true), "<s>Hello");
  EXPECT_EQ(spm.tokenize(" Hello", false, false), (std::vector<int32_t>{29871, 15043}));
  EXPECT_EQ(spm.detokenize(std::vector<int32_t>{29871, 15043}, false), " Hello");
  // Byte-level BPE adds no space, so removes none.
  const Tokenizer gpt2 = test::load_tokenizer("gpt-2");
  EXPECT_EQ(gpt2.detokenize(std::vector<int32_t>{995}, false), " world");
}

TEST(StreamingDetokenizer, HoldsIncompleteCharacters) {
  const Tokenizer spm = test::load_tokenizer("llama-spm");
  // 🦙 has no token in Llama 2's vocabulary: it becomes its four bytes.
  const std::vector<int32_t> ids = spm.tokenize("a🦙b", false, false);
  ASSERT_EQ(ids.size(), 6u);  // ▁a, 4 bytes, b
  StreamingDetokenizer stream(spm);
  EXPECT_EQ(stream.push(ids[0]), "a");
  EXPECT_EQ(stream.push(ids[1]), "");
  EXPECT_EQ(stream.push(ids[2]), "");
  EXPECT_EQ(stream.push(ids[3]), "");
  EXPECT_EQ(stream.push(ids[4]), "🦙");
  EXPECT_EQ(stream.push(ids[5]), "b");
  EXPECT_EQ(stream.finish(), "");
}

TEST(StreamingDetokenizer, FinishReleasesAnUnfinishedCharacter) {
  const Tokenizer spm = test::load_tokenizer("llama-spm");
  StreamingDetokenizer stream(spm, false, false);
  EXPECT_EQ(stream.push(15043), " Hello");  // continuing text: the space stays
  EXPECT_EQ(stream.push(3 + 0xE2), "");
  EXPECT_EQ(stream.push(3 + 0x96), "");
  EXPECT_EQ(stream.finish(), "\xE2\x96");
  // A byte that cannot continue the held ones releases them as they are.
  StreamingDetokenizer broken(spm, false, false);
  EXPECT_EQ(broken.push(3 + 0xE2), "");
  EXPECT_EQ(broken.push(3 + 'x'), "\xE2x");
}

TEST(StreamingDetokenizer, ConcatenationEqualsDetokenize) {
  test::TextCorpus corpus(7);
  for (const auto* name : {"llama-spm", "llama-bpe", "qwen2", "gpt-2"}) {
    const Tokenizer tokenizer = test::load_tokenizer(name);
    for (const auto& text : corpus.texts(60)) {
      const auto ids = tokenizer.tokenize(text, true, false);
      StreamingDetokenizer stream(tokenizer);
      std::string streamed;
      for (const int32_t id : ids) {
        const std::string piece = stream.push(id);
        // No piece handed out ends inside a character.
        EXPECT_EQ(unicode::complete_prefix_length(piece), piece.size());
        streamed += piece;
      }
      streamed += stream.finish();
      EXPECT_EQ(streamed, tokenizer.detokenize(ids, false)) << name;
      EXPECT_EQ(streamed, text) << name;
    }
  }
}

}  // namespace
}  // namespace hearth::tokenizer
