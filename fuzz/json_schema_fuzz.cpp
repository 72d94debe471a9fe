// Fuzzes the JSON Schema compiler: any input is JSON text that compiles to a grammar or raises JsonSchemaError
// (malformed JSON, an unsupported keyword, a $ref that leads nowhere or loops, a grammar too large). A compiled
// grammar must parse as GBNF (the compiler never writes a grammar its own parser refuses, except where it says so).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "hearth/json_schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (const auto whitespace : {hearth::grammar::JsonWhitespace::compact, hearth::grammar::JsonWhitespace::flexible}) {
    try {
      hearth::grammar::json_schema_grammar(input, {.whitespace = whitespace});
    } catch (const hearth::grammar::JsonSchemaError&) {
      // A clear refusal naming where in the schema.
    }
  }
  return 0;
}
