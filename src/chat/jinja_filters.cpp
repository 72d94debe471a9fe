// jinja2's built-in filters (jinja2/filters.py), with HF transformers' tojson.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <unordered_map>

#include "chat/jinja_builtins.h"
#include "chat/jinja_format.h"
#include "chat/jinja_interpreter.h"
#include "chat/jinja_json.h"
#include "chat/jinja_operators.h"
#include "chat/jinja_text.h"

namespace hearth::chat::jinja {
namespace {

// ---- helpers --------------------------------------------------------------------------------------------------

// jinja2's soft_str: strings (Markup included) stay as they are, anything else becomes str(value).
Value soft_str(const Value& v) { return v.is_string() ? v : Value::string(v.str()); }

Value generator(std::vector<Value> items) { return Value::list(std::move(items), SequenceKind::Generator); }

// A generator whose body runs when the result is first iterated, as with jinja2's generator-function filters.
Value lazy_generator(const char* function, std::function<std::vector<Value>()> body) {
  auto data = std::make_shared<ListData>();
  data->kind = SequenceKind::Generator;
  data->generator_function = function;
  data->pending = std::move(body);
  return Value::list(std::move(data));
}

// The filter or test name map()/select() were given; jinja2 reports names that are not strings (often an
// unquoted name that is undefined) when it looks them up.
std::string callable_name(const Value& name, std::string_view kind) {
  if (name.is_string()) return name.as_string();
  std::string message = fmt::format("No {} named {}.", kind, name.repr());
  if (name.is_undefined()) message += fmt::format(" ({}; did you forget to quote the callable name?)", name.undefined_message());
  fail(message);
}

Value tuple(std::vector<Value> items) { return Value::list(std::move(items), SequenceKind::Tuple); }

Value lower_if_string(const Value& v) {
  return v.is_string() ? Value::string(text::lower(v.as_string()), v.is_markup()) : v;
}

std::vector<Value> items_of(Interpreter& in, const Value& v) {
  std::vector<Value> items = in.iterate(v);
  in.count_iterations(items.size());
  return items;
}

// jinja2's make_attrgetter: "a.b.0" looks up a, then b, then item 0 (digit parts are integers).
class AttributeGetter {
 public:
  AttributeGetter(const std::optional<Value>& attribute, bool lowercase, std::optional<Value> default_value = std::nullopt)
      : lowercase_(lowercase), default_(std::move(default_value)) {
    if (!attribute || attribute->is_none()) return;
    if (attribute->is_string()) {
      for (const std::string& part : text::split(attribute->as_string(), std::string_view("."), -1)) {
        const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
        parts_.push_back(digits ? Value::integer(std::stoll(part)) : Value::string(part));
      }
    } else {
      parts_.push_back(*attribute);
    }
  }

  Value operator()(Interpreter& in, Value item) const {
    for (const Value& part : parts_) {
      item = in.get_item(item, part);
      if (default_ && !default_->is_none() && item.is_undefined()) item = *default_;
    }
    return lowercase_ ? lower_if_string(item) : item;
  }

 private:
  std::vector<Value> parts_;
  bool lowercase_;
  std::optional<Value> default_;
};

// Sorts stably by key, as Python's sorted() does.
std::vector<Value> sorted_by(std::vector<Value> items, const std::vector<Value>& keys, bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (reverse) {
    // Python's reverse=True keeps equal elements in their original order.
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return less_than(keys[b], keys[a]); });
  } else {
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return less_than(keys[a], keys[b]); });
  }
  std::vector<Value> out;
  out.reserve(items.size());
  for (size_t i : order) out.push_back(std::move(items[i]));
  return out;
}

bool as_flag(const std::optional<Value>& v) { return v && v->truthy(); }

// Python's round(x, ndigits) for floats: correctly rounded, ties to even.
double python_round(double x, int64_t ndigits) {
  if (!std::isfinite(x) || ndigits > 300) return x;
  if (ndigits >= 0) {
    char buffer[512];
    std::snprintf(buffer, sizeof buffer, "%.*f", static_cast<int>(std::min<int64_t>(ndigits, 300)), x);
    return std::strtod(buffer, nullptr);
  }
  if (ndigits < -308) return std::copysign(0.0, x);
  const double scale = std::pow(10.0, static_cast<double>(-ndigits));
  return std::nearbyint(x / scale) * scale;
}

std::optional<int64_t> parse_python_int(std::string_view s, int base) {
  s = text::strip(s, std::nullopt);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.size() > 2 && s[0] == '0') {
    const char prefix = static_cast<char>(s[1] | 0x20);
    const int prefix_base = prefix == 'x' ? 16 : prefix == 'o' ? 8 : prefix == 'b' ? 2 : 0;
    if (prefix_base != 0 && (base == prefix_base || base == 0)) {
      base = prefix_base;
      s.remove_prefix(2);
      if (!s.empty() && s[0] == '_') s.remove_prefix(1);
    }
  }
  if (base == 0) base = 10;
  if (s.empty() || s.front() == '_' || s.back() == '_') return std::nullopt;
  int64_t value = 0;
  char previous = 0;
  for (char c : s) {
    if (c == '_') {
      if (previous == '_') return std::nullopt;
      previous = c;
      continue;
    }
    previous = c;
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    else if (c >= 'a' && c <= 'z') digit = c - 'a' + 10;
    else if (c >= 'A' && c <= 'Z') digit = c - 'A' + 10;
    if (digit < 0 || digit >= base) return std::nullopt;
    if (__builtin_mul_overflow(value, base, &value) || __builtin_add_overflow(value, digit, &value)) return std::nullopt;
  }
  return negative ? -value : value;
}

std::optional<double> parse_python_float(std::string_view s) {
  s = text::strip(s, std::nullopt);
  std::string cleaned;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 == s.size() || !std::isdigit(static_cast<unsigned char>(s[i - 1])) ||
          !std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
        return std::nullopt;
      }
      continue;
    }
    cleaned += s[i];
  }
  std::string_view body = cleaned;
  bool negative = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  const std::string lowered = text::lower(body);
  if (lowered == "inf" || lowered == "infinity") return negative ? -HUGE_VAL : HUGE_VAL;
  if (lowered == "nan") return std::nan("");
  // digits [. digits] [e [sign] digits], with at least one digit in the mantissa
  size_t i = 0;
  size_t mantissa_digits = 0;
  while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i, ++mantissa_digits;
  if (i < body.size() && body[i] == '.') {
    ++i;
    while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i, ++mantissa_digits;
  }
  if (mantissa_digits == 0) return std::nullopt;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    if (i < body.size() && (body[i] == '+' || body[i] == '-')) ++i;
    const size_t exponent_start = i;
    while (i < body.size() && std::isdigit(static_cast<unsigned char>(body[i]))) ++i;
    if (i == exponent_start) return std::nullopt;
  }
  if (i != body.size()) return std::nullopt;
  const double value = std::strtod(std::string(body).c_str(), nullptr);
  return negative ? -value : value;
}

std::string url_quote(std::string_view s, bool for_query) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '_' || c == '.' || c == '-' || c == '~' || (!for_query && c == '/')) {
      out += static_cast<char>(c);
    } else if (for_query && c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::string html_unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    const size_t semicolon = s.find(';', i);
    if (semicolon == std::string_view::npos || semicolon - i > 10) {
      out += s[i];
      continue;
    }
    const std::string_view entity = s.substr(i + 1, semicolon - i - 1);
    std::optional<char32_t> cp;
    if (entity == "amp") cp = '&';
    else if (entity == "lt") cp = '<';
    else if (entity == "gt") cp = '>';
    else if (entity == "quot") cp = '"';
    else if (entity == "apos") cp = '\'';
    else if (entity == "nbsp") cp = 0xA0;
    else if (entity.size() > 1 && entity[0] == '#') {
      const bool hex = entity[1] == 'x' || entity[1] == 'X';
      if (const auto n = parse_python_int(entity.substr(hex ? 2 : 1), hex ? 16 : 10); n && *n >= 0 && *n < 0x110000) {
        cp = static_cast<char32_t>(*n);
      }
    }
    if (!cp) {
      out += s[i];
      continue;
    }
    text::append_utf8(out, *cp);
    i = semicolon;
  }
  return out;
}

size_t python_len(const Value& v) {
  switch (v.type()) {
    case Value::Type::Undefined: return 0;
    case Value::Type::String: return text::codepoint_count(v.as_string());
    case Value::Type::Dict: return v.as_dict().size();
    case Value::Type::List:
      if (v.as_list().kind != SequenceKind::Generator) return v.as_list().items.size();
      break;
    case Value::Type::Object:
      if (const auto length = v.as_object().length()) return *length;
      break;
    default:
      break;
  }
  fail(fmt::format("object of type '{}' has no len()", v.type_name()));
}

// ---- filters ----------------------------------------------------------------------------------------------------

Value f_abs(Interpreter&, Value v, Arguments args) {
  ArgumentBinder("abs", std::move(args), {});
  if (v.is_float()) return Value::floating(std::fabs(v.as_float()));
  if (v.is_number()) {
    if (v.as_integer() == INT64_MIN) fail("integer overflow: the result does not fit in 64 bits");
    return Value::integer(std::abs(v.as_integer()));
  }
  fail(fmt::format("bad operand type for abs(): '{}'", v.type_name()));
}

Value f_attr(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder a("attr", std::move(args), {"name"}, 1);
  const std::string_view name = to_string_argument(*a[0], "attribute name");
  if (v.is_undefined()) v.fail_undefined();
  const bool has = find_method(v, name).has_value() || (v.is_object() && v.as_object().attribute(name).has_value());
  if (!has || name.empty() || name.front() == '_') {
    return Value::undefined(fmt::format("{} has no attribute {}", text::repr(v.object_type_repr()), text::repr(name)));
  }
  return in.get_attribute(v, name);
}

Value f_batch(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder a("batch", std::move(args), {"linecount", "fill_with"}, 1);
  return lazy_generator("do_batch", [&in, v, a = std::move(a)] {
    const int64_t count = to_int_argument(*a[0]);
    std::vector<Value> batches;
    std::vector<Value> current;
    for (Value& item : items_of(in, v)) {
      if (static_cast<int64_t>(current.size()) == count) batches.push_back(Value::list(std::exchange(current, {})));
      current.push_back(std::move(item));
    }
    if (!current.empty()) {
      if (a[1] && !a[1]->is_none()) {
        if (count > static_cast<int64_t>(in.limits().max_loop_iterations)) fail("batch size exceeds the template's limits");
        while (static_cast<int64_t>(current.size()) < count) current.push_back(*a[1]);
      }
      batches.push_back(Value::list(std::move(current)));
    }
    return batches;
  });
}

Value f_capitalize(Interpreter&, Value v, Arguments args) {
  ArgumentBinder("capitalize", std::move(args), {});
  const Value s = soft_str(v);
  return Value::string(text::capitalize(s.as_string()), s.is_markup());
}

std::string center_text(std::string_view s, int64_t width, std::string_view fill = " ") {
  const auto length = static_cast<int64_t>(text::codepoint_count(s));
  if (width <= length) return std::string(s);
  const int64_t margin = width - length;
  const int64_t left = margin / 2 + (margin & width & 1);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = 0; i < margin - left; ++i) out += fill;
  return out;
}

Value f_center(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder a("center", std::move(args), {"width"});
  const int64_t width = a[0] ? to_int_argument(*a[0]) : 80;
  in.check_size(static_cast<size_t>(std::max<int64_t>(width, 0)));
  const Value s = soft_str(v);
  return Value::string(center_text(s.as_string(), width), s.is_markup());
}

Value f_default(Interpreter&, Value v, Arguments args) {
  ArgumentBinder a("default", std::move(args), {"default_value", "boolean"});
  if (v.is_undefined() || (as_flag(a[1]) && !v.truthy())) return a.get_or(0, Value::string(""));
  return v;
}

Value f_dictsort(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder a("dictsort", std::move(args), {"case_sensitive", "by", "reverse"});
  if (v.is_undefined()) v.fail_undefined();
  if (!v.is_dict()) fail(fmt::format("'{}' object has no attribute 'items'", v.type_name()));
  const std::string by = a[1] ? std::string(to_string_argument(*a[1], "by")) : "key";
  if (by != "key" && by != "value") fail("You can only sort by either \"key\" or \"value\"");
  const size_t position = by == "key" ? 0 : 1;
  std::vector<Value> items;
  std::vector<Value> keys;
  for (const auto& [key, value] : v.as_dict().entries()) {
    items.push_back(tuple({key, value}));
    const Value& sort_key = position == 0 ? key : value;
    keys.push_back(as_flag(a[0]) ? sort_key : lower_if_string(sort_key));
  }
  in.count_iterations(items.size());
  return Value::list(sorted_by(std::move(items), keys, as_flag(a[2])));
}

Value f_escape(Interpreter&, Value v, Arguments args) {
  ArgumentBinder("escape", std::move(args), {});
  if (v.is_markup()) return v;
  return Value::string(text::html_escape(v.str()), true);
}

Value f_forceescape(Interpreter&, Value v, Arguments args) {
  ArgumentBinder("forceescape", std::move(args), {});
  return Value::string(text::html_escape(v.str()), true);
}

Value f_filesizeformat(Interpreter&, Value v, Arguments args) {
  ArgumentBinder a("filesizeformat", std::move(args), {"binary"});
  double bytes;
  if (v.is_string()) {
    const auto parsed = parse_python_float(v.as_string());
    if (!parsed) fail(fmt::format("could not convert string to float: {}", text::repr(v.as_string())));
    bytes = *parsed;
  } else if (v.is_number()) {
    bytes = v.as_double();
  } else {
    if (v.is_undefined()) v.fail_undefined();
    fail(fmt::format("float() argument must be a string or a real number, not '{}'", v.type_name()));
  }
  const bool binary = as_flag(a[0]);
  const double base = binary ? 1024 : 1000;
  static constexpr const char* kDecimal[] = {"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
  static constexpr const char* kBinary[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
  if (bytes == 1) return Value::string("1 Byte");
  if (bytes < base) return Value::string(fmt::format("{} Bytes", static_cast<int64_t>(bytes)));
  double unit = base;
  for (int i = 0; i < 8; ++i) {
    unit = std::pow(base, i + 2);
    if (bytes < unit || i == 7) {
      return Value::string(fmt::format("{:.1f} {}", base * bytes / unit, binary ? kBinary[i] : kDecimal[i]));
    }
  }
  return Value::string("");
}

Value f_first(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder("first", std::move(args), {});
  if (v.is_list()) {
    ListData& list = v.as_list();
    const bool generator_kind = list.kind == SequenceKind::Generator;
    list.materialize();
    const size_t next = generator_kind ? list.consumed : 0;
    if (next >= list.items.size()) return Value::undefined("No first item, sequence was empty.");
    if (generator_kind) ++list.consumed;  // next(iter(generator)) takes one item
    return list.items[next];
  }
  std::vector<Value> items = in.iterate(v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_float(Interpreter&, Value v, Arguments args) {
  ArgumentBinder a("float", std::move(args), {"default"});
  const Value fallback = a.get_or(0, Value::floating(0.0));
  if (v.is_undefined()) v.fail_undefined();
  if (v.is_number()) return Value::floating(v.as_double());
  if (v.is_string()) {
    if (const auto parsed = parse_python_float(v.as_string())) return Value::floating(*parsed);
  }
  return fallback;
}

Value f_format(Interpreter& in, Value v, Arguments args) {
  if (!args.positional.empty() && !args.keyword.empty()) {
    fail("can't handle positional and keyword arguments at the same time");
  }
  Value format_args;
  if (!args.keyword.empty()) {
    auto dict = std::make_shared<Dict>();
    for (auto& [name, value] : args.keyword) dict->set(name, std::move(value));
    format_args = Value::dict(std::move(dict));
  } else {
    format_args = tuple(std::move(args.positional));
  }
  Value result = percent_format(soft_str(v), format_args);
  in.check_size(result.as_string().size());
  return result;
}

Value f_groupby(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder a("groupby", std::move(args), {"attribute", "default", "case_sensitive"}, 1);
  const bool case_sensitive = as_flag(a[2]);
  const AttributeGetter sort_key(a[0], !case_sensitive, a[1]);
  const AttributeGetter output_key(a[0], false, a[1]);
  std::vector<Value> items = items_of(in, v);
  std::vector<Value> keys;
  for (const Value& item : items) keys.push_back(sort_key(in, item));
  std::vector<Value> sorted_keys = sorted_by(keys, keys, false);
  items = sorted_by(std::move(items), keys, false);
  std::vector<Value> groups;
  for (size_t i = 0; i < items.size();) {
    size_t j = i;
    std::vector<Value> members;
    while (j < items.size() && equals(sorted_keys[j], sorted_keys[i])) members.push_back(items[j++]);
    const Value key = case_sensitive ? sorted_keys[i] : output_key(in, members.front());
    Value group = tuple({key, Value::list(std::move(members))});
    group.as_list().is_group = true;
    groups.push_back(std::move(group));
    i = j;
  }
  return Value::list(std::move(groups));
}

Value f_indent(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder a("indent", std::move(args), {"width", "first", "blank"});
  std::string indention = "    ";
  if (a[0]) {
    if (a[0]->is_string()) {
      indention = a[0]->as_string();
    } else {
      const int64_t width = to_int_argument(*a[0]);
      in.check_size(static_cast<size_t>(std::max<int64_t>(width, 0)));
      indention = std::string(static_cast<size_t>(std::max<int64_t>(width, 0)), ' ');
    }
  }
  if (v.is_undefined()) v.fail_undefined();
  if (!v.is_string()) {
    // jinja2 runs `s += "\n"` first: lists accept that (and then lack splitlines), tuples and the rest do not.
    if (v.is_sequence_kind(SequenceKind::List)) fail("'list' object has no attribute 'splitlines'");
    if (v.is_sequence_kind(SequenceKind::Tuple)) fail("can only concatenate tuple (not \"str\") to tuple");
    fail(fmt::format("unsupported operand type(s) for +=: '{}' and 'str'", v.type_name()));
  }
  const std::string s = v.as_string() + "\n";
  const std::vector<std::string> lines = text::splitlines(s, false);
  std::string out;
  if (as_flag(a[2])) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) out += "\n" + indention;
      out += lines[i];
      in.check_size(out.size());
    }
  } else {
    out = lines.empty() ? "" : lines.front();
    for (size_t i = 1; i < lines.size(); ++i) {
      out += "\n";
      if (!lines[i].empty()) out += indention;
      out += lines[i];
      in.check_size(out.size());
    }
  }
  if (as_flag(a[1])) out = indention + out;
  return Value::string(std::move(out), v.is_markup());
}

Value f_int(Interpreter&, Value v, Arguments args) {
  ArgumentBinder a("int", std::move(args), {"default", "base"});
  const Value fallback = a.get_or(0, Value::integer(0));
  const int64_t base = a[1] ? to_int_argument(*a[1]) : 10;
  if (v.is_undefined()) v.fail_undefined();
  if (v.is_bool() || v.is_int()) return Value::integer(v.as_integer());
  if (v.is_float()) {
    const double d = v.as_float();
    if (std::isinf(d)) fail("cannot convert float infinity to integer");
    if (std::isnan(d) || std::fabs(d) >= 9.2e18) return fallback;
    return Value::integer(static_cast<int64_t>(std::trunc(d)));
  }
  if (v.is_string()) {
    if (base == 0 || (base >= 2 && base <= 36)) {
      if (const auto parsed = parse_python_int(v.as_string(), static_cast<int>(base))) return Value::integer(*parsed);
    }
    if (const auto parsed = parse_python_float(v.as_string()); parsed && std::isfinite(*parsed) && std::fabs(*parsed) < 9.2e18) {
      return Value::integer(static_cast<int64_t>(std::trunc(*parsed)));
    }
  }
  return fallback;
}

Value f_items(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder("items", std::move(args), {});
  return lazy_generator("do_items", [&in, v] {
    std::vector<Value> items;
    if (v.is_undefined()) return items;
    if (!v.is_dict()) fail("Can only get item pairs from a mapping.");
    for (const auto& [key, value] : v.as_dict().entries()) items.push_back(tuple({key, value}));
    in.count_iterations(items.size());
    return items;
  });
}

Value f_join(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder a("join", std::move(args), {"d", "attribute"});
  const std::string separator = a[0] ? a[0]->str() : "";
  const AttributeGetter getter(a[1], false);
  std::string out;
  bool first = true;
  for (Value& item : items_of(in, v)) {
    if (!first) out += separator;
    first = false;
    const Value element = a[1] ? getter(in, std::move(item)) : std::move(item);
    out += element.is_string() ? element.as_string() : element.str();
    in.check_size(out.size());
  }
  return Value::string(std::move(out));
}

Value f_last(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder("last", std::move(args), {});
  if (v.is_sequence_kind(SequenceKind::Generator)) fail("'generator' object is not reversible");
  if (!v.is_undefined() && !v.is_list() && !v.is_dict() && !v.is_string()) {
    fail(fmt::format("'{}' object is not reversible", v.type_name()));
  }
  std::vector<Value> items = in.iterate(v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value f_length(Interpreter&, Value v, Arguments args) {
  ArgumentBinder("length", std::move(args), {});
  return Value::integer(static_cast<int64_t>(python_len(v)));
}

Value f_list(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder("list", std::move(args), {});
  return Value::list(items_of(in, v));
}

Value f_lower(Interpreter&, Value v, Arguments args) {
  ArgumentBinder("lower", std::move(args), {});
  const Value s = soft_str(v);
  return Value::string(text::lower(s.as_string()), s.is_markup());
}

Value f_map(Interpreter& in, Value v, Arguments args) {
  return lazy_generator("sync_do_map", [&in, v, args = std::move(args)] {
    std::vector<Value> out;
    if (!v.truthy()) return out;
    const auto attribute =
        std::find_if(args.keyword.begin(), args.keyword.end(), [](const auto& kv) { return kv.first == "attribute"; });
    if (args.positional.empty() && attribute != args.keyword.end()) {
      std::optional<Value> default_value;
      std::optional<Value> attribute_value;
      for (const auto& [name, value] : args.keyword) {
        if (name == "attribute") attribute_value = value;
        else if (name == "default") default_value = value;
        else fail(fmt::format("Unexpected keyword argument {}", text::repr(name)));
      }
      const AttributeGetter getter(attribute_value, false, default_value);
      for (Value& item : items_of(in, v)) out.push_back(getter(in, std::move(item)));
      return out;
    }
    if (args.positional.empty()) fail("map requires a filter argument");
    Arguments rest;
    rest.positional.assign(args.positional.begin() + 1, args.positional.end());
    rest.keyword = args.keyword;
    std::vector<Value> items = items_of(in, v);
    if (items.empty()) return out;
    const std::string filter_name = callable_name(args.positional.front(), "filter");
    for (Value& item : items) out.push_back(in.apply_filter(filter_name, std::move(item), rest));
    return out;
  });
}

Value min_or_max(Interpreter& in, Value v, Arguments args, bool want_max, std::string_view name) {
  ArgumentBinder a(name, std::move(args), {"case_sensitive", "attribute"});
  std::vector<Value> items = items_of(in, v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  const AttributeGetter key(a[1], !as_flag(a[0]));
  size_t best = 0;
  Value best_key = key(in, items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = key(in, items[i]);
    // Python's max() asks item > best and min() item < best.
    if (compare(want_max ? CompareOp::Gt : CompareOp::Lt, k, best_key)) {
      best = i;
      best_key = std::move(k);
    }
  }
  return items[best];
}

Value f_max(Interpreter& in, Value v, Arguments args) { return min_or_max(in, std::move(v), std::move(args), true, "max"); }
Value f_min(Interpreter& in, Value v, Arguments args) { return min_or_max(in, std::move(v), std::move(args), false, "min"); }

Value f_random(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder("random", std::move(args), {});
  std::vector<Value> items = in.iterate(v);
  if (items.empty()) return Value::undefined("No random item, sequence was empty.");
  thread_local std::mt19937_64 generator_engine{std::random_device{}()};
  return items[std::uniform_int_distribution<size_t>(0, items.size() - 1)(generator_engine)];
}

Value select_or_reject(Interpreter& in, Value v, Arguments args, bool select, bool by_attribute) {
  return lazy_generator("select_or_reject", [&in, v, args = std::move(args), select, by_attribute] {
    std::vector<Value> out;
    if (!v.truthy()) return out;
    size_t offset = 0;
    std::optional<AttributeGetter> getter;
    if (by_attribute) {
      if (args.positional.empty()) fail("Missing parameter for attribute name");
      getter.emplace(args.positional.front(), false);
      offset = 1;
    }
    std::optional<Value> test_name;
    Arguments test_args;
    if (args.positional.size() > offset) {
      test_name = args.positional[offset];
      test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(offset) + 1, args.positional.end());
      test_args.keyword = args.keyword;
    }
    for (Value& item : items_of(in, v)) {
      const Value subject = getter ? (*getter)(in, item) : item;
      const bool passed = test_name ? in.apply_test(callable_name(*test_name, "test"), subject, test_args) : subject.truthy();
      if (passed == select) out.push_back(std::move(item));
    }
    return out;
  });
}

Value f_select(Interpreter& in, Value v, Arguments args) { return select_or_reject(in, std::move(v), std::move(args), true, false); }
Value f_reject(Interpreter& in, Value v, Arguments args) { return select_or_reject(in, std::move(v), std::move(args), false, false); }
Value f_selectattr(Interpreter& in, Value v, Arguments args) { return select_or_reject(in, std::move(v), std::move(args), true, true); }
Value f_rejectattr(Interpreter& in, Value v, Arguments args) { return select_or_reject(in, std::move(v), std::move(args), false, true); }

Value f_replace(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder a("replace", std::move(args), {"old", "new", "count"}, 2);
  const int64_t count = a[2] && !a[2]->is_none() ? to_int_argument(*a[2]) : -1;
  const std::string s = v.str();
  const std::string old_text = a[0]->str();
  const std::string new_text = a[1]->str();
  if (!old_text.empty() || !new_text.empty()) {
    const size_t occurrences = old_text.empty() ? text::codepoint_count(s) + 1 : text::count(s, old_text);
    const size_t replaced = count < 0 ? occurrences : std::min<size_t>(occurrences, static_cast<size_t>(count));
    if (new_text.size() > old_text.size()) in.check_size(s.size() + replaced * (new_text.size() - old_text.size()));
  }
  return Value::string(text::replace(s, old_text, new_text, count));
}

Value f_reverse(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder("reverse", std::move(args), {});
  if (v.is_string()) {
    std::u32string chars = text::to_u32(v.as_string());
    std::reverse(chars.begin(), chars.end());
    return Value::string(text::to_utf8(chars), v.is_markup());
  }
  if (!v.is_undefined() && !v.is_list() && !v.is_dict()) fail("argument must be iterable");
  // reversed() where Python has it; a generator is not reversible, so it becomes a reversed list.
  const bool reversible = !v.is_sequence_kind(SequenceKind::Generator);
  std::vector<Value> items = items_of(in, v);
  std::reverse(items.begin(), items.end());
  if (!reversible) return Value::list(std::move(items));
  Value reversed = generator(std::move(items));
  const char* type = "reversed";
  if (v.is_dict() || v.is_sequence_kind(SequenceKind::DictKeys)) type = "dict_reversekeyiterator";
  else if (v.is_sequence_kind(SequenceKind::DictValues)) type = "dict_reversevalueiterator";
  else if (v.is_sequence_kind(SequenceKind::DictItems)) type = "dict_reverseitemiterator";
  else if (v.is_sequence_kind(SequenceKind::List)) type = "list_reverseiterator";
  reversed.as_list().iterator_type = type;
  return reversed;
}

Value f_round(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder a("round", std::move(args), {"precision", "method"});
  const int64_t precision = a[0] ? to_int_argument(*a[0]) : 0;
  const std::string method = a[1] ? a[1]->str() : "common";
  if (method != "common" && method != "ceil" && method != "floor") fail("method must be common, ceil or floor");
  if (method == "common") {
    if (!v.is_number()) fail(fmt::format("type {} doesn't define __round__ method", v.type_name()));
    if (!v.is_float()) {
      const int64_t n = v.as_integer();
      if (precision >= 0) return Value::integer(n);
      if (precision < -18) return Value::integer(0);
      int64_t scale = 1;
      for (int64_t i = 0; i < -precision; ++i) scale *= 10;
      const int64_t quotient = n / scale;
      const int64_t remainder = n % scale;
      int64_t rounded = quotient;
      const int64_t twice = 2 * std::abs(remainder);
      if (twice > scale || (twice == scale && (quotient % 2 != 0))) rounded += n < 0 ? -1 : 1;
      return Value::integer(rounded * scale);
    }
    return Value::floating(python_round(v.as_float(), precision));
  }
  // jinja2 computes math.floor/ceil(value * 10 ** precision) / 10 ** precision.
  const double scale = std::pow(10.0, static_cast<double>(precision));
  if (!v.is_number()) {
    const Value scaled = arithmetic(BinaryOp::Mul, v, precision >= 0 ? Value::integer(static_cast<int64_t>(scale)) : Value::floating(scale), in);
    fail(fmt::format("must be real number, not {}", scaled.type_name()));
  }
  const double scaled = v.as_double() * scale;
  if (std::isinf(scaled)) fail("cannot convert float infinity to integer");
  if (std::isnan(scaled)) fail("cannot convert float NaN to integer");
  // math.floor/ceil return integers, so a negative zero comes back as 0.0.
  const double whole = (method == "ceil" ? std::ceil(scaled) : std::floor(scaled)) + 0.0;
  return Value::floating(whole / scale);
}

Value f_safe(Interpreter&, Value v, Arguments args) {
  ArgumentBinder("safe", std::move(args), {});
  return Value::string(v.str(), true);
}

Value f_slice(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder a("slice", std::move(args), {"slices", "fill_with"}, 1);
  return lazy_generator("sync_do_slice", [&in, v, a = std::move(a)] {
    const int64_t slices = to_int_argument(*a[0]);
    std::vector<Value> seq = items_of(in, v);
    if (slices == 0) fail("integer division or modulo by zero");
    if (slices < 0 || static_cast<uint64_t>(slices) > in.limits().max_loop_iterations) {
      fail("slice count exceeds the template's limits");
    }
    const auto length = static_cast<int64_t>(seq.size());
    const int64_t per_slice = length / slices;
    const int64_t with_extra = length % slices;
    int64_t offset = 0;
    std::vector<Value> out;
    for (int64_t n = 0; n < slices; ++n) {
      const int64_t start = offset + n * per_slice;
      if (n < with_extra) ++offset;
      const int64_t end = offset + (n + 1) * per_slice;
      std::vector<Value> part(seq.begin() + start, seq.begin() + end);
      if (a[1] && !a[1]->is_none() && n >= with_extra) part.push_back(*a[1]);
      out.push_back(Value::list(std::move(part)));
    }
    return out;
  });
}

Value f_sort(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder a("sort", std::move(args), {"reverse", "case_sensitive", "attribute"});
  std::vector<Value> items = items_of(in, v);
  std::vector<AttributeGetter> getters;
  const bool lowercase = !as_flag(a[1]);
  if (a[2] && a[2]->is_string()) {
    for (const std::string& part : text::split(a[2]->as_string(), std::string_view(","), -1)) {
      getters.emplace_back(Value::string(part), lowercase);
    }
  } else {
    getters.emplace_back(a[2], lowercase);
  }
  std::vector<Value> keys;
  keys.reserve(items.size());
  for (const Value& item : items) {
    std::vector<Value> parts;
    for (const auto& getter : getters) parts.push_back(getter(in, item));
    keys.push_back(Value::list(std::move(parts)));
  }
  return Value::list(sorted_by(std::move(items), keys, as_flag(a[0])));
}

Value f_string(Interpreter&, Value v, Arguments args) {
  ArgumentBinder("string", std::move(args), {});
  return soft_str(v);
}

Value f_striptags(Interpreter&, Value v, Arguments args) {
  ArgumentBinder("striptags", std::move(args), {});
  std::string s = v.str();
  std::string without;
  for (size_t pos = 0; pos < s.size();) {
    if (s.compare(pos, 4, "<!--") == 0) {
      const size_t end = s.find("-->", pos + 4);
      if (end != std::string::npos) {
        pos = end + 3;
        continue;
      }
    }
    without += s[pos++];
  }
  std::string stripped;
  for (size_t pos = 0; pos < without.size();) {
    if (without[pos] == '<') {
      const size_t end = without.find('>', pos + 1);
      if (end != std::string::npos) {
        pos = end + 1;
        continue;
      }
    }
    stripped += without[pos++];
  }
  std::string joined;
  for (const std::string& word : text::split(stripped, std::nullopt, -1)) {
    if (!joined.empty()) joined += ' ';
    joined += word;
  }
  return Value::string(html_unescape(joined));
}

Value f_sum(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder a("sum", std::move(args), {"attribute", "start"});
  const AttributeGetter getter(a[0], false);
  Value total = a.get_or(1, Value::integer(0));
  if (total.is_string()) fail("sum() can't sum strings [use ''.join(seq) instead]");
  for (Value& item : items_of(in, v)) {
    total = arithmetic(BinaryOp::Add, total, a[0] ? getter(in, std::move(item)) : std::move(item), in);
  }
  return total;
}

std::vector<std::string> split_word_beginnings(std::string_view s) {
  // re.split(r"([-\s({\[<]+)", s): alternating words and separator runs.
  std::vector<std::string> parts;
  std::string current;
  bool in_separator = false;
  for (size_t pos = 0; pos < s.size();) {
    const size_t start = pos;
    const char32_t cp = text::decode_next(s, pos);
    const bool separator = cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || text::is_space(cp);
    if (separator != in_separator) {
      parts.push_back(std::move(current));
      current.clear();
      in_separator = separator;
    }
    current.append(s.substr(start, pos - start));
  }
  parts.push_back(std::move(current));
  return parts;
}

Value f_title(Interpreter&, Value v, Arguments args) {
  ArgumentBinder("title", std::move(args), {});
  std::string out;
  for (const std::string& item : split_word_beginnings(soft_str(v).as_string())) {
    if (item.empty()) continue;
    size_t first_end = 0;
    text::decode_next(item, first_end);
    out += text::upper(std::string_view(item).substr(0, first_end));
    out += text::lower(std::string_view(item).substr(first_end));
  }
  return Value::string(std::move(out));
}

Value f_tojson(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder a("tojson", std::move(args), {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions options;
  options.ensure_ascii = as_flag(a[0]);
  options.sort_keys = as_flag(a[3]);
  if (a[1] && !a[1]->is_none()) {
    if (a[1]->is_string()) {
      options.indent = a[1]->as_string();
    } else {
      const int64_t width = to_int_argument(*a[1]);
      in.check_size(static_cast<size_t>(std::max<int64_t>(width, 0)));
      options.indent = std::string(static_cast<size_t>(std::max<int64_t>(width, 0)), ' ');
    }
    options.item_separator = ",";
  }
  if (a[2] && !a[2]->is_none()) {
    const std::vector<Value> separators = in.iterate(*a[2]);
    if (separators.size() != 2) fail(fmt::format("separators must be a pair of strings, got {} items", separators.size()));
    options.item_separator = to_string_argument(separators[0], "item separator");
    options.key_separator = to_string_argument(separators[1], "key separator");
  }
  std::string json_text = to_json(v, options);
  in.check_size(json_text.size());
  return Value::string(std::move(json_text));
}

Value f_trim(Interpreter&, Value v, Arguments args) {
  ArgumentBinder a("trim", std::move(args), {"chars"});
  std::optional<std::string_view> chars;
  if (a[0] && !a[0]->is_none()) {
    if (!a[0]->is_string()) fail("strip arg must be None or str");
    chars = a[0]->as_string();
  }
  const Value s = soft_str(v);
  return Value::string(std::string(text::strip(s.as_string(), chars)), s.is_markup());
}

Value f_truncate(Interpreter&, Value v, Arguments args) {
  ArgumentBinder a("truncate", std::move(args), {"length", "killwords", "end", "leeway"});
  const int64_t length = a[0] ? to_int_argument(*a[0]) : 255;
  const std::string end = a[2] ? a[2]->str() : "...";
  const int64_t leeway = a[3] && !a[3]->is_none() ? to_int_argument(*a[3]) : 5;
  const auto end_length = static_cast<int64_t>(text::codepoint_count(end));
  if (length < end_length) fail(fmt::format("expected length >= {}, got {}", end_length, length));
  if (leeway < 0) fail(fmt::format("expected leeway >= 0, got {}", leeway));
  // Short enough: jinja2 hands back the value itself, whatever it is.
  if (static_cast<int64_t>(python_len(v)) <= length + leeway) return v;
  if (!v.is_string()) {
    if (v.is_dict()) fail("unhashable type: 'slice'");
    if (as_flag(a[1])) fail(fmt::format("can only concatenate {} (not \"str\") to {}", v.type_name(), v.type_name()));
    fail(fmt::format("'{}' object has no attribute 'rsplit'", v.type_name()));
  }
  const std::string& s = v.as_string();
  const std::string head = s.substr(0, text::byte_offset_of(s, static_cast<size_t>(length - end_length)));
  if (as_flag(a[1])) return Value::string(head + end);
  return Value::string(text::rsplit(head, std::string_view(" "), 1).front() + end);
}

Value f_unique(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder a("unique", std::move(args), {"case_sensitive", "attribute"});
  return lazy_generator("do_unique", [&in, v, a = std::move(a)] {
    const AttributeGetter getter(a[1], !as_flag(a[0]));
    std::unordered_multimap<size_t, Value> seen;
    std::vector<Value> out;
    for (Value& item : items_of(in, v)) {
      Value key = getter(in, item);
      const size_t hash = hash_value(key);
      const auto range = seen.equal_range(hash);
      if (std::any_of(range.first, range.second, [&](const auto& entry) { return equals(entry.second, key); })) continue;
      seen.emplace(hash, std::move(key));
      out.push_back(std::move(item));
    }
    return out;
  });
}

Value f_upper(Interpreter&, Value v, Arguments args) {
  ArgumentBinder("upper", std::move(args), {});
  const Value s = soft_str(v);
  return Value::string(text::upper(s.as_string()), s.is_markup());
}

Value f_urlencode(Interpreter& in, Value v, Arguments args) {
  ArgumentBinder("urlencode", std::move(args), {});
  if (v.is_string() || !(v.is_list() || v.is_dict() || v.is_undefined())) return Value::string(url_quote(v.str(), false));
  std::string out;
  const auto add = [&](const Value& key, const Value& value) {
    if (!out.empty()) out += '&';
    out += url_quote(key.str(), true) + "=" + url_quote(value.str(), true);
  };
  if (v.is_dict()) {
    for (const auto& [key, value] : v.as_dict().entries()) add(key, value);
  } else {
    for (const Value& pair : in.iterate(v)) {
      if (!pair.is_list() && !pair.is_dict() && !pair.is_string() && !pair.is_undefined()) {
        fail(fmt::format("cannot unpack non-iterable {} object", pair.type_name()));
      }
      const std::vector<Value> kv = in.iterate(pair);
      if (kv.size() < 2) fail(fmt::format("not enough values to unpack (expected 2, got {})", kv.size()));
      if (kv.size() > 2) fail("too many values to unpack (expected 2)");
      add(kv[0], kv[1]);
    }
  }
  return Value::string(std::move(out));
}

Value f_wordcount(Interpreter&, Value v, Arguments args) {
  ArgumentBinder("wordcount", std::move(args), {});
  const std::string s = v.str();
  int64_t words = 0;
  bool in_word = false;
  for (size_t pos = 0; pos < s.size();) {
    const bool word_char = text::is_alnum_or_underscore(text::decode_next(s, pos));
    if (word_char && !in_word) ++words;
    in_word = word_char;
  }
  return Value::integer(words);
}

Value f_xmlattr(Interpreter&, Value v, Arguments args) {
  ArgumentBinder a("xmlattr", std::move(args), {"autospace"});
  if (v.is_undefined()) v.fail_undefined();
  if (!v.is_dict()) fail(fmt::format("'{}' object has no attribute 'items'", v.type_name()));
  std::string out;
  for (const auto& [key, value] : v.as_dict().entries()) {
    if (value.is_none() || value.is_undefined()) continue;
    const std::string name = key.str();
    if (name.find_first_of(" \t\n\r\f\v/>=") != std::string::npos) {
      fail(fmt::format("Invalid character in attribute name: {}", key.repr()));
    }
    if (!out.empty()) out += ' ';
    out += text::html_escape(name) + "=\"" + (value.is_markup() ? value.as_string() : text::html_escape(value.str())) + "\"";
  }
  if (!a[0] || a[0]->truthy()) {
    if (!out.empty()) out = " " + out;
  }
  return Value::string(std::move(out));
}

struct NamedFilter {
  std::string_view name;
  FilterFunction function;
};

constexpr NamedFilter kFilters[] = {
    {"abs", f_abs},
    {"attr", f_attr},
    {"batch", f_batch},
    {"capitalize", f_capitalize},
    {"center", f_center},
    {"count", f_length},
    {"d", f_default},
    {"default", f_default},
    {"dictsort", f_dictsort},
    {"e", f_escape},
    {"escape", f_escape},
    {"filesizeformat", f_filesizeformat},
    {"first", f_first},
    {"float", f_float},
    {"forceescape", f_forceescape},
    {"format", f_format},
    {"groupby", f_groupby},
    {"indent", f_indent},
    {"int", f_int},
    {"items", f_items},
    {"join", f_join},
    {"last", f_last},
    {"length", f_length},
    {"list", f_list},
    {"lower", f_lower},
    {"map", f_map},
    {"max", f_max},
    {"min", f_min},
    {"random", f_random},
    {"reject", f_reject},
    {"rejectattr", f_rejectattr},
    {"replace", f_replace},
    {"reverse", f_reverse},
    {"round", f_round},
    {"safe", f_safe},
    {"select", f_select},
    {"selectattr", f_selectattr},
    {"slice", f_slice},
    {"sort", f_sort},
    {"string", f_string},
    {"striptags", f_striptags},
    {"sum", f_sum},
    {"title", f_title},
    {"tojson", f_tojson},
    {"trim", f_trim},
    {"truncate", f_truncate},
    {"unique", f_unique},
    {"upper", f_upper},
    {"urlencode", f_urlencode},
    {"wordcount", f_wordcount},
    {"xmlattr", f_xmlattr},
};

}  // namespace

bool filter_uses_context(std::string_view name) {
  return name == "map" || name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr" ||
         name == "random";
}

FilterFunction find_filter(std::string_view name) {
  for (const auto& filter : kFilters) {
    if (filter.name == name) return filter.function;
  }
  return nullptr;
}

}  // namespace hearth::chat::jinja
