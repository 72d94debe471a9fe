// JSON in and out of the engine: the render context arrives as JSON, and `tojson` serializes values the way
// Python's json.dumps does (HF transformers' tojson: ensure_ascii=False, ", " and ": " separators by default).
#pragma once

#include <optional>
#include <string>

#include "chat/jinja_value.h"
#include "hearth/chat.h"

namespace hearth::chat::jinja {

// Objects keep their key order; integers stay integers. Fails for nesting deeper than kMaxValueDepth.
Value from_json(const json& j);

struct JsonDumpOptions {
  std::optional<std::string> indent;  // unset: one line
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;
};

// Python's json.dumps(value, ...), with its TypeError / ValueError messages for values it cannot serialize.
std::string to_json(const Value& value, const JsonDumpOptions& options);

}  // namespace hearth::chat::jinja
