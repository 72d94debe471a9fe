// Python `str` semantics over UTF-8 text: what jinja2 templates see as strings are Python strings, indexed,
// measured, split, stripped and case-mapped by Unicode code point, so the engine reproduces those rules here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::chat::jinja::text {

// Decodes one code point at `pos` (advancing it). Invalid bytes decode as U+FFFD, one byte at a time.
char32_t decode_next(std::string_view s, size_t& pos);
void append_utf8(std::string& out, char32_t cp);
std::u32string to_u32(std::string_view s);
std::string to_utf8(std::u32string_view s);
size_t codepoint_count(std::string_view s);
// Byte offset of the code point with index `cp_index` (clamped to s.size()).
size_t byte_offset_of(std::string_view s, size_t cp_index);

// Python's str.isspace(): the characters str.split() and str.strip() treat as whitespace.
bool is_space(char32_t cp);
bool is_alnum_or_underscore(char32_t cp);  // regex \w
bool is_alpha(char32_t cp);
bool is_digit(char32_t cp);
bool is_cased(char32_t cp);
bool is_lower_char(char32_t cp);
bool is_upper_char(char32_t cp);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string swapcase(std::string_view s);
std::string capitalize(std::string_view s);  // str.capitalize(): first char title-cased, the rest lowered
std::string title(std::string_view s);       // str.title()
bool is_lower(std::string_view s);           // str.islower()
bool is_upper(std::string_view s);           // str.isupper()

// strip family: `chars` unset strips whitespace, otherwise any of the code points in `chars`.
std::string_view strip(std::string_view s, const std::optional<std::string_view>& chars);
std::string_view lstrip(std::string_view s, const std::optional<std::string_view>& chars);
std::string_view rstrip(std::string_view s, const std::optional<std::string_view>& chars);

// str.split / str.rsplit: no separator splits on whitespace runs; max_split < 0 means no limit.
// Throws std::invalid_argument("empty separator") for an empty separator, like Python's ValueError.
std::vector<std::string> split(std::string_view s, const std::optional<std::string_view>& sep, int64_t max_split);
std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string_view>& sep, int64_t max_split);
std::vector<std::string> splitlines(std::string_view s, bool keep_ends);

std::string replace(std::string_view s, std::string_view old, std::string_view replacement, int64_t count);
size_t count(std::string_view s, std::string_view needle);  // non-overlapping, as str.count
// str.find / str.rfind in code-point indices, -1 when absent.
int64_t find(std::string_view s, std::string_view needle);
int64_t rfind(std::string_view s, std::string_view needle);

// Python repr() of a string: picks the quote, escapes \\ \n \r \t, the quote and unprintable characters.
std::string repr(std::string_view s);
// Python's str.isprintable() for one code point.
bool is_printable(char32_t cp);

// markupsafe.escape(): & < > ' " become HTML entities.
std::string html_escape(std::string_view s);

}  // namespace hearth::chat::jinja::text
