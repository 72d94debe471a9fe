// Python string formatting: the `%` operator (and the |format filter) and str.format().
#pragma once

#include <string>
#include <string_view>

#include "chat/jinja_value.h"

namespace hearth::chat::jinja {

// `format % args`: args is a tuple of positional values, a dict for %(name)s, or a single value.
// A Markup format escapes the arguments and returns Markup.
Value percent_format(const Value& format, const Value& args);

// `format.format(*positional, **keyword)` with Python's format-spec mini-language.
std::string str_format(std::string_view format, const Arguments& args);

// Python's format(value, spec).
std::string format_value(const Value& value, std::string_view spec);

}  // namespace hearth::chat::jinja
