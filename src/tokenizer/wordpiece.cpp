#include "tokenizer/wordpiece.h"

#include <algorithm>
#include <string>

#include "tokenizer/unicode.h"

namespace hearth::tokenizer {

namespace {

constexpr std::string_view kWordStart = "\xE2\x96\x81";  // ▁

// The ranges BERT treats as Chinese characters (its own list, including its upper bound for Extension E).
bool is_cjk_ideograph(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

void encode_word(const Vocab& vocab, std::string_view word, std::vector<int32_t>& out) {
  const size_t first = out.size();
  for (size_t i = 0; i < word.size();) {
    size_t j = std::min(word.size(), i + vocab.max_token_length);
    int32_t token = kNoToken;
    for (; j > i; --j) {
      token = vocab.find(word.substr(i, j - i));
      if (token != kNoToken) break;
    }
    if (token == kNoToken) {  // one unspellable position makes the whole word unknown
      out.resize(first);
      out.push_back(vocab.unk);
      return;
    }
    out.push_back(token);
    i = j;
  }
}

}  // namespace

void encode_wordpiece(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
  std::string word(kWordStart);
  auto finish_word = [&] {
    if (word.size() > kWordStart.size()) encode_word(vocab, word, out);
    word.resize(kWordStart.size());
  };
  for (size_t pos = 0; pos < text.size();) {
    const unicode::Decoded decoded = unicode::decode(text, pos);
    pos += decoded.length;
    const char32_t cp = vocab.strip_accents ? unicode::decomposition_base(decoded.code_point) : decoded.code_point;
    if (unicode::is_whitespace(cp)) {
      finish_word();
      continue;
    }
    const unicode::Category category = unicode::category(cp);
    if (cp == 0 || cp == unicode::kReplacement || category == unicode::Category::Control) continue;
    if (vocab.strip_accents && category == unicode::Category::Mark) continue;
    const char32_t written = vocab.lowercase ? unicode::to_lower(cp) : cp;
    if (category == unicode::Category::Punctuation || (cp < 0x7F && category == unicode::Category::Symbol) ||
        is_cjk_ideograph(cp)) {
      finish_word();
      unicode::append_utf8(word, written);
      finish_word();
    } else {
      unicode::append_utf8(word, written);
    }
  }
  finish_word();
}

}  // namespace hearth::tokenizer
