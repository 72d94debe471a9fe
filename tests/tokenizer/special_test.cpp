// Special tokens: BOS/EOS framing per family, parsing control tokens only on request, user-defined tokens
// always, longest tokens cut first, per-model whitespace stripping, end-of-generation sets.
#include <gtest/gtest.h>

#include "tokenizer/vocab_builder.h"
#include "tokenizer/vocab_files.h"

namespace hearth::tokenizer {
namespace {

TEST(SpecialTokens, FamilyIdsAndFlags) {
  const Tokenizer spm = test::load_tokenizer("llama-spm");
  EXPECT_EQ(spm.bos(), 1);
  EXPECT_EQ(spm.eos(), 2);
  EXPECT_EQ(spm.unk(), 0);
  EXPECT_TRUE(spm.add_bos());
  EXPECT_FALSE(spm.add_eos());
  EXPECT_TRUE(spm.add_space_prefix());
  EXPECT_EQ(spm.newline(), 13);  // <0x0A>

  const Tokenizer llama3 = test::load_tokenizer("llama-bpe");
  EXPECT_EQ(llama3.bos(), 128000);
  EXPECT_EQ(llama3.eos(), 128001);
  EXPECT_EQ(llama3.eot(), 128009);
  EXPECT_TRUE(llama3.add_bos());  // the Llama 3 family default: the file has no add_bos_token
  EXPECT_FALSE(llama3.add_space_prefix());
  EXPECT_EQ(llama3.newline(), 198);

  const Tokenizer qwen2 = test::load_tokenizer("qwen2");
  EXPECT_FALSE(qwen2.add_bos());
  EXPECT_EQ(qwen2.eot(), 151645);  // <|im_end|>

  const Tokenizer bert = test::load_tokenizer("bert-bge");
  EXPECT_EQ(bert.bos(), 101);
  EXPECT_EQ(bert.sep(), 102);
  EXPECT_EQ(bert.unk(), 100);
  EXPECT_EQ(bert.pad(), 0);
  EXPECT_EQ(bert.mask(), 103);
}

TEST(SpecialTokens, AddSpecialFramesTheText) {
  EXPECT_EQ(test::load_tokenizer("llama-spm").tokenize("Hello", true, false), (std::vector<int32_t>{1, 15043}));
  EXPECT_EQ(test::load_tokenizer("llama-bpe").tokenize("Hello", true, false), (std::vector<int32_t>{128000, 9906}));
  EXPECT_EQ(test::load_tokenizer("qwen2").tokenize("Hello", true, false), (std::vector<int32_t>{9707}));
  EXPECT_EQ(test::load_tokenizer("bert-bge").tokenize("Hello", true, false), (std::vector<int32_t>{101, 7592, 102}));
  EXPECT_EQ(test::load_tokenizer("llama-spm").tokenize("", true, false), (std::vector<int32_t>{1}));
  EXPECT_TRUE(test::load_tokenizer("llama-spm").tokenize("", false, false).empty());
}

TEST(SpecialTokens, ControlTokensParsedOnlyOnRequest) {
  const Tokenizer qwen2 = test::load_tokenizer("qwen2");
  const std::string text = "<|im_start|>user\nHi<|im_end|>";
  const auto parsed = qwen2.tokenize(text, false, true);
  EXPECT_EQ(parsed.front(), 151644);
  EXPECT_EQ(parsed.back(), 151645);
  const auto plain = qwen2.tokenize(text, false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 151644), 0);
  EXPECT_GT(plain.size(), parsed.size());

  const Tokenizer spm = test::load_tokenizer("llama-spm");
  // After a special token SentencePiece again puts a space in front of the text.
  EXPECT_EQ(spm.tokenize("<s>Hello", false, true), (std::vector<int32_t>{1, 15043}));
  EXPECT_EQ(spm.tokenize("Hello</s>", false, true), (std::vector<int32_t>{15043, 2}));
}

TEST(SpecialTokens, UserDefinedTokensAlwaysMatch) {
  auto writer = test::spm_vocab({"▁a", "▁b", "<tool>", "<tool>x"});
  std::vector<int32_t> types(259 + 4, 1);
  types[0] = 2, types[1] = 3, types[2] = 3;
  for (int i = 3; i < 259; ++i) types[i] = 6;
  types[261] = 4;  // <tool>
  types[262] = 3;  // <tool>x, control
  writer.set("tokenizer.ggml.token_type", gguf::Value::array_of(types));
  const Tokenizer tokenizer = test::build(writer);
  EXPECT_EQ(tokenizer.tokenize("a<tool>b", false, false), (std::vector<int32_t>{259, 261, 260}));
  // The longer control token wins when special tokens are parsed: longest tokens are cut out first.
  EXPECT_EQ(tokenizer.tokenize("a<tool>xb", false, true), (std::vector<int32_t>{259, 262, 260}));
  EXPECT_EQ(tokenizer.tokenize("<tool><tool>", false, false), (std::vector<int32_t>{261, 261}));
}

TEST(SpecialTokens, Phi3SpecialTokensSwallowTheWhitespaceAfterThem) {
  const Tokenizer phi3 = test::load_tokenizer("phi-3");
  const int32_t end = phi3.find_token("<|end|>");
  ASSERT_EQ(end, 32007);
  const auto stripped = phi3.tokenize("Hi<|end|>  \n\tthere", false, true);
  EXPECT_EQ(stripped, phi3.tokenize("Hi<|end|>there", false, true));
  // <s> is exempt from stripping.
  EXPECT_NE(phi3.tokenize("<s> x", false, true), phi3.tokenize("<s>x", false, true));
}

TEST(SpecialTokens, EndOfGeneration) {
  const Tokenizer llama3 = test::load_tokenizer("llama-bpe");
  EXPECT_TRUE(llama3.is_eog(128001));
  EXPECT_TRUE(llama3.is_eog(128009));
  EXPECT_FALSE(llama3.is_eog(128000));
  EXPECT_FALSE(llama3.is_eog(9906));
  const Tokenizer qwen2 = test::load_tokenizer("qwen2");
  EXPECT_TRUE(qwen2.is_eog(151643));
  EXPECT_TRUE(qwen2.is_eog(151645));
  EXPECT_FALSE(qwen2.is_eog(151644));
  const Tokenizer phi3 = test::load_tokenizer("phi-3");
  EXPECT_TRUE(phi3.is_eog(32000));
  EXPECT_TRUE(phi3.is_eog(32007));
  EXPECT_TRUE(phi3.is_eog(2));  // </s>
  EXPECT_FALSE(phi3.is_eog(-1));
}

TEST(SpecialTokens, ControlTokensHiddenUnlessShown) {
  const Tokenizer qwen2 = test::load_tokenizer("qwen2");
  EXPECT_TRUE(qwen2.is_control(151644));
  EXPECT_EQ(qwen2.token_to_piece(151644, false), "");
  EXPECT_EQ(qwen2.token_to_piece(151644, true), "<|im_start|>");
  const std::vector<int32_t> ids = qwen2.tokenize("<|im_start|>hi<|im_end|>", false, true);
  EXPECT_EQ(qwen2.detokenize(ids, false), "hi");
  EXPECT_EQ(qwen2.detokenize(ids, true), "<|im_start|>hi<|im_end|>");
}

}  // namespace
}  // namespace hearth::tokenizer
