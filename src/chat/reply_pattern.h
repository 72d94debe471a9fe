// The pattern language of ReplySyntax (see hearth/tool_calls.h) and the scan that parses a reply with it.
#pragma once

#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "hearth/tool_calls.h"

namespace hearth::chat {

struct PatternPiece {
  enum class Kind { literal, ws, name, args, call, params, id, skip, key, value };
  Kind kind;
  std::string_view text;      // literal: the text; call: the name's key
  std::string_view args_key;  // call: the arguments' key
};

// Throws std::logic_error for a malformed pattern (a bug in the syntax table).
std::vector<PatternPiece> parse_pattern(std::string_view pattern);

// Parses `text` as a reply in `syntax`. Not `final`: the text may still grow, so what could turn out otherwise (a
// possible marker at the end, an unfinished call, trailing whitespace) is left out; what is in never changes.
Reply scan_reply(const ReplySyntax& syntax, const nlohmann::ordered_json& tools, std::string_view text,
                 bool in_reasoning, bool final);

}  // namespace hearth::chat
