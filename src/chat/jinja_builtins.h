// jinja2's built-in filters, tests and global functions, and the Python methods templates call on strings,
// lists and dicts.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_value.h"

namespace hearth::chat::jinja {

struct Frame;

// Null when jinja2 has no filter / test of that name.
FilterFunction find_filter(std::string_view name);
// Whether a filter needs the render's context in jinja2 (map, select, ...), which keeps it from constant folding.
bool filter_uses_context(std::string_view name);
TestFunction find_test(std::string_view name);

// Adds range, dict, namespace, cycler, joiner, raise_exception and strftime_now.
void add_global_functions(Frame& globals);

// `receiver.name` when it names a Python method of the receiver's type (str, list, tuple, dict): a bound method.
std::optional<Value> find_method(const Value& receiver, std::string_view name);
// Calls `receiver.name(args)`; nullopt when the receiver's type has no such method.
std::optional<Value> call_method(Interpreter& interpreter, const Value& receiver, std::string_view name,
                                 Arguments& args);

// Binds call arguments to a builtin's parameter list the way Python binds them to a signature.
class ArgumentBinder {
 public:
  // `required` leading parameters must be given.
  ArgumentBinder(std::string_view function, Arguments args, std::initializer_list<std::string_view> parameters,
                 size_t required = 0);
  // The argument for parameter `index`, or nullopt when not passed.
  const std::optional<Value>& operator[](size_t index) const { return values_[index]; }
  Value get_or(size_t index, Value fallback) const { return values_[index] ? *values_[index] : std::move(fallback); }

 private:
  std::vector<std::optional<Value>> values_;
};

// Python-style conversions used by filters and methods, failing with Python's messages.
int64_t to_int_argument(const Value& v);
std::string_view to_string_argument(const Value& v, std::string_view what);

}  // namespace hearth::chat::jinja
