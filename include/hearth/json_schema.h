// JSON Schema to grammar: the output of a generation constrained by json_schema_grammar(schema) parses as JSON and
// validates against the schema. The grammar describes a subset of what the schema accepts where the whole would
// not be a context-free language or would let a model ramble: an object has only its declared properties (in the
// order written) unless additionalProperties says otherwise, a pattern is matched whole, numbers have at most 16
// digits each side of the point, a date never says February 29.
//
// Supported: type (one or a list; nullable), properties, required, additionalProperties, items, prefixItems (and
// items as a list), minItems, maxItems, enum, const, anyOf, oneOf (generated as anyOf), allOf (of object schemas),
// $ref/$defs/definitions (JSON pointers inside the document, recursion included), minLength, maxLength, pattern
// (literals, ., classes, \d \w \s and their negations, groups, |, * + ? {m,n}; anchors at the ends), format (date,
// time, date-time, uuid, email, uri), minimum, maximum, exclusiveMinimum, exclusiveMaximum (integers; for numbers,
// integral bounds from 0 up). Annotations (title, description, default, examples, ...) are ignored. Anything else is
// a JsonSchemaError naming the keyword and its JSON pointer, never silently dropped.
#pragma once

#include <string>
#include <string_view>

#include "hearth/grammar.h"

namespace hearth::grammar {

enum class JsonWhitespace {
  compact,   // no whitespace at all: {"a":1,"b":[2,3]}
  flexible,  // where JSON allows it: nothing, one space, or a newline and up to 20 spaces of indentation
};

struct JsonSchemaOptions {
  JsonWhitespace whitespace = JsonWhitespace::flexible;
  // Put before every rule name (the start rule becomes PREFIX + "root"), so that grammars of several schemas can
  // live in one GBNF text: "tool0-" gives tool0-root, tool0-ws, ...
  std::string rule_prefix;
};

class JsonSchemaError : public GrammarError {
 public:
  // `pointer`: where in the schema, as a JSON pointer ("" for the root).
  JsonSchemaError(std::string pointer, const std::string& message);
  const std::string& pointer() const { return pointer_; }

 private:
  std::string pointer_;
};

// The schema (JSON text) as GBNF text with start rule `root`. Throws JsonSchemaError.
std::string json_schema_to_gbnf(std::string_view schema_json, const JsonSchemaOptions& options = {});
// The same, compiled.
Grammar json_schema_grammar(std::string_view schema_json, const JsonSchemaOptions& options = {});
// Any JSON object (OpenAI's response_format {"type": "json_object"}).
Grammar json_object_grammar(const JsonSchemaOptions& options = {});

}  // namespace hearth::grammar
