#include "tokenizer/unicode.h"

#include <utf8proc.h>

namespace hearth::tokenizer::unicode {

namespace {

bool is_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

struct ByteAlphabet {
  std::array<std::string, 256> utf8;
  std::array<int16_t, 0x144> bytes{};  // every code point of the alphabet is below U+0144

  ByteAlphabet() {
    bytes.fill(-1);
    auto stands_for_itself = [](int byte) {
      return (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE && byte <= 0xFF);
    };
    char32_t next_extra = 0x100;
    for (int byte = 0; byte < 256; ++byte) {
      const char32_t cp = stands_for_itself(byte) ? static_cast<char32_t>(byte) : next_extra++;
      append_utf8(utf8[byte], cp);
      bytes[cp] = static_cast<int16_t>(byte);
    }
  }
};

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet;
  return alphabet;
}

}  // namespace

Decoded decode(std::string_view text, size_t offset) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[offset + i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return {lead, 1};
  size_t length;
  char32_t cp;
  if ((lead & 0x40) == 0) return {kReplacement, 1};  // a continuation byte cannot lead
  if ((lead & 0x20) == 0) {
    length = 2;
    cp = lead & 0x1F;
  } else if ((lead & 0x10) == 0) {
    length = 3;
    cp = lead & 0x0F;
  } else if ((lead & 0x08) == 0) {
    length = 4;
    cp = lead & 0x07;
  } else {
    return {kReplacement, 1};
  }
  if (text.size() - offset < length) return {kReplacement, 1};
  for (size_t i = 1; i < length; ++i) {
    if (!is_continuation(byte(i))) return {kReplacement, 1};
    cp = (cp << 6) | (byte(i) & 0x3F);
  }
  if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return {kReplacement, length};
  return {cp, length};
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool sanitize(std::string_view text, std::string& out) {
  // Fast path: find the first byte where decoding differs from copying.
  size_t clean = 0;
  while (clean < text.size()) {
    const auto lead = static_cast<unsigned char>(text[clean]);
    if (lead < 0x80) {
      ++clean;
      continue;
    }
    const Decoded d = decode(text, clean);
    // Valid iff the decoder consumed a full sequence whose minimal encoding is the same bytes.
    if (d.code_point == kReplacement && !(d.length == 3 && text.substr(clean, 3) == "\xEF\xBF\xBD")) break;
    const size_t minimal = d.code_point < 0x80 ? 1 : d.code_point < 0x800 ? 2 : d.code_point < 0x10000 ? 3 : 4;
    if (minimal != d.length) break;
    clean += d.length;
  }
  if (clean == text.size()) return false;
  out.clear();
  out.reserve(text.size() + 16);
  out.append(text.substr(0, clean));
  for (size_t offset = clean; offset < text.size();) {
    const Decoded d = decode(text, offset);
    append_utf8(out, d.code_point);
    offset += d.length;
  }
  return true;
}

size_t complete_prefix_length(std::string_view text) {
  const size_t size = text.size();
  // Walk back over at most three continuation bytes to the byte that leads the last sequence.
  size_t lead = size;
  for (size_t back = 1; back <= 4 && back <= size; ++back) {
    const auto byte = static_cast<unsigned char>(text[size - back]);
    if (!is_continuation(byte)) {
      lead = size - back;
      break;
    }
  }
  if (lead == size) return size;
  const auto byte = static_cast<unsigned char>(text[lead]);
  if (byte < 0xC0 || byte >= 0xF8) return size;
  return size - lead < sequence_length(byte) ? lead : size;
}

bool is_whitespace(char32_t cp) {
  if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20;
  switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

Category category(char32_t cp) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
      return Category::Letter;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
      return Category::Mark;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return Category::Number;
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS: case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF: case UTF8PROC_CATEGORY_PO:
      return Category::Punctuation;
    case UTF8PROC_CATEGORY_SM: case UTF8PROC_CATEGORY_SC: case UTF8PROC_CATEGORY_SK: case UTF8PROC_CATEGORY_SO:
      return Category::Symbol;
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
      return Category::Separator;
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS: case UTF8PROC_CATEGORY_CO:
      return Category::Control;
    default:
      return Category::Undefined;
  }
}

char32_t to_lower(char32_t cp) {
  return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)));
}

char32_t decomposition_base(char32_t cp) {
  if (cp < 0xC0) return cp;  // nothing below U+00C0 decomposes
  utf8proc_int32_t decomposed[8];
  int last_boundclass = 0;
  const utf8proc_ssize_t n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), decomposed, 8,
                                                     UTF8PROC_DECOMPOSE, &last_boundclass);
  return n >= 1 ? static_cast<char32_t>(decomposed[0]) : cp;
}

int code_point_to_byte(char32_t cp) {
  const auto& bytes = byte_alphabet().bytes;
  return cp < bytes.size() ? bytes[cp] : -1;
}

std::string_view byte_to_utf8(uint8_t byte) { return byte_alphabet().utf8[byte]; }

}  // namespace hearth::tokenizer::unicode
