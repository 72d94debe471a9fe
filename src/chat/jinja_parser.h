// Builds the syntax tree from tokens, following jinja2's grammar and operator precedence (including its quirks:
// `is` tests and `|` filters bind tighter than arithmetic, `not x is y` means `not (x is y)`).
#pragma once

#include <cstdint>
#include <string_view>

#include "chat/jinja_ast.h"
#include "chat/jinja_lexer.h"

namespace hearth::chat::jinja {

// Throws TemplateError with jinja2's message and the line for syntax errors, for filters and tests jinja2
// does not know (outside if-blocks and conditional expressions), and for nesting deeper than `max_depth`.
Body parse_template(std::string_view source, const LexerOptions& options, uint32_t max_depth);

}  // namespace hearth::chat::jinja
