// Input no tokenizer should choke on: broken UTF-8, NUL bytes, random bytes, a 50 MB line, one enormous word.
#include <gtest/gtest.h>

#include <chrono>

#include "tokenizer/text_corpus.h"
#include "tokenizer/vocab_files.h"

namespace hearth::tokenizer {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

const std::vector<std::string>& broken_texts() {
  static const std::vector<std::string> texts = {
      "\xFF", "\x80", "a\x80z", "\xC3", "\xC3(", "\xE2\x82", "\xE2\x82(", "\xF0\x9F\xA6", "\xF0\x9F\xA6 z",
      "\xC0\x80", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xF8\x88\x80\x80\x80", "\xFE\xFF",
      std::string("\0", 1), std::string("a\0\0b\0", 5), "\xEF\xBB\xBF\xFF\xFE", "ok \xE2\x96 then \xE2\x96\x81"};
  return texts;
}

// SentencePiece keeps every byte, but like the reference it replaces spaces by ▁ before it walks characters,
// so a space swallowed by a broken multi-byte sequence comes back spelled ▁ (bytes, not a space marker).
std::string spaces_as_markers(std::string text) {
  for (size_t pos = text.find(' '); pos != std::string::npos; pos = text.find(' ', pos)) text.replace(pos, 1, "\xE2\x96\x81");
  return text;
}

TEST(HostileInput, BrokenUtf8NeverFailsAndSentencePieceKeepsEveryByte) {
  for (const auto* name : {"llama-spm", "phi-3"}) {
    const Tokenizer tokenizer = test::load_tokenizer(name);
    for (const auto& text : broken_texts()) {
      const std::string back = tokenizer.detokenize(tokenizer.tokenize(text, true, false), false);
      EXPECT_EQ(spaces_as_markers(back), spaces_as_markers(text)) << name;
    }
    EXPECT_EQ(tokenizer.detokenize(tokenizer.tokenize("\xF0\x9F\xA6 z", false, false), false), "\xF0\x9F\xA6\xE2\x96\x81z");
    EXPECT_EQ(tokenizer.detokenize(tokenizer.tokenize("\xF0\x9F\xA6z z", false, false), false), "\xF0\x9F\xA6z z");
  }
}

TEST(HostileInput, ByteLevelBpeReplacesUndecodableBytes) {
  const Tokenizer tokenizer = test::load_tokenizer("llama-bpe");
  auto round_trip = [&](const std::string& text) { return tokenizer.detokenize(tokenizer.tokenize(text, false, false), false); };
  EXPECT_EQ(round_trip("\xFF"), "\xEF\xBF\xBD");
  EXPECT_EQ(round_trip("a\x80z"), "a\xEF\xBF\xBDz");
  EXPECT_EQ(round_trip("\xE2\x82("), "\xEF\xBF\xBD\xEF\xBF\xBD(");  // a truncated sequence: each byte replaced
  EXPECT_EQ(round_trip("\xED\xA0\x80!"), "\xEF\xBF\xBD!");          // a surrogate: one replacement
  EXPECT_EQ(round_trip("\xC0\xAF"), "/");                           // overlong: decoded, like the reference
  EXPECT_EQ(round_trip(std::string("a\0b", 3)), std::string("a\0b", 3));
  for (const auto* name : {"gpt-2", "qwen2", "deepseek-llm", "falcon", "bert-bge"}) {
    const Tokenizer other = test::load_tokenizer(name);
    for (const auto& text : broken_texts()) {
      for (const int32_t id : other.tokenize(text, true, true)) {
        EXPECT_LT(static_cast<size_t>(id), other.vocab_size());
      }
    }
  }
}

TEST(HostileInput, WordPieceDropsUndecodableBytes) {
  const Tokenizer bert = test::load_tokenizer("bert-bge");
  EXPECT_EQ(bert.tokenize("hel\xFFlo", false, false), bert.tokenize("hello", false, false));
  EXPECT_EQ(bert.tokenize(std::string("a\0b", 3), false, false), bert.tokenize("ab", false, false));
}

TEST(HostileInput, RandomBytes) {
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<unsigned char>(state >> 56);
  };
  for (const auto* name : {"llama-spm", "llama-bpe", "qwen2", "deepseek-llm", "falcon", "bert-bge"}) {
    const Tokenizer tokenizer = test::load_tokenizer(name);
    for (int round = 0; round < 40; ++round) {
      std::string text(1 + next() % 200, '\0');
      for (char& c : text) c = static_cast<char>(next());
      const auto ids = tokenizer.tokenize(text, true, true);
      const std::string back = tokenizer.detokenize(ids, true);
      if (tokenizer.kind() == Kind::SentencePiece) {
        EXPECT_EQ(spaces_as_markers(tokenizer.detokenize(ids, false)), spaces_as_markers(text));
      }
      EXPECT_LE(back.size(), text.size() * 4 + 64);
    }
  }
}

// One line of `bytes` bytes of mixed text, newlines replaced by spaces.
std::string long_line(size_t bytes) {
  test::TextCorpus corpus(99);
  std::string unit;
  while (unit.size() < (1 << 20)) unit += corpus.mixture() + " ";
  for (char& c : unit) c = c == '\n' || c == '\r' ? ' ' : c;
  std::string line;
  line.reserve(bytes + unit.size());
  while (line.size() < bytes) line += unit;
  line.resize(bytes);
  return line;
}

// 50 MB through byte-level BPE, 16 MB through SentencePiece (a quarter of each under sanitizers).
TEST(HostileInput, FiftyMegabyteLine) {
  for (const auto& [name, megabytes] : {std::pair{"llama-bpe", 50}, std::pair{"llama-spm", 16}}) {
    const size_t size = (static_cast<size_t>(megabytes) << 20) / (kSanitized ? 4 : 1);
    const std::string line = long_line(size);
    const Tokenizer tokenizer = test::load_tokenizer(name);
    const auto start = std::chrono::steady_clock::now();
    const auto ids = tokenizer.tokenize(line, false, false);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_GT(ids.size(), size / 8);
    // Linear time: even a slow, busy machine does far better than this; quadratic work would take hours.
    EXPECT_LT(seconds, kSanitized ? 240.0 : 60.0) << name;
    std::string back = tokenizer.detokenize(ids, false);
    // The cut at `size` may split a character; byte-level BPE then ends in a replacement character.
    const size_t common = std::min(back.size(), line.size()) - 8;
    EXPECT_EQ(back.compare(0, common, line, 0, common), 0) << name;
  }
}

TEST(HostileInput, OneEnormousWord) {
  const std::string word(kSanitized ? (256 << 10) : (1 << 20), 'a');
  for (const auto* name : {"llama-spm", "llama-bpe", "bert-bge"}) {
    const Tokenizer tokenizer = test::load_tokenizer(name);
    const auto ids = tokenizer.tokenize(word, false, false);
    ASSERT_FALSE(ids.empty());
    if (tokenizer.kind() != Kind::WordPiece) {
      EXPECT_EQ(tokenizer.detokenize(ids, false), word) << name;
    }
  }
}

TEST(HostileInput, ManySpecialTokens) {
  const Tokenizer llama3 = test::load_tokenizer("llama-bpe");
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "<|eot_id|>a<|reserved_special_token_" + std::to_string(i % 250) + "|>";
  const auto ids = llama3.tokenize(text, false, true);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 128009), 20000);
  EXPECT_EQ(llama3.detokenize(ids, true), text);
}

}  // namespace
}  // namespace hearth::tokenizer
