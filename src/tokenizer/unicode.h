// Unicode facts the tokenizers need: a UTF-8 decoder that treats broken input the way the reference
// tokenizers do, the White_Space set, general categories, simple lowercase, the base of a canonical
// decomposition, and the byte-level BPE alphabet.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace hearth::tokenizer::unicode {

inline constexpr char32_t kReplacement = 0xFFFD;

// Length of the UTF-8 sequence a byte leads, judged by its high bits alone (continuation bytes count as 1).
inline size_t sequence_length(unsigned char lead) {
  static constexpr uint8_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[lead >> 4];
}

struct Decoded {
  char32_t code_point;
  size_t length;  // bytes consumed (1 for an invalid byte)
};

// Decodes the character at `text[offset]` leniently, as the reference tokenizers do: a lead byte with its
// continuation bytes gives their value even when overlong; a byte that cannot start a complete sequence gives
// U+FFFD and consumes one byte. A complete sequence for a surrogate or a value above U+10FFFF gives one
// U+FFFD, so that re-encoding the result always yields valid UTF-8.
Decoded decode(std::string_view text, size_t offset);

void append_utf8(std::string& out, char32_t code_point);

// Rewrites `text` as decode() reads it, re-encoded: identical for valid UTF-8, otherwise every undecodable
// byte becomes U+FFFD. Returns false (leaving `out` untouched) when `text` is already valid UTF-8.
bool sanitize(std::string_view text, std::string& out);

// Length of the longest prefix of `text` that is complete UTF-8, treating invalid bytes as complete
// (they will never become valid): only a trailing, so far valid, unfinished sequence is excluded.
size_t complete_prefix_length(std::string_view text);

// Unicode White_Space (what \s means for every tokenizer here).
bool is_whitespace(char32_t cp);

enum class Category : uint8_t { Undefined, Letter, Mark, Number, Punctuation, Symbol, Separator, Control };
Category category(char32_t cp);

// Simple (one code point) lowercase mapping of UnicodeData.txt.
char32_t to_lower(char32_t cp);
// First code point of the canonical decomposition (NFD), e.g. 'é' -> 'e'; `cp` itself when it has none.
char32_t decomposition_base(char32_t cp);

// GPT-2's byte-level alphabet: each byte is spelled as one printable code point (printable Latin-1 as
// itself, the other bytes as U+0100 upwards in byte order).
// The byte a code point of the alphabet stands for, or -1.
int code_point_to_byte(char32_t cp);
// The UTF-8 spelling of a byte.
std::string_view byte_to_utf8(uint8_t byte);

}  // namespace hearth::tokenizer::unicode
