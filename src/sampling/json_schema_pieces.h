// The parts of a JSON Schema grammar that do not depend on the schema's structure: GBNF literals and character
// classes, decimal integer ranges, string formats and regular-expression patterns. Each returns a GBNF expression
// (no rule definitions) that may name the shared rules below.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hearth::grammar::json_schema {

// Rules every JSON Schema grammar defines (json_schema.cpp writes them).
inline constexpr std::string_view kStringCharRule = "json-char";  // one character of a JSON string, escapes included

// A schema construct these pieces cannot express; json_schema.cpp adds the pointer.
class Unsupported : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// `text` as a GBNF string literal.
std::string gbnf_literal(std::string_view text);
// One code point as written inside a GBNF literal or character class.
std::string gbnf_char(char32_t code_point);

// The decimal integers in [minimum, maximum] (either may be absent: then up to 18 digits), as JSON writes them.
// Throws Unsupported when a bound is beyond 18 digits or the range is empty.
std::string integer_range(std::optional<std::int64_t> minimum, std::optional<std::int64_t> maximum);

// The contents (between the quotes) of a JSON string in `format`: date, time, date-time, uuid, email, uri.
std::string string_format(std::string_view format);

// The contents of a JSON string whose decoded text matches `pattern` in whole (a documented subset of ECMA 262:
// see json_schema.h). Throws Unsupported naming the construct.
std::string string_pattern(std::string_view pattern);

}  // namespace hearth::grammar::json_schema
