#include "chat/jinja_operators.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "chat/jinja_format.h"
#include "chat/jinja_interpreter.h"
#include "chat/jinja_text.h"

namespace hearth::chat::jinja {
namespace {

std::string_view symbol(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "+";
    case BinaryOp::Sub: return "-";
    case BinaryOp::Mul: return "*";
    case BinaryOp::Div: return "/";
    case BinaryOp::FloorDiv: return "//";
    case BinaryOp::Mod: return "%";
    case BinaryOp::Pow: return "** or pow()";
    default: return "?";
  }
}

[[noreturn]] void unsupported(BinaryOp op, const Value& a, const Value& b) {
  fail(fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", symbol(op), a.type_name(), b.type_name()));
}

[[noreturn]] void overflow() { fail("integer overflow: the result does not fit in 64 bits"); }

bool is_plain_sequence(const Value& v) {
  return v.is_list() && (v.as_list().kind == SequenceKind::List || v.as_list().kind == SequenceKind::Tuple);
}

Value repeat(const Value& sequence, int64_t times, const Interpreter& interpreter) {
  const int64_t n = std::max<int64_t>(times, 0);
  if (sequence.is_string()) {
    const std::string& s = sequence.as_string();
    if (n > 0 && s.size() > 0) interpreter.check_size(s.size() * std::min<uint64_t>(static_cast<uint64_t>(n), SIZE_MAX / s.size()));
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out += s;
    return Value::string(std::move(out), sequence.is_markup());
  }
  const ListData& list = sequence.as_list();
  if (n > 0 && !list.items.empty() &&
      static_cast<uint64_t>(n) > interpreter.limits().max_loop_iterations / list.items.size()) {
    fail("sequence repetition exceeds the template's size limit");
  }
  std::vector<Value> items;
  items.reserve(list.items.size() * static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) items.insert(items.end(), list.items.begin(), list.items.end());
  return Value::list(std::move(items), list.kind);
}

double python_float_mod(double x, double y) {
  double mod = std::fmod(x, y);
  if (mod != 0.0) {
    if ((y < 0) != (mod < 0)) mod += y;
  } else {
    mod = std::copysign(0.0, y);
  }
  return mod;
}

double python_float_floordiv(double x, double y) {
  double mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0.0 && ((y < 0) != (mod < 0))) div -= 1.0;
  if (div == 0.0) return std::copysign(0.0, x / y);
  double floor_div = std::floor(div);
  if (div - floor_div > 0.5) floor_div += 1.0;
  return floor_div;
}

Value int_pow(int64_t base, int64_t exponent) {
  if (exponent < 0) {
    if (base == 0) fail("0.0 cannot be raised to a negative power");
    return Value::floating(std::pow(static_cast<double>(base), static_cast<double>(exponent)));
  }
  int64_t result = 1;
  int64_t b = base;
  for (int64_t e = exponent; e > 0; e >>= 1) {
    if (e & 1) {
      if (__builtin_mul_overflow(result, b, &result)) overflow();
    }
    if (e > 1 && __builtin_mul_overflow(b, b, &b)) overflow();
  }
  return Value::integer(result);
}

Value numeric(BinaryOp op, const Value& a, const Value& b) {
  if (!a.is_float() && !b.is_float()) {
    const int64_t x = a.as_integer();
    const int64_t y = b.as_integer();
    int64_t r = 0;
    switch (op) {
      case BinaryOp::Add:
        if (__builtin_add_overflow(x, y, &r)) overflow();
        return Value::integer(r);
      case BinaryOp::Sub:
        if (__builtin_sub_overflow(x, y, &r)) overflow();
        return Value::integer(r);
      case BinaryOp::Mul:
        if (__builtin_mul_overflow(x, y, &r)) overflow();
        return Value::integer(r);
      case BinaryOp::Div:
        if (y == 0) fail("division by zero");
        return Value::floating(static_cast<double>(x) / static_cast<double>(y));
      case BinaryOp::FloorDiv: {
        if (y == 0) fail("integer division or modulo by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1) overflow();
        int64_t q = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
        return Value::integer(q);
      }
      case BinaryOp::Mod: {
        if (y == 0) fail("integer modulo by zero");
        if (y == -1) return Value::integer(0);
        int64_t m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return Value::integer(m);
      }
      case BinaryOp::Pow:
        return int_pow(x, y);
      default:
        break;
    }
  }
  const double x = a.as_double();
  const double y = b.as_double();
  switch (op) {
    case BinaryOp::Add: return Value::floating(x + y);
    case BinaryOp::Sub: return Value::floating(x - y);
    case BinaryOp::Mul: return Value::floating(x * y);
    case BinaryOp::Div:
      if (y == 0.0) fail("float division by zero");
      return Value::floating(x / y);
    case BinaryOp::FloorDiv:
      if (y == 0.0) fail("float floor division by zero");
      return Value::floating(python_float_floordiv(x, y));
    case BinaryOp::Mod:
      if (y == 0.0) fail("float modulo");
      return Value::floating(python_float_mod(x, y));
    case BinaryOp::Pow:
      if (x == 0.0 && y < 0.0) fail("0.0 cannot be raised to a negative power");
      if (x < 0.0 && y != std::floor(y)) fail("complex results are not supported");
      if (std::isfinite(x) && std::isfinite(y) && std::isinf(std::pow(x, y))) fail("(34, 'Numerical result out of range')");
      return Value::floating(std::pow(x, y));
    default:
      fail("invalid arithmetic operator");
  }
}

}  // namespace

Value add_strings(const Value& a, const Value& b) {
  if (a.is_markup() || b.is_markup()) {
    const std::string left = a.is_markup() ? a.as_string() : text::html_escape(a.as_string());
    const std::string right = b.is_markup() ? b.as_string() : text::html_escape(b.as_string());
    return Value::string(left + right, true);
  }
  return Value::string(a.as_string() + b.as_string());
}

Value arithmetic(BinaryOp op, const Value& a, const Value& b, const Interpreter& interpreter) {
  if (a.is_undefined()) a.fail_undefined();
  if (a.is_number() && b.is_number()) return numeric(op, a, b);
  if (op == BinaryOp::Mod && a.is_string()) {
    // str.__mod__ formats any right operand, undefined included (it prints as "").
    Value result = percent_format(a, b);
    interpreter.check_size(result.as_string().size());
    return result;
  }
  if (b.is_undefined()) b.fail_undefined();
  switch (op) {
    case BinaryOp::Add:
      if (a.is_string() && b.is_string()) {
        interpreter.check_size(a.as_string().size() + b.as_string().size());
        return add_strings(a, b);
      }
      if (a.is_string()) {
        if (a.is_markup()) unsupported(op, a, b);
        fail(fmt::format("can only concatenate str (not \"{}\") to str", b.type_name()));
      }
      if (is_plain_sequence(a)) {
        if (!b.is_list() || b.as_list().kind != a.as_list().kind) {
          fail(fmt::format("can only concatenate {} (not \"{}\") to {}", a.type_name(), b.type_name(), a.type_name()));
        }
        const auto& x = a.as_list().items;
        const auto& y = b.as_list().items;
        std::vector<Value> items;
        items.reserve(x.size() + y.size());
        items.insert(items.end(), x.begin(), x.end());
        items.insert(items.end(), y.begin(), y.end());
        return Value::list(std::move(items), a.as_list().kind);
      }
      unsupported(op, a, b);
    case BinaryOp::Mul:
      if ((a.is_markup() && (b.is_string() || is_plain_sequence(b))) ||
          (b.is_markup() && (a.is_string() || is_plain_sequence(a)))) {
        // markupsafe's __mul__ gives up on non-ints, and CPython then blames the Markup.
        fail("can't multiply sequence by non-int of type 'Markup'");
      }
      if ((a.is_string() || is_plain_sequence(a)) && (b.is_bool() || b.is_int())) return repeat(a, b.as_integer(), interpreter);
      if ((b.is_string() || is_plain_sequence(b)) && (a.is_bool() || a.is_int())) return repeat(b, a.as_integer(), interpreter);
      if (a.is_string() || is_plain_sequence(a)) {
        fail(fmt::format("can't multiply sequence by non-int of type '{}'", b.type_name()));
      }
      if (b.is_string() || is_plain_sequence(b)) {
        fail(fmt::format("can't multiply sequence by non-int of type '{}'", a.type_name()));
      }
      unsupported(op, a, b);
    default:
      unsupported(op, a, b);
  }
}

Value negate(const Value& v) {
  if (v.is_undefined()) v.fail_undefined();
  if (v.is_float()) return Value::floating(-v.as_float());
  if (v.is_number()) {
    if (v.as_integer() == std::numeric_limits<int64_t>::min()) overflow();
    return Value::integer(-v.as_integer());
  }
  fail(fmt::format("bad operand type for unary -: '{}'", v.type_name()));
}

Value unary_plus(const Value& v) {
  if (v.is_undefined()) v.fail_undefined();
  if (v.is_float()) return v;
  if (v.is_number()) return Value::integer(v.as_integer());
  fail(fmt::format("bad operand type for unary +: '{}'", v.type_name()));
}

bool contains(const Value& container, const Value& item) {
  switch (container.type()) {
    case Value::Type::Undefined:
      return false;  // iterates as empty
    case Value::Type::String:
      if (!item.is_string()) {
        fail(fmt::format("'in <string>' requires string as left operand, not {}", item.type_name()));
      }
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Type::List: {
      ListData& list = container.as_list();
      if (list.kind == SequenceKind::Generator) {
        // Searching a generator consumes it up to the match, as in Python.
        list.materialize();
        while (list.consumed < list.items.size()) {
          if (equals(list.items[list.consumed++], item)) return true;
        }
        return false;
      }
      for (const Value& element : list.items) {
        if (equals(element, item)) return true;
      }
      return false;
    }
    case Value::Type::Dict:
      return container.as_dict().find(item) != nullptr;
    default:
      fail(fmt::format("argument of type '{}' is not iterable", container.type_name()));
  }
}

bool compare(CompareOp op, const Value& a, const Value& b) {
  switch (op) {
    case CompareOp::Eq: return equals(a, b);
    case CompareOp::Ne: return !equals(a, b);
    case CompareOp::In: return contains(b, a);
    case CompareOp::NotIn: return !contains(b, a);
    default: break;
  }
  if (a.is_number() && b.is_number() && (std::isnan(a.as_double()) || std::isnan(b.as_double()))) {
    return false;
  }
  switch (op) {
    case CompareOp::Lt: return compare_order(Ordering::Less, a, b);
    case CompareOp::LtEq: return compare_order(Ordering::LessEqual, a, b);
    case CompareOp::Gt: return compare_order(Ordering::Greater, a, b);
    default: return compare_order(Ordering::GreaterEqual, a, b);
  }
}

}  // namespace hearth::chat::jinja
