// A deterministic generator of varied test texts: prose, code, numbers, whitespace runs, CJK, emoji, accents
// (precomposed and combining), other scripts, Unicode spaces and digits, contractions, control characters.
// All valid UTF-8 (so the peer, which takes JavaScript strings, sees the same bytes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hearth::test {

class TextCorpus {
 public:
  explicit TextCorpus(uint64_t seed) : state_(seed) {}

  // `count` texts: the fixed edge cases first, then random mixtures of fragments.
  std::vector<std::string> texts(size_t count) {
    std::vector<std::string> out = edge_cases();
    while (out.size() < count) out.push_back(mixture());
    out.resize(count);
    return out;
  }

  // One random mixture of 1..8 fragments joined by random separators.
  std::string mixture() {
    std::string text;
    const size_t n = 1 + next() % 8;
    for (size_t i = 0; i < n; ++i) {
      if (i > 0) text += pick(separators());
      text += fragment();
    }
    return text;
  }

 private:
  uint64_t next() {  // splitmix64
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[next() % items.size()];
  }

  static const std::vector<std::string>& separators() {
    static const std::vector<std::string> items = {" ", " ", " ", "  ", "\n", "\n\n", "\t", " \n ", "\r\n", "",
                                                   "   ", "\xC2\xA0", "\xE3\x80\x80", ", ", ". ", " - "};
    return items;
  }

  std::string number() {
    std::string digits;
    const size_t n = 1 + next() % 12;
    for (size_t i = 0; i < n; ++i) digits += static_cast<char>('0' + next() % 10);
    switch (next() % 4) {
      case 0: return digits + "." + std::to_string(next() % 1000);
      case 1: return "-" + digits;
      default: return digits;
    }
  }

  std::string fragment() {
    static const std::vector<std::string> words = {
        "Hello", "world", "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "tokenizer", "HTTP",
        "JSON", "camelCase", "snake_case", "ALLCAPS", "MiXeD", "a", "I", "x", "naïve", "café", "Äpfel",
        "straße", "Ölçü", "Ångström", "façade", "résumé", "Cửa", "Việt", "Zürich", "Москва", "привет",
        "Ελληνικά", "λόγος", "עברית", "العربية", "हिन्दी", "ไทย", "ქართული", "Հայերեն", "日本語", "中文字符",
        "我想在apple工作", "ひらがな", "カタカナ", "한국어", "안녕하세요", "ｆｕｌｌｗｉｄｔｈ", "ＡＢＣ"};
    static const std::vector<std::string> contractions = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S",
                                                          "'T", "'RE", "'Ve", "'lL", "'D", "'", "''", "'x"};
    static const std::vector<std::string> symbols = {
        "!", "?", "...", "!!!", "?!", "(", ")", "[]", "{}", "<>", "<", ">", "=>", "->", "::", "&&", "||", "$",
        "%", "^", "~", "`", "|", "@", "#", "+", "=", "*", "/", "\\", "\"", ";", ":", ",", ".", "_", "-", "--",
        "—", "–", "…", "«»", "¿¡", "§", "©", "®", "™", "°", "±", "×", "÷", "€", "£", "¥", "₹", "∑", "∫", "√", "∞",
        "≠", "≤", "→", "⇒", "★", "♥", "☃", "。", "、", "，", "！", "？", "～", "「」", "『』", "・", "।", "؟"};
    static const std::vector<std::string> emoji = {
        "🦙", "🚀", "😁", "😶‍🌫️", "👍🏽", "👨‍👩‍👧‍👦", "🇩🇪", "🇯🇵", "✅", "❤️", "🏳️‍🌈", "🤖", "🔥🔥", "🙂", "1️⃣", "🎉"};
    static const std::vector<std::string> code = {
        "int main() {\n    return 0;\n}", "def f(x):\n\treturn x ** 2\n", "for (i = 0; i < n; ++i) a[i] += b[i];",
        "if x == 1:\n        pass", "const auto& [k, v] : map", "std::vector<int32_t> ids;", "#include <stdio.h>",
        "SELECT * FROM t WHERE id = 42;", "<div class=\"x\">&nbsp;</div>", "x = {'a': 1, \"b\": [2, 3]}",
        "$ ls -la | grep foo > out.txt", "fn main() -> Result<(), Box<dyn Error>>", "    \n    \n",
        "// comment\n/* block */", "0x1F 0b1010 1e-9 3.14f 1_000_000", "a+=b-=c*=d/=e", "@decorator\nclass A:"};
    static const std::vector<std::string> odd = {
        "\xCC\x81", "e\xCC\x81", "a\xCC\x8A\xCC\x81", "\xE2\x80\x8B", "\xE2\x80\x8D", "\xEF\xBB\xBF",
        "\xC2\x85", "\xE2\x80\xA8", "\xE2\x80\x83", "\x01", "\x7F", "\x1B[31m", "\xEF\xBF\xBD",
        "١٢٣٤", "０１２３", "²³", "Ⅻ", "½", "٣٫١٤", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𠜎𠜱", "ﬁ", "Ǆ", "ǅ", "İ", "ß", "ẞ",
        "\xEE\x80\x80", "\xF3\xA0\x80\x81", std::string("a\0b", 3), "\v\f", "\r", "\t\t\t"};
    switch (next() % 12) {
      case 0:
      case 1:
      case 2: return pick(words);
      case 3: return pick(words) + pick(contractions);
      case 4: return number();
      case 5: return pick(symbols);
      case 6: return pick(emoji);
      case 7: return pick(code);
      case 8: return pick(odd);
      case 9: return std::string(1 + next() % 9, " \t\n"[next() % 3]);
      case 10: return pick(symbols) + pick(words) + pick(symbols);
      default: return pick(words) + pick(words);
    }
  }

  static std::vector<std::string> edge_cases() {
    return {"",
            " ",
            "  ",
            "\n",
            "\n\n\n",
            " \n",
            "\n ",
            "\t \t",
            "a",
            " a",
            "a ",
            "  a  ",
            "Hello world",
            " Hello World!",
            "I'm sure you'll see they've it's we'd",
            "I'M SURE YOU'LL SEE THEY'VE IT'S WE'D",
            "don't 'tis ' quote 'single'",
            "1 12 123 1234 12345 123456 1234567 12345678",
            "3.14159 -42 1e10 0xFF",
            "hello123world 123abc abc123",
            "    indented\n        more\n\ttabbed\n",
            "trailing spaces   \nnext",
            "\r\n\r\nwindows\r\nlines\r\n",
            "日本語のテキストです。",
            "中文，标点！还有？",
            "한국어 텍스트입니다",
            "🚀🚀 rocket 🦙.cpp",
            "Ünïcödé àçcéñts",
            "e\xCC\x81 vs \xC3\xA9",
            "nbsp\xC2\xA0here and\xE3\x80\x80ideographic",
            "nel\xC2\x85line",
            "!!!!!!",
            "......",
            "------======",
            "'''''''``````\"\"\"\"",
            "<s> </s> <unk> <|endoftext|> <|im_start|>",
            std::string("nul\0byte", 8),
            "   leading three",
            "a\n\nb\n\n\nc",
            "x = [1, 2, 3]  # comment"};
  }

  uint64_t state_;
};

}  // namespace hearth::test
