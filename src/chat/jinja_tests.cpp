// jinja2's built-in tests (jinja2/tests.py): `x is defined`, `x is string`, ...
#include <fmt/format.h>

#include "chat/jinja_builtins.h"
#include "chat/jinja_interpreter.h"
#include "chat/jinja_operators.h"
#include "chat/jinja_text.h"

namespace hearth::chat::jinja {
namespace {

// The single argument most tests take (`x is divisibleby 3`, `x is sameas y`).
Value only_argument(std::string_view test, Arguments args) {
  ArgumentBinder a(test, std::move(args), {"other"}, 1);
  return *a[0];
}

// Tests taking only the value; jinja2's are Python functions named test_NAME (callable is Python's builtin).
void no_arguments(std::string_view test, const Arguments& args) {
  if (!args.keyword.empty()) {
    fail(fmt::format("test_{}() got an unexpected keyword argument {}", test, text::repr(args.keyword.front().first)));
  }
  if (args.positional.empty()) return;
  if (test == "callable") fail(fmt::format("callable() takes exactly one argument ({} given)", args.positional.size() + 1));
  fail(fmt::format("test_{}() takes 1 positional argument but {} were given", test, args.positional.size() + 1));
}

bool t_odd(Interpreter& in, const Value& v, Arguments args) {
  no_arguments("odd", args);
  return equals(arithmetic(BinaryOp::Mod, v, Value::integer(2), in), Value::integer(1));
}

bool t_even(Interpreter& in, const Value& v, Arguments args) {
  no_arguments("even", args);
  return equals(arithmetic(BinaryOp::Mod, v, Value::integer(2), in), Value::integer(0));
}

bool t_divisibleby(Interpreter& in, const Value& v, Arguments args) {
  return equals(arithmetic(BinaryOp::Mod, v, only_argument("divisibleby", std::move(args)), in), Value::integer(0));
}

bool t_defined(Interpreter&, const Value& v, Arguments args) {
  no_arguments("defined", args);
  return !v.is_undefined();
}

bool t_undefined(Interpreter&, const Value& v, Arguments args) {
  no_arguments("undefined", args);
  return v.is_undefined();
}

bool t_none(Interpreter&, const Value& v, Arguments args) {
  no_arguments("none", args);
  return v.is_none();
}

bool t_boolean(Interpreter&, const Value& v, Arguments args) {
  no_arguments("boolean", args);
  return v.is_bool();
}

bool t_false(Interpreter&, const Value& v, Arguments args) {
  no_arguments("false", args);
  return v.is_bool() && !v.as_bool();
}

bool t_true(Interpreter&, const Value& v, Arguments args) {
  no_arguments("true", args);
  return v.is_bool() && v.as_bool();
}

bool t_integer(Interpreter&, const Value& v, Arguments args) {
  no_arguments("integer", args);
  return v.is_int();
}

bool t_float(Interpreter&, const Value& v, Arguments args) {
  no_arguments("float", args);
  return v.is_float();
}

bool t_lower(Interpreter&, const Value& v, Arguments args) {
  no_arguments("lower", args);
  return text::is_lower(v.str());
}

bool t_upper(Interpreter&, const Value& v, Arguments args) {
  no_arguments("upper", args);
  return text::is_upper(v.str());
}

bool t_string(Interpreter&, const Value& v, Arguments args) {
  no_arguments("string", args);
  return v.is_string();
}

bool t_mapping(Interpreter&, const Value& v, Arguments args) {
  no_arguments("mapping", args);
  return v.is_dict();
}

bool t_number(Interpreter&, const Value& v, Arguments args) {
  no_arguments("number", args);
  return v.is_number();
}

// Python: has len() and __getitem__ (str, list, tuple, dict; jinja2's Undefined too).
bool t_sequence(Interpreter&, const Value& v, Arguments args) {
  no_arguments("sequence", args);
  if (v.is_string() || v.is_dict() || v.is_undefined()) return true;
  return v.is_list() && (v.as_list().kind == SequenceKind::List || v.as_list().kind == SequenceKind::Tuple);
}

bool t_iterable(Interpreter&, const Value& v, Arguments args) {
  no_arguments("iterable", args);
  return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined() || (v.is_object() && v.as_object().iterable());
}

bool t_callable(Interpreter&, const Value& v, Arguments args) {
  no_arguments("callable", args);
  return v.callable() || v.is_undefined();  // jinja2's Undefined defines __call__ (to fail)
}

bool t_sameas(Interpreter&, const Value& v, Arguments args) {
  const Value other = only_argument("sameas", std::move(args));
  switch (v.type()) {
    case Value::Type::List: return other.is_list() && v.list_ptr() == other.list_ptr();
    case Value::Type::Dict: return other.is_dict() && v.dict_ptr() == other.dict_ptr();
    case Value::Type::Object: return other.is_object() && v.object_ptr() == other.object_ptr();
    case Value::Type::Float: return other.is_float() && v.as_float() == other.as_float();
    case Value::Type::Undefined: return false;
    default: return v.type() == other.type() && equals(v, other);
  }
}

bool t_escaped(Interpreter&, const Value& v, Arguments args) {
  no_arguments("escaped", args);
  return v.is_markup();
}

bool t_in(Interpreter&, const Value& v, Arguments args) { return contains(only_argument("in", std::move(args)), v); }

bool t_filter(Interpreter&, const Value& v, Arguments args) {
  no_arguments("filter", args);
  return v.is_string() && find_filter(v.as_string()) != nullptr;
}

bool t_test(Interpreter&, const Value& v, Arguments args) {
  no_arguments("test", args);
  return v.is_string() && find_test(v.as_string()) != nullptr;
}

bool t_eq(Interpreter&, const Value& v, Arguments args) { return compare(CompareOp::Eq, v, only_argument("eq", std::move(args))); }
bool t_ne(Interpreter&, const Value& v, Arguments args) { return compare(CompareOp::Ne, v, only_argument("ne", std::move(args))); }
bool t_gt(Interpreter&, const Value& v, Arguments args) { return compare(CompareOp::Gt, v, only_argument("gt", std::move(args))); }
bool t_ge(Interpreter&, const Value& v, Arguments args) { return compare(CompareOp::GtEq, v, only_argument("ge", std::move(args))); }
bool t_lt(Interpreter&, const Value& v, Arguments args) { return compare(CompareOp::Lt, v, only_argument("lt", std::move(args))); }
bool t_le(Interpreter&, const Value& v, Arguments args) { return compare(CompareOp::LtEq, v, only_argument("le", std::move(args))); }

struct NamedTest {
  std::string_view name;
  TestFunction function;
};

constexpr NamedTest kTests[] = {
    {"odd", t_odd},         {"even", t_even},         {"divisibleby", t_divisibleby}, {"defined", t_defined},
    {"undefined", t_undefined}, {"none", t_none},     {"boolean", t_boolean},         {"false", t_false},
    {"true", t_true},       {"integer", t_integer},   {"float", t_float},             {"lower", t_lower},
    {"upper", t_upper},     {"string", t_string},     {"mapping", t_mapping},         {"number", t_number},
    {"sequence", t_sequence}, {"iterable", t_iterable}, {"callable", t_callable},     {"sameas", t_sameas},
    {"escaped", t_escaped}, {"in", t_in},             {"filter", t_filter},           {"test", t_test},
    {"==", t_eq},           {"eq", t_eq},             {"equalto", t_eq},              {"!=", t_ne},
    {"ne", t_ne},           {">", t_gt},              {"gt", t_gt},                   {"greaterthan", t_gt},
    {">=", t_ge},           {"ge", t_ge},             {"<", t_lt},                    {"lt", t_lt},
    {"lessthan", t_lt},     {"<=", t_le},             {"le", t_le},
};

}  // namespace

TestFunction find_test(std::string_view name) {
  for (const auto& test : kTests) {
    if (test.name == name) return test.function;
  }
  return nullptr;
}

}  // namespace hearth::chat::jinja
