// Splits Jinja template source into tokens, reproducing jinja2's lexer: its whitespace control (`-`, `+`,
// trim_blocks, lstrip_blocks), raw blocks, comments, newline normalization and literal syntax.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::chat::jinja {

enum class TokenType : uint8_t {
  Data,           // template text outside tags
  VariableBegin,  // {{
  VariableEnd,    // }}
  BlockBegin,     // {%
  BlockEnd,       // %}
  Name,
  String,
  Integer,
  Float,
  // operators
  Add, Sub, Div, FloorDiv, Mul, Mod, Pow, Tilde, LBracket, RBracket, LParen, RParen, LBrace, RBrace,
  Eq, Ne, Gt, GtEq, Lt, LtEq, Assign, Dot, Colon, Pipe, Comma, Semicolon,
  Eof,
};

struct Token {
  TokenType type;
  int line;
  std::string text;  // Data, Name and String: the (unescaped) text; operators: their spelling
  int64_t integer = 0;
  double floating = 0.0;
};

struct LexerOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
};

// Throws TemplateError (with the line) for malformed input: unclosed comments or raw blocks, unbalanced
// brackets, bad characters or escapes.
std::vector<Token> tokenize(std::string_view source, const LexerOptions& options);

// jinja2's description of a token in error messages: a name's text, an operator's spelling, or e.g.
// "end of print statement".
std::string describe_token(const Token& token);
std::string describe_token_type(TokenType type);

}  // namespace hearth::chat::jinja
