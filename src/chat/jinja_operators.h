// Python's operators over Values: arithmetic, comparison, membership and string concatenation, with Python's
// results (1/2 == 0.5, -7 % 3 == 2, Markup escaping) and Python's TypeError messages.
#pragma once

#include "chat/jinja_ast.h"
#include "chat/jinja_value.h"

namespace hearth::chat::jinja {

class Interpreter;

// `op` is one of the arithmetic operators (not And/Or). Checks result sizes against the interpreter's limits.
Value arithmetic(BinaryOp op, const Value& a, const Value& b, const Interpreter& interpreter);
Value negate(const Value& v);
Value unary_plus(const Value& v);
bool compare(CompareOp op, const Value& a, const Value& b);
// Python's `item in container`.
bool contains(const Value& container, const Value& item);
// Python's str.__add__ with markupsafe's rule: a Markup operand HTML-escapes the plain one.
Value add_strings(const Value& a, const Value& b);

}  // namespace hearth::chat::jinja
