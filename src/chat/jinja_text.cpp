#include "chat/jinja_text.h"

#include <utf8proc.h>

#include <algorithm>
#include <stdexcept>

namespace hearth::chat::jinja::text {

char32_t decode_next(std::string_view s, size_t& pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  size_t length = 0;
  char32_t cp = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    cp = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    cp = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    cp = lead & 0x07;
  } else {
    ++pos;
    return 0xFFFD;
  }
  if (pos + length > s.size()) {
    ++pos;
    return 0xFFFD;
  }
  for (size_t i = 1; i < length; ++i) {
    const unsigned char next = byte(pos + i);
    if ((next & 0xC0) != 0x80) {
      ++pos;
      return 0xFFFD;
    }
    cp = (cp << 6) | (next & 0x3F);
  }
  pos += length;
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x110000) {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    append_utf8(out, 0xFFFD);
  }
}

std::u32string to_u32(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) out += decode_next(s, pos);
  return out;
}

std::string to_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t cp : s) append_utf8(out, cp);
  return out;
}

size_t codepoint_count(std::string_view s) {
  size_t n = 0;
  for (size_t pos = 0; pos < s.size(); ++n) decode_next(s, pos);
  return n;
}

size_t byte_offset_of(std::string_view s, size_t cp_index) {
  size_t pos = 0;
  for (size_t i = 0; i < cp_index && pos < s.size(); ++i) decode_next(s, pos);
  return pos;
}

namespace {

utf8proc_category_t category(char32_t cp) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(cp));
}

char32_t to_upper_cp(char32_t cp) { return static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(cp))); }
char32_t to_lower_cp(char32_t cp) { return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))); }
char32_t to_title_cp(char32_t cp) { return static_cast<char32_t>(utf8proc_totitle(static_cast<utf8proc_int32_t>(cp))); }

// Python applies Unicode's full (one-to-many) case mappings; these are the common ones utf8proc's simple
// mappings leave out.
void append_upper(std::string& out, char32_t cp) {
  if (cp == 0xDF) {  // ß
    out += "SS";
    return;
  }
  append_utf8(out, to_upper_cp(cp));
}

void append_lower(std::string& out, char32_t cp) {
  if (cp == 0x130) {  // İ lowers to i + combining dot above
    out += "i\xCC\x87";
    return;
  }
  append_utf8(out, to_lower_cp(cp));
}

void append_title(std::string& out, char32_t cp) {
  if (cp == 0xDF) {
    out += "Ss";
    return;
  }
  append_utf8(out, to_title_cp(cp));
}

bool in_chars(char32_t cp, const std::u32string& chars) { return chars.find(cp) != std::u32string::npos; }

template <typename Predicate>
size_t strip_left(std::string_view s, Predicate strip_it) {
  size_t pos = 0;
  while (pos < s.size()) {
    size_t next = pos;
    if (!strip_it(decode_next(s, next))) break;
    pos = next;
  }
  return pos;
}

// Byte offset of the start of the code point that ends at `end`.
size_t previous_start(std::string_view s, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80 && end - start < 4) --start;
  return start;
}

template <typename Predicate>
size_t strip_right(std::string_view s, size_t begin, Predicate strip_it) {
  size_t end = s.size();
  while (end > begin) {
    size_t start = previous_start(s, end);
    size_t probe = start;
    if (!strip_it(decode_next(s, probe))) break;
    end = start;
  }
  return end;
}

bool is_line_break(char32_t cp) {
  switch (cp) {
    case '\n': case '\r': case 0x0B: case 0x0C: case 0x1C: case 0x1D: case 0x1E: case 0x85: case 0x2028: case 0x2029:
      return true;
    default:
      return false;
  }
}

}  // namespace

bool is_space(char32_t cp) {
  switch (cp) {
    case ' ': case '\t': case '\n': case 0x0B: case 0x0C: case '\r': case 0x1C: case 0x1D: case 0x1E: case 0x1F:
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

bool is_alpha(char32_t cp) {
  switch (category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return true;
    default:
      return false;
  }
}

bool is_digit(char32_t cp) {
  const auto c = category(cp);
  return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

bool is_alnum_or_underscore(char32_t cp) { return cp == '_' || is_alpha(cp) || is_digit(cp); }

bool is_cased(char32_t cp) {
  const auto c = category(cp);
  return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}

bool is_lower_char(char32_t cp) { return category(cp) == UTF8PROC_CATEGORY_LL; }
bool is_upper_char(char32_t cp) {
  const auto c = category(cp);
  return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LT;
}

std::string upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) append_upper(out, decode_next(s, pos));
  return out;
}

std::string lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) append_lower(out, decode_next(s, pos));
  return out;
}

std::string swapcase(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) {
    const char32_t cp = decode_next(s, pos);
    if (is_upper_char(cp)) append_lower(out, cp);
    else if (is_lower_char(cp)) append_upper(out, cp);
    else append_utf8(out, cp);
  }
  return out;
}

std::string capitalize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  if (pos < s.size()) append_title(out, decode_next(s, pos));
  while (pos < s.size()) append_lower(out, decode_next(s, pos));
  return out;
}

std::string title(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool previous_is_cased = false;
  for (size_t pos = 0; pos < s.size();) {
    const char32_t cp = decode_next(s, pos);
    if (previous_is_cased) append_lower(out, cp);
    else append_title(out, cp);
    previous_is_cased = is_cased(cp);
  }
  return out;
}

bool is_lower(std::string_view s) {
  bool any_cased = false;
  for (size_t pos = 0; pos < s.size();) {
    const char32_t cp = decode_next(s, pos);
    if (is_upper_char(cp)) return false;
    if (is_lower_char(cp)) any_cased = true;
  }
  return any_cased;
}

bool is_upper(std::string_view s) {
  bool any_cased = false;
  for (size_t pos = 0; pos < s.size();) {
    const char32_t cp = decode_next(s, pos);
    if (is_lower_char(cp)) return false;
    if (is_upper_char(cp)) any_cased = true;
  }
  return any_cased;
}

std::string_view lstrip(std::string_view s, const std::optional<std::string_view>& chars) {
  if (!chars) return s.substr(strip_left(s, is_space));
  const std::u32string set = to_u32(*chars);
  return s.substr(strip_left(s, [&](char32_t cp) { return in_chars(cp, set); }));
}

std::string_view rstrip(std::string_view s, const std::optional<std::string_view>& chars) {
  if (!chars) return s.substr(0, strip_right(s, 0, is_space));
  const std::u32string set = to_u32(*chars);
  return s.substr(0, strip_right(s, 0, [&](char32_t cp) { return in_chars(cp, set); }));
}

std::string_view strip(std::string_view s, const std::optional<std::string_view>& chars) {
  return rstrip(lstrip(s, chars), chars);
}

std::vector<std::string> split(std::string_view s, const std::optional<std::string_view>& sep, int64_t max_split) {
  std::vector<std::string> parts;
  if (sep) {
    if (sep->empty()) throw std::invalid_argument("empty separator");
    size_t start = 0;
    while (max_split < 0 || static_cast<int64_t>(parts.size()) < max_split) {
      const size_t hit = s.find(*sep, start);
      if (hit == std::string_view::npos) break;
      parts.emplace_back(s.substr(start, hit - start));
      start = hit + sep->size();
    }
    parts.emplace_back(s.substr(start));
    return parts;
  }
  size_t pos = strip_left(s, is_space);
  while (pos < s.size()) {
    if (max_split >= 0 && static_cast<int64_t>(parts.size()) >= max_split) {
      parts.emplace_back(s.substr(pos));
      break;
    }
    size_t end = pos;
    while (end < s.size()) {
      size_t next = end;
      if (is_space(decode_next(s, next))) break;
      end = next;
    }
    parts.emplace_back(s.substr(pos, end - pos));
    pos = end + strip_left(s.substr(end), is_space);
  }
  return parts;
}

std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string_view>& sep, int64_t max_split) {
  std::vector<std::string> parts;
  if (sep) {
    if (sep->empty()) throw std::invalid_argument("empty separator");
    size_t end = s.size();
    while (max_split < 0 || static_cast<int64_t>(parts.size()) < max_split) {
      if (end < sep->size()) break;
      const size_t hit = s.rfind(*sep, end - sep->size());
      if (hit == std::string_view::npos) break;
      parts.emplace_back(s.substr(hit + sep->size(), end - hit - sep->size()));
      end = hit;
    }
    parts.emplace_back(s.substr(0, end));
    std::reverse(parts.begin(), parts.end());
    return parts;
  }
  size_t end = strip_right(s, 0, is_space);
  while (end > 0) {
    if (max_split >= 0 && static_cast<int64_t>(parts.size()) >= max_split) {
      parts.emplace_back(s.substr(0, end));
      break;
    }
    size_t begin = end;
    while (begin > 0) {
      const size_t start = previous_start(s, begin);
      size_t probe = start;
      if (is_space(decode_next(s, probe))) break;
      begin = start;
    }
    parts.emplace_back(s.substr(begin, end - begin));
    end = strip_right(s.substr(0, begin), 0, is_space);
  }
  std::reverse(parts.begin(), parts.end());
  return parts;
}

std::vector<std::string> splitlines(std::string_view s, bool keep_ends) {
  std::vector<std::string> lines;
  size_t line_start = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t cp_start = pos;
    const char32_t cp = decode_next(s, pos);
    if (!is_line_break(cp)) continue;
    if (cp == '\r' && pos < s.size() && s[pos] == '\n') ++pos;
    lines.emplace_back(s.substr(line_start, (keep_ends ? pos : cp_start) - line_start));
    line_start = pos;
  }
  if (line_start < s.size()) lines.emplace_back(s.substr(line_start));
  return lines;
}

std::string replace(std::string_view s, std::string_view old, std::string_view replacement, int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts the replacement before every code point and at the end.
    int64_t done = 0;
    size_t pos = 0;
    while (pos <= s.size()) {
      if (count >= 0 && done >= count) {
        out.append(s.substr(pos));
        break;
      }
      out.append(replacement);
      ++done;
      if (pos == s.size()) break;
      const size_t start = pos;
      decode_next(s, pos);
      out.append(s.substr(start, pos - start));
    }
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t hit = s.find(old, start);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(start, hit - start));
    out.append(replacement);
    start = hit + old.size();
    ++done;
  }
  out.append(s.substr(start));
  return out;
}

size_t count(std::string_view s, std::string_view needle) {
  if (needle.empty()) return codepoint_count(s) + 1;
  size_t n = 0;
  for (size_t hit = s.find(needle); hit != std::string_view::npos; hit = s.find(needle, hit + needle.size())) ++n;
  return n;
}

int64_t find(std::string_view s, std::string_view needle) {
  const size_t hit = s.find(needle);
  if (hit == std::string_view::npos) return -1;
  return static_cast<int64_t>(codepoint_count(s.substr(0, hit)));
}

int64_t rfind(std::string_view s, std::string_view needle) {
  const size_t hit = s.rfind(needle);
  if (hit == std::string_view::npos) return -1;
  return static_cast<int64_t>(codepoint_count(s.substr(0, hit)));
}

bool is_printable(char32_t cp) {
  if (cp == ' ') return true;
  switch (category(cp)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS: case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP: case UTF8PROC_CATEGORY_ZS:
      return false;
    default:
      return true;
  }
}

std::string repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out += quote;
  for (size_t pos = 0; pos < s.size();) {
    const char32_t cp = decode_next(s, pos);
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x7F && cp >= ' ') {
      out += static_cast<char>(cp);
    } else if (cp >= 0x7F && is_printable(cp)) {
      append_utf8(out, cp);
    } else {
      int digits = 2;
      if (cp <= 0xFF) {
        out += "\\x";
      } else if (cp <= 0xFFFF) {
        out += "\\u";
        digits = 4;
      } else {
        out += "\\U";
        digits = 8;
      }
      for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 0xF];
    }
  }
  out += quote;
  return out;
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\'': out += "&#39;"; break;
      case '"': out += "&#34;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace hearth::chat::jinja::text
