#include "chat/jinja_value.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>

#include "chat/jinja_text.h"

namespace hearth::chat {

TemplateError::TemplateError(std::string message, int line)
    : std::runtime_error(line > 0 ? fmt::format("chat template line {}: {}", line, message)
                                  : fmt::format("chat template: {}", message)),
      message_(std::move(message)),
      line_(line) {}

}  // namespace hearth::chat

namespace hearth::chat::jinja {

void fail(std::string message) { throw TemplateError(std::move(message), 0); }

namespace {

bool is_container(const Value& v) { return v.is_list() || v.is_dict() || v.is_object(); }

// Values whose destruction was deferred by release_values() while an outer release is draining.
thread_local std::vector<Value>* t_graveyard = nullptr;

}  // namespace

void release_values(std::vector<Value>& values) {
  if (t_graveyard != nullptr) {
    for (Value& v : values) {
      if (is_container(v)) t_graveyard->push_back(std::move(v));
    }
    values.clear();
    return;
  }
  std::vector<Value> graveyard;
  t_graveyard = &graveyard;
  for (Value& v : values) {
    if (is_container(v)) graveyard.push_back(std::move(v));
  }
  values.clear();
  while (!graveyard.empty()) {
    Value last = std::move(graveyard.back());
    graveyard.pop_back();
    // `last` dies here; its own containers land in the graveyard instead of recursing.
  }
  t_graveyard = nullptr;
}

ListData::~ListData() { release_values(items); }

Dict::~Dict() { clear(); }

Value::Value() {
  static const auto kMessage = std::make_shared<const std::string>("value is undefined");
  data_ = Undef{kMessage};
}

Value Value::undefined(std::string error_message) {
  return Value(Storage(std::in_place_index<0>, Undef{std::make_shared<const std::string>(std::move(error_message))}));
}

Value Value::string(std::string s, bool markup) {
  return Value(Storage(std::in_place_index<5>, Str{std::make_shared<const std::string>(std::move(s)), markup}));
}

Value Value::string(std::shared_ptr<const std::string> s, bool markup) {
  return Value(Storage(std::in_place_index<5>, Str{std::move(s), markup}));
}

Value Value::list(std::vector<Value> items, SequenceKind kind) {
  auto data = std::make_shared<ListData>();
  data->items = std::move(items);
  data->kind = kind;
  return Value(Storage(std::in_place_index<6>, std::move(data)));
}

Value Value::list(std::shared_ptr<ListData> data) { return Value(Storage(std::in_place_index<6>, std::move(data))); }

void ListData::materialize() {
  if (!pending) return;
  // Moved out first: the body may fail, and must not run twice.
  const auto body = std::move(pending);
  pending = nullptr;
  items = body();
}

Value Value::dict(std::shared_ptr<Dict> d) { return Value(Storage(std::in_place_index<7>, std::move(d))); }
Value Value::dict() { return dict(std::make_shared<Dict>()); }
Value Value::object(std::shared_ptr<Object> o) { return Value(Storage(std::in_place_index<8>, std::move(o))); }

bool Value::truthy() const {
  switch (type()) {
    case Type::Undefined:
    case Type::None:
      return false;
    case Type::Bool:
      return as_bool();
    case Type::Int:
      return as_int() != 0;
    case Type::Float:
      return as_float() != 0.0;
    case Type::String:
      return !as_string().empty();
    case Type::List:
      return as_list().kind == SequenceKind::Generator || !as_list().items.empty();
    case Type::Dict:
      return !as_dict().empty();
    case Type::Object:
      return true;
  }
  return false;
}

std::string format_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, d, std::chars_format::scientific);
  const std::string_view sci(buffer, static_cast<size_t>(result.ptr - buffer));
  // sci looks like "-1.2345e+20": split into sign, digits and decimal exponent.
  const bool negative = sci.front() == '-';
  const size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(negative ? 1 : 0, e_pos - (negative ? 1 : 0))) {
    if (c != '.') digits += c;
  }
  int exponent = 0;
  std::from_chars(sci.data() + e_pos + (sci[e_pos + 1] == '+' ? 2 : 1), sci.data() + sci.size(), exponent);
  const int point = exponent + 1;  // digits are 0.DIGITS x 10^point
  std::string out = negative ? "-" : "";
  if (point <= -4 || point > 16) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
  } else if (point <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-point), '0');
    out += digits;
  } else if (static_cast<size_t>(point) >= digits.size()) {
    out += digits;
    out.append(static_cast<size_t>(point) - digits.size(), '0');
    out += ".0";
  } else {
    out.append(digits, 0, static_cast<size_t>(point));
    out += '.';
    out.append(digits, static_cast<size_t>(point));
  }
  return out;
}

namespace {

// Containers being printed, so that a list holding itself prints as [...] the way Python does.
using ReprStack = std::vector<const void*>;

void append_repr(std::string& out, const Value& v, ReprStack& stack);

void append_items(std::string& out, const std::vector<Value>& items, ReprStack& stack) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    append_repr(out, items[i], stack);
  }
}

void append_repr(std::string& out, const Value& v, ReprStack& stack) {
  if (stack.size() > kMaxValueDepth) fail("maximum recursion depth exceeded while getting the repr of an object");
  switch (v.type()) {
    case Value::Type::List: {
      const ListData& list = v.as_list();
      const bool seen = std::find(stack.begin(), stack.end(), &list) != stack.end();
      switch (list.kind) {
        case SequenceKind::List:
          if (seen) {
            out += "[...]";
            return;
          }
          stack.push_back(&list);
          out += '[';
          append_items(out, list.items, stack);
          out += ']';
          break;
        case SequenceKind::Tuple:
          stack.push_back(&list);
          out += '(';
          append_items(out, list.items, stack);
          if (list.items.size() == 1) out += ',';
          out += ')';
          break;
        case SequenceKind::Generator:
          // Like Python's, with this object's address.
          if (list.iterator_type != nullptr) {
            out += fmt::format("<{} object at {}>", list.iterator_type, static_cast<const void*>(&list));
          } else {
            out += fmt::format("<generator object {} at {}>",
                               list.generator_function != nullptr ? list.generator_function : "<genexpr>",
                               static_cast<const void*>(&list));
          }
          return;
        case SequenceKind::DictKeys:
        case SequenceKind::DictValues:
        case SequenceKind::DictItems:
          stack.push_back(&list);
          out += v.type_name();
          out += "([";
          append_items(out, list.items, stack);
          out += "])";
          break;
      }
      stack.pop_back();
      return;
    }
    case Value::Type::Dict: {
      const Dict& dict = v.as_dict();
      if (std::find(stack.begin(), stack.end(), &dict) != stack.end()) {
        out += "{...}";
        return;
      }
      stack.push_back(&dict);
      out += '{';
      bool first = true;
      for (const auto& [key, value] : dict.entries()) {
        if (!first) out += ", ";
        first = false;
        append_repr(out, key, stack);
        out += ": ";
        append_repr(out, value, stack);
      }
      out += '}';
      stack.pop_back();
      return;
    }
    case Value::Type::String:
      if (v.is_markup()) {
        out += "Markup(" + text::repr(v.as_string()) + ")";
      } else {
        out += text::repr(v.as_string());
      }
      return;
    case Value::Type::Undefined:
      out += "Undefined";
      return;
    case Value::Type::Object:
      if (const auto* ns = dynamic_cast<const Namespace*>(&v.as_object())) {
        // Namespace prints its attribute dict, which Python guards against recursion like any dict.
        const Dict& attributes = const_cast<Namespace*>(ns)->attributes();
        if (std::find(stack.begin(), stack.end(), &attributes) != stack.end()) {
          out += "<Namespace {...}>";
          return;
        }
        stack.push_back(&attributes);
        out += "<Namespace {";
        bool first = true;
        for (const auto& [key, value] : attributes.entries()) {
          if (!first) out += ", ";
          first = false;
          append_repr(out, key, stack);
          out += ": ";
          append_repr(out, value, stack);
        }
        out += "}>";
        stack.pop_back();
        return;
      }
      out += v.as_object().repr();
      return;
    default:
      out += v.str();
  }
}

constexpr size_t kIndexThreshold = 8;

}  // namespace

std::string Value::str() const {
  switch (type()) {
    case Type::Undefined:
      return {};
    case Type::None:
      return "None";
    case Type::Bool:
      return as_bool() ? "True" : "False";
    case Type::Int:
      return std::to_string(as_int());
    case Type::Float:
      return format_float(as_float());
    case Type::String:
      return as_string();
    case Type::Object:
      return as_object().repr();
    default:
      return repr();
  }
}

std::string Value::repr() const {
  std::string out;
  ReprStack stack;
  append_repr(out, *this, stack);
  return out;
}

std::string_view Value::type_name() const {
  switch (type()) {
    case Type::Undefined: return "Undefined";
    case Type::None: return "NoneType";
    case Type::Bool: return "bool";
    case Type::Int: return "int";
    case Type::Float: return "float";
    case Type::String: return is_markup() ? "Markup" : "str";
    case Type::Dict: return "dict";
    case Type::Object: return as_object().type_name();
    case Type::List:
      switch (as_list().kind) {
        case SequenceKind::List: return "list";
        case SequenceKind::Tuple: return "tuple";
        case SequenceKind::Generator: return as_list().iterator_type != nullptr ? as_list().iterator_type : "generator";
        case SequenceKind::DictKeys: return "dict_keys";
        case SequenceKind::DictValues: return "dict_values";
        case SequenceKind::DictItems: return "dict_items";
      }
  }
  return "object";
}

std::string Value::object_type_repr() const {
  switch (type()) {
    case Type::None: return "None";
    case Type::Undefined: return "jinja2.runtime.Undefined object";
    case Type::String: return is_markup() ? "markupsafe.Markup object" : "str object";
    case Type::Object: return as_object().qualified_type_name() + " object";
    default: return std::string(type_name()) + " object";
  }
}

bool Value::callable() const { return is_object() && as_object().callable(); }

namespace {

bool equals_at_depth(const Value& a, const Value& b, size_t depth);

}  // namespace

bool equals(const Value& a, const Value& b) { return equals_at_depth(a, b, 0); }

namespace {

bool equals_at_depth(const Value& a, const Value& b, size_t depth) {
  using Type = Value::Type;
  if (depth > kMaxValueDepth) fail("maximum recursion depth exceeded in comparison");
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_integer() == b.as_integer();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Type::Undefined:
    case Type::None:
      return true;
    case Type::String:
      return a.as_string() == b.as_string();
    case Type::List: {
      const ListData& x = a.as_list();
      const ListData& y = b.as_list();
      if (&x == &y) return true;
      if (x.kind != y.kind || x.kind == SequenceKind::Generator || x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i) {
        if (!equals_at_depth(x.items[i], y.items[i], depth + 1)) return false;
      }
      return true;
    }
    case Type::Dict: {
      const Dict& x = a.as_dict();
      const Dict& y = b.as_dict();
      if (&x == &y) return true;
      if (x.size() != y.size()) return false;
      for (const auto& [key, value] : x.entries()) {
        const Value* other = y.find(key);
        if (other == nullptr || !equals_at_depth(value, *other, depth + 1)) return false;
      }
      return true;
    }
    case Type::Object:
      return a.object_ptr() == b.object_ptr();
    default:
      return false;
  }
}

}  // namespace

namespace {

template <typename T>
bool apply_order(Ordering order, const T& x, const T& y) {
  switch (order) {
    case Ordering::Less: return x < y;
    case Ordering::LessEqual: return x <= y;
    case Ordering::Greater: return x > y;
    case Ordering::GreaterEqual: return x >= y;
  }
  return false;
}

std::string_view order_symbol(Ordering order) {
  switch (order) {
    case Ordering::Less: return "<";
    case Ordering::LessEqual: return "<=";
    case Ordering::Greater: return ">";
    case Ordering::GreaterEqual: return ">=";
  }
  return "?";
}

bool compare_order_at_depth(Ordering order, const Value& a, const Value& b, size_t depth) {
  if (depth > kMaxValueDepth) fail("maximum recursion depth exceeded in comparison");
  if (a.is_undefined()) a.fail_undefined();
  if (b.is_undefined()) b.fail_undefined();
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return apply_order(order, a.as_double(), b.as_double());
    return apply_order(order, a.as_integer(), b.as_integer());
  }
  if (a.is_string() && b.is_string()) return apply_order(order, a.as_string(), b.as_string());  // code point order
  if (a.is_list() && b.is_list() && a.as_list().kind == b.as_list().kind &&
      (a.as_list().kind == SequenceKind::List || a.as_list().kind == SequenceKind::Tuple)) {
    // Python compares the first differing items with the same operator, else the lengths.
    const auto& x = a.as_list().items;
    const auto& y = b.as_list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals_at_depth(x[i], y[i], depth + 1)) return compare_order_at_depth(order, x[i], y[i], depth + 1);
    }
    return apply_order(order, x.size(), y.size());
  }
  fail(fmt::format("'{}' not supported between instances of '{}' and '{}'", order_symbol(order), a.type_name(),
                   b.type_name()));
}

}  // namespace

bool compare_order(Ordering order, const Value& a, const Value& b) { return compare_order_at_depth(order, a, b, 0); }
bool less_than(const Value& a, const Value& b) { return compare_order(Ordering::Less, a, b); }

size_t hash_value(const Value& v) {
  using Type = Value::Type;
  switch (v.type()) {
    case Type::Undefined: return 0x5a17;
    case Type::None: return 0x6e6f6e65;
    case Type::Bool:
    case Type::Int:
      return std::hash<int64_t>{}(v.as_integer());
    case Type::Float: {
      const double d = v.as_float();
      if (d == std::floor(d) && std::abs(d) < 9.2e18) return std::hash<int64_t>{}(static_cast<int64_t>(d));
      return std::hash<double>{}(d);
    }
    case Type::String:
      return std::hash<std::string_view>{}(v.as_string());
    case Type::List:
      if (v.as_list().kind == SequenceKind::Generator) return std::hash<const void*>{}(&v.as_list());
      if (v.as_list().kind == SequenceKind::Tuple) {
        size_t h = 0x345678;
        for (const Value& item : v.as_list().items) h = h * 1000003 ^ hash_value(item);
        return h;
      }
      break;
    case Type::Object:
      return std::hash<const void*>{}(v.object_ptr().get());
    case Type::Dict:
      break;
  }
  fail(fmt::format("unhashable type: '{}'", v.type_name()));
}

std::optional<size_t> Dict::index_of(const Value& key) const {
  if (key.is_string()) return index_of(std::string_view(key.as_string()));
  if (!buckets_.empty()) {
    for (size_t i : buckets_[hash_value(key) & (buckets_.size() - 1)]) {
      if (equals(entries_[i].first, key)) return i;
    }
    return std::nullopt;
  }
  hash_value(key);  // rejects unhashable keys the way Python does
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (equals(entries_[i].first, key)) return i;
  }
  return std::nullopt;
}

std::optional<size_t> Dict::index_of(std::string_view key) const {
  if (!buckets_.empty()) {
    for (size_t i : buckets_[std::hash<std::string_view>{}(key) & (buckets_.size() - 1)]) {
      if (entries_[i].first.is_string() && entries_[i].first.as_string() == key) return i;
    }
    return std::nullopt;
  }
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].first.is_string() && entries_[i].first.as_string() == key) return i;
  }
  return std::nullopt;
}

const Value* Dict::find(const Value& key) const {
  const auto index = index_of(key);
  return index ? &entries_[*index].second : nullptr;
}

const Value* Dict::find(std::string_view key) const {
  const auto index = index_of(key);
  return index ? &entries_[*index].second : nullptr;
}

void Dict::rebuild_index() const {
  buckets_.clear();
  if (entries_.size() <= kIndexThreshold) return;
  size_t bucket_count = 16;
  while (bucket_count < entries_.size() * 2) bucket_count *= 2;
  buckets_.resize(bucket_count);
  for (size_t i = 0; i < entries_.size(); ++i) {
    buckets_[hash_value(entries_[i].first) & (bucket_count - 1)].push_back(i);
  }
}

void Dict::set(Value key, Value value) {
  if (const auto index = index_of(key)) {
    entries_[*index].second = std::move(value);
    return;
  }
  entries_.emplace_back(std::move(key), std::move(value));
  if (entries_.size() > kIndexThreshold && entries_.size() * 2 > buckets_.size()) {
    rebuild_index();
  } else if (!buckets_.empty()) {
    buckets_[hash_value(entries_.back().first) & (buckets_.size() - 1)].push_back(entries_.size() - 1);
  }
}

bool Dict::erase(const Value& key) {
  const auto index = index_of(key);
  if (!index) return false;
  entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(*index));
  rebuild_index();
  return true;
}

void Dict::clear() {
  std::vector<Value> values;
  values.reserve(entries_.size() * 2);
  for (auto& [key, value] : entries_) {
    values.push_back(std::move(key));
    values.push_back(std::move(value));
  }
  entries_.clear();
  buckets_.clear();
  release_values(values);
}

std::optional<Value> Object::attribute(std::string_view) const { return std::nullopt; }
bool Object::set_attribute(std::string_view, Value) { return false; }
Value Object::call(Interpreter&, Arguments) { fail(fmt::format("'{}' object is not callable", type_name())); }

std::string Namespace::repr() const { return Value::object(std::const_pointer_cast<Object>(shared_from_this())).repr(); }

std::optional<Value> Namespace::attribute(std::string_view name) const {
  if (const Value* v = attributes_.find(name)) return *v;
  return std::nullopt;
}

bool Namespace::set_attribute(std::string_view name, Value value) {
  attributes_.set(name, std::move(value));
  return true;
}

}  // namespace hearth::chat::jinja
