#include "chat/jinja_lexer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "chat/jinja_text.h"
#include "hearth/chat.h"

namespace hearth::chat::jinja {
namespace {

struct OperatorSpelling {
  std::string_view text;
  TokenType type;
};

// Longest spellings first, as jinja2's operator regex tries them.
constexpr OperatorSpelling kOperators[] = {
    {"//", TokenType::FloorDiv}, {"**", TokenType::Pow},      {"==", TokenType::Eq},       {"!=", TokenType::Ne},
    {">=", TokenType::GtEq},     {"<=", TokenType::LtEq},     {"+", TokenType::Add},       {"-", TokenType::Sub},
    {"/", TokenType::Div},       {"*", TokenType::Mul},       {"%", TokenType::Mod},       {"~", TokenType::Tilde},
    {"[", TokenType::LBracket},  {"]", TokenType::RBracket},  {"(", TokenType::LParen},    {")", TokenType::RParen},
    {"{", TokenType::LBrace},    {"}", TokenType::RBrace},    {">", TokenType::Gt},        {"<", TokenType::Lt},
    {"=", TokenType::Assign},    {".", TokenType::Dot},       {":", TokenType::Colon},     {"|", TokenType::Pipe},
    {",", TokenType::Comma},     {";", TokenType::Semicolon},
};

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Newlines become "\n" and one trailing newline is dropped (jinja2's keep_trailing_newline=False).
std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Python's "unicode-escape" decoding of a string literal's body.
std::string unescape_string(std::string_view body, int line) {
  std::string out;
  out.reserve(body.size());
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\' || i + 1 == body.size()) {
      out += body[i];
      continue;
    }
    const char c = body[++i];
    switch (c) {
      case '\n': break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case 'x':
      case 'u':
      case 'U': {
        const size_t digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
        char32_t cp = 0;
        for (size_t d = 0; d < digits; ++d) {
          const int h = i + 1 + d < body.size() ? hex_value(body[i + 1 + d]) : -1;
          if (h < 0) {
            throw TemplateError(c == 'x' ? "truncated \\xXX escape"
                                         : c == 'u' ? "truncated \\uXXXX escape" : "truncated \\UXXXXXXXX escape",
                                line);
          }
          cp = cp * 16 + static_cast<char32_t>(h);
        }
        if (cp > 0x10FFFF) throw TemplateError("illegal Unicode character", line);
        i += digits;
        text::append_utf8(out, cp);
        break;
      }
      case 'N':
        throw TemplateError("unknown Unicode character name", line);
      default:
        if (c >= '0' && c <= '7') {
          char32_t cp = 0;
          size_t d = 0;
          for (; d < 3 && i + d < body.size() && body[i + d] >= '0' && body[i + d] <= '7'; ++d) {
            cp = cp * 8 + static_cast<char32_t>(body[i + d] - '0');
          }
          i += d - 1;
          text::append_utf8(out, cp);
        } else {
          out += '\\';
          out += c;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  Lexer(std::string_view source, const LexerOptions& options) : src_(normalize_newlines(source)), options_(options) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) lex_root();
    tokens_.push_back(Token{TokenType::Eof, line_, ""});
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void fail(std::string message) const { throw TemplateError(std::move(message), line_); }

  bool at(size_t p, std::string_view s) const { return src_.compare(p, s.size(), s) == 0; }

  // Advances `p` over Python whitespace (\s).
  size_t skip_space(size_t p) const {
    while (p < src_.size()) {
      size_t next = p;
      if (!text::is_space(text::decode_next(src_, next))) break;
      p = next;
    }
    return p;
  }

  void consume_to(size_t end) {
    line_ += static_cast<int>(std::count(src_.begin() + static_cast<std::ptrdiff_t>(pos_),
                                         src_.begin() + static_cast<std::ptrdiff_t>(end), '\n'));
    line_starting_ = end > pos_ && src_[end - 1] == '\n';
    pos_ = end;
  }

  void emit(TokenType type, std::string text = {}) { tokens_.push_back(Token{type, line_, std::move(text)}); }

  // Text before a tag, after whitespace control: `-` strips all whitespace before the tag; otherwise, with
  // lstrip_blocks, spaces between a line's start and a block or comment tag are dropped.
  void emit_text_before_tag(size_t text_end, char sign, bool lstrip_applies) {
    std::string_view text(src_.data() + pos_, text_end - pos_);
    if (sign == '-') {
      text = text::rstrip(text, std::nullopt);
    } else if (sign != '+' && options_.lstrip_blocks && lstrip_applies) {
      const size_t newline = text.rfind('\n');
      const size_t line_start = newline == std::string_view::npos ? 0 : newline + 1;
      if (line_start > 0 || line_starting_) {
        const std::string_view tail = text.substr(line_start);
        if (!tail.empty() && text::strip(tail, std::nullopt).empty()) text = text.substr(0, line_start);
      }
    }
    if (!text.empty()) emit(TokenType::Data, std::string(text));
  }

  // Length of a `{% raw %}` opening tag at `p`, or 0.
  size_t raw_begin_length(size_t p) const {
    size_t q = p + 2;
    if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) ++q;
    q = skip_space(q);
    if (!at(q, "raw")) return 0;
    q = skip_space(q + 3);
    if (at(q, "-%}")) return skip_space(q + 3) - p;
    if (at(q, "%}")) return q + 2 - p;
    return 0;
  }

  void lex_root() {
    size_t tag = src_.find('{', pos_);
    while (tag != std::string::npos &&
           (tag + 1 >= src_.size() || (src_[tag + 1] != '{' && src_[tag + 1] != '%' && src_[tag + 1] != '#'))) {
      tag = src_.find('{', tag + 1);
    }
    if (tag == std::string::npos) {
      emit(TokenType::Data, src_.substr(pos_));
      consume_to(src_.size());
      return;
    }
    const char kind = src_[tag + 1];
    const char sign = tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+') ? src_[tag + 2] : 0;
    const size_t raw_length = kind == '%' ? raw_begin_length(tag) : 0;
    emit_text_before_tag(tag, sign, kind != '{');
    if (raw_length > 0) {
      consume_to(tag + raw_length);
      lex_raw();
      return;
    }
    consume_to(tag + 2 + (sign != 0 ? 1 : 0));
    if (kind == '#') {
      lex_comment();
    } else if (kind == '%') {
      emit(TokenType::BlockBegin);
      lex_tag(true);
    } else {
      emit(TokenType::VariableBegin);
      lex_tag(false);
    }
  }

  void lex_comment() {
    const size_t close = src_.find("#}", pos_);
    if (close == std::string::npos) fail("Missing end of comment tag");
    const char sign = close > pos_ && (src_[close - 1] == '-' || src_[close - 1] == '+') ? src_[close - 1] : 0;
    size_t end = close + 2;
    if (sign == '-') {
      end = skip_space(end);
    } else if (sign != '+' && options_.trim_blocks && end < src_.size() && src_[end] == '\n') {
      ++end;
    }
    consume_to(end);
  }

  void lex_raw() {
    for (size_t tag = src_.find("{%", pos_); tag != std::string::npos; tag = src_.find("{%", tag + 1)) {
      size_t q = tag + 2;
      const char sign = q < src_.size() && (src_[q] == '-' || src_[q] == '+') ? src_[q] : 0;
      if (sign != 0) ++q;
      q = skip_space(q);
      if (!at(q, "endraw")) continue;
      q = skip_space(q + 6);
      size_t end;
      if (at(q, "+%}")) {
        end = q + 3;
      } else if (at(q, "-%}")) {
        end = skip_space(q + 3);
      } else if (at(q, "%}")) {
        end = q + 2;
        if (options_.trim_blocks && end < src_.size() && src_[end] == '\n') ++end;
      } else {
        continue;
      }
      emit_text_before_tag(tag, sign, true);
      consume_to(end);
      return;
    }
    fail("Missing end of raw directive");
  }

  // Length of a tag's closing delimiter at pos_ (including whitespace it swallows), or 0.
  size_t end_length(bool block) const {
    if (block) {
      if (at(pos_, "+%}")) return 3;
      if (at(pos_, "-%}")) return skip_space(pos_ + 3) - pos_;
      if (at(pos_, "%}")) {
        return options_.trim_blocks && pos_ + 2 < src_.size() && src_[pos_ + 2] == '\n' ? 3 : 2;
      }
      return 0;
    }
    if (at(pos_, "-}}")) return skip_space(pos_ + 3) - pos_;
    if (at(pos_, "}}")) return 2;
    return 0;
  }

  // `(\d+_)*\d+` at p: digits with single underscores between them. Returns the end, or p when absent.
  size_t digit_run(size_t p) const {
    size_t q = p;
    while (q < src_.size() && is_ascii_digit(src_[q])) {
      while (q < src_.size() && is_ascii_digit(src_[q])) ++q;
      if (q + 1 < src_.size() && src_[q] == '_' && is_ascii_digit(src_[q + 1])) ++q;
    }
    return q;
  }

  size_t float_length() const {
    if (pos_ > 0 && src_[pos_ - 1] == '.') return 0;
    const size_t int_end = digit_run(pos_);
    if (int_end == pos_) return 0;
    size_t q = int_end;
    bool fraction = false;
    if (q + 1 < src_.size() && src_[q] == '.' && is_ascii_digit(src_[q + 1])) {
      q = digit_run(q + 1);
      fraction = true;
    }
    if (q < src_.size() && (src_[q] == 'e' || src_[q] == 'E')) {
      size_t e = q + 1;
      if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) ++e;
      const size_t exp_end = digit_run(e);
      if (exp_end > e) return exp_end - pos_;
    }
    return fraction ? q - pos_ : 0;
  }

  size_t integer_length() const {
    const auto run = [&](size_t p, auto is_digit) {
      // (_?DIGIT)+
      size_t q = p;
      while (true) {
        size_t r = q;
        if (r < src_.size() && src_[r] == '_') ++r;
        if (r < src_.size() && is_digit(src_[r])) {
          q = r + 1;
        } else {
          break;
        }
      }
      return q;
    };
    if (pos_ >= src_.size() || !is_ascii_digit(src_[pos_])) return 0;
    if (src_[pos_] == '0' && pos_ + 1 < src_.size()) {
      const char prefix = static_cast<char>(src_[pos_ + 1] | 0x20);
      size_t end = pos_ + 2;
      if (prefix == 'b') end = run(pos_ + 2, [](char c) { return c == '0' || c == '1'; });
      if (prefix == 'o') end = run(pos_ + 2, [](char c) { return c >= '0' && c <= '7'; });
      if (prefix == 'x') end = run(pos_ + 2, [](char c) { return hex_value(c) >= 0; });
      if ((prefix == 'b' || prefix == 'o' || prefix == 'x') && end > pos_ + 2) return end - pos_;
    }
    if (src_[pos_] == '0') return run(pos_ + 1, [](char c) { return c == '0'; }) - pos_;
    return run(pos_ + 1, is_ascii_digit) - pos_;
  }

  void emit_integer(std::string_view spelling) {
    std::string digits;
    for (char c : spelling) {
      if (c != '_') digits += c;
    }
    int base = 10;
    std::string_view body = digits;
    if (digits.size() > 1 && digits[0] == '0' && digits[1] != '0') {
      const char prefix = static_cast<char>(digits[1] | 0x20);
      base = prefix == 'b' ? 2 : prefix == 'o' ? 8 : 16;
      body.remove_prefix(2);
    }
    Token token{TokenType::Integer, line_, std::string(spelling)};
    const auto result = std::from_chars(body.data(), body.data() + body.size(), token.integer, base);
    if (result.ec != std::errc()) fail("integer literal is too large");
    tokens_.push_back(std::move(token));
  }

  void emit_float(std::string_view spelling) {
    std::string digits;
    for (char c : spelling) {
      if (c != '_') digits += c;
    }
    Token token{TokenType::Float, line_, std::string(spelling)};
    const auto result = std::from_chars(digits.data(), digits.data() + digits.size(), token.floating);
    if (result.ec == std::errc::result_out_of_range) {
      // Python gives inf for overflow and 0.0 for underflow.
      token.floating = digits.find_first_of("eE") != std::string::npos && digits.find("e-") == std::string::npos &&
                               digits.find("E-") == std::string::npos
                           ? HUGE_VAL
                           : 0.0;
    }
    tokens_.push_back(std::move(token));
  }

  size_t name_length() const {
    size_t q = pos_;
    while (q < src_.size()) {
      size_t next = q;
      const char32_t cp = text::decode_next(src_, next);
      if (cp < 0x80 ? !(std::isalnum(static_cast<int>(cp)) || cp == '_') : !text::is_alnum_or_underscore(cp)) break;
      q = next;
    }
    return q - pos_;
  }

  // Length of a complete string literal at pos_, or 0.
  size_t string_length() const {
    const char quote = src_[pos_];
    if (quote != '\'' && quote != '"') return 0;
    for (size_t q = pos_ + 1; q < src_.size(); ++q) {
      if (src_[q] == '\\') {
        ++q;
      } else if (src_[q] == quote) {
        return q + 1 - pos_;
      }
    }
    return 0;
  }

  void lex_operator(std::vector<char>& brackets) {
    for (const auto& op : kOperators) {
      if (!at(pos_, op.text)) continue;
      const char c = op.text[0];
      if (op.text.size() == 1 && (c == '{' || c == '(' || c == '[')) {
        brackets.push_back(c == '{' ? '}' : c == '(' ? ')' : ']');
      } else if (op.text.size() == 1 && (c == '}' || c == ')' || c == ']')) {
        if (brackets.empty()) fail(fmt::format("unexpected '{}'", c));
        const char expected = brackets.back();
        brackets.pop_back();
        if (expected != c) fail(fmt::format("unexpected '{}', expected '{}'", c, expected));
      }
      emit(op.type, std::string(op.text));
      consume_to(pos_ + op.text.size());
      return;
    }
    size_t next = pos_;
    std::string ch;
    text::append_utf8(ch, text::decode_next(src_, next));
    fail(fmt::format("unexpected char {} at {}", text::repr(ch), text::codepoint_count(std::string_view(src_).substr(0, pos_))));
  }

  void lex_tag(bool block) {
    std::vector<char> brackets;
    while (pos_ < src_.size()) {
      if (brackets.empty()) {
        if (const size_t length = end_length(block)) {
          emit(block ? TokenType::BlockEnd : TokenType::VariableEnd);
          consume_to(pos_ + length);
          return;
        }
      }
      if (const size_t space_end = skip_space(pos_); space_end > pos_) {
        consume_to(space_end);
        continue;
      }
      if (const size_t length = float_length()) {
        emit_float(std::string_view(src_).substr(pos_, length));
        consume_to(pos_ + length);
      } else if (const size_t int_length = integer_length()) {
        emit_integer(std::string_view(src_).substr(pos_, int_length));
        consume_to(pos_ + int_length);
      } else if (const size_t name_len = name_length()) {
        const std::string name = src_.substr(pos_, name_len);
        size_t first = 0;
        const char32_t lead = text::decode_next(name, first);
        if (lead != '_' && !text::is_alpha(lead)) fail("Invalid character in identifier");
        emit(TokenType::Name, name);
        consume_to(pos_ + name_len);
      } else if (const size_t str_len = string_length()) {
        emit(TokenType::String, unescape_string(std::string_view(src_).substr(pos_ + 1, str_len - 2), line_));
        consume_to(pos_ + str_len);
      } else {
        lex_operator(brackets);
      }
    }
  }

  std::string src_;
  LexerOptions options_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const LexerOptions& options) {
  return Lexer(source, options).run();
}

std::string describe_token_type(TokenType type) {
  switch (type) {
    case TokenType::Data: return "template data / text";
    case TokenType::VariableBegin: return "begin of print statement";
    case TokenType::VariableEnd: return "end of print statement";
    case TokenType::BlockBegin: return "begin of statement block";
    case TokenType::BlockEnd: return "end of statement block";
    case TokenType::Name: return "name";
    case TokenType::String: return "string";
    case TokenType::Integer: return "integer";
    case TokenType::Float: return "float";
    case TokenType::Eof: return "end of template";
    default:
      for (const auto& op : kOperators) {
        if (op.type == type) return std::string(op.text);
      }
      return "operator";
  }
}

std::string describe_token(const Token& token) {
  if (token.type == TokenType::Name) return token.text;
  return describe_token_type(token.type);
}

}  // namespace hearth::chat::jinja
