// The Python methods templates call on values: str (strip, split, startswith, format, ...), list (append, pop,
// ...) and dict (items, get, update, ...). jinja2 hands templates real Python objects, so these are Python's.
#include <fmt/format.h>

#include <algorithm>

#include "chat/jinja_builtins.h"
#include "chat/jinja_format.h"
#include "chat/jinja_interpreter.h"
#include "chat/jinja_text.h"

namespace hearth::chat::jinja {
namespace {

// How CPython checks a method's arguments, which decides its error messages.
enum class Style : uint8_t {
  NoArguments,     // METH_NOARGS: "str.upper() takes no arguments (1 given)"
  OneArgument,     // METH_O: "list.append() takes exactly one argument (0 given)"
  Positional,      // "strip expected at most 1 argument, got 2"
  ParseTuple,      // "find() takes at least 1 argument (0 given)"
  KeywordsOnly,    // list.sort(*, key, reverse)
  Any,             // str.format
};

struct Signature {
  std::string_view name;
  Style style;
  uint8_t min = 0;
  uint8_t max = 0;
  bool keywords = false;  // accepts keyword arguments
};

constexpr Signature kStringSignatures[] = {
    {"capitalize", Style::NoArguments}, {"casefold", Style::NoArguments},   {"center", Style::Positional, 1, 2},
    {"count", Style::ParseTuple, 1, 3}, {"endswith", Style::ParseTuple, 1, 3}, {"find", Style::ParseTuple, 1, 3},
    {"format", Style::Any},             {"index", Style::ParseTuple, 1, 3},   {"isalnum", Style::NoArguments},
    {"isalpha", Style::NoArguments},    {"isascii", Style::NoArguments},      {"isdecimal", Style::NoArguments},
    {"isdigit", Style::NoArguments},    {"isidentifier", Style::NoArguments}, {"islower", Style::NoArguments},
    {"isnumeric", Style::NoArguments},  {"isspace", Style::NoArguments},      {"istitle", Style::NoArguments},
    {"isupper", Style::NoArguments},    {"join", Style::OneArgument},         {"ljust", Style::Positional, 1, 2},
    {"lower", Style::NoArguments},      {"lstrip", Style::Positional, 0, 1},  {"partition", Style::OneArgument},
    {"removeprefix", Style::OneArgument}, {"removesuffix", Style::OneArgument}, {"replace", Style::Positional, 2, 3},
    {"rfind", Style::ParseTuple, 1, 3}, {"rindex", Style::ParseTuple, 1, 3},  {"rjust", Style::Positional, 1, 2},
    {"rpartition", Style::OneArgument}, {"rsplit", Style::ParseTuple, 0, 2, true}, {"rstrip", Style::Positional, 0, 1},
    {"split", Style::ParseTuple, 0, 2, true}, {"splitlines", Style::ParseTuple, 0, 1, true},
    {"startswith", Style::ParseTuple, 1, 3}, {"strip", Style::Positional, 0, 1}, {"swapcase", Style::NoArguments},
    {"title", Style::NoArguments},      {"upper", Style::NoArguments},        {"zfill", Style::OneArgument},
};
constexpr Signature kListSignatures[] = {
    {"append", Style::OneArgument},     {"clear", Style::NoArguments},       {"copy", Style::NoArguments},
    {"count", Style::OneArgument},      {"extend", Style::OneArgument},      {"index", Style::Positional, 1, 3},
    {"insert", Style::Positional, 2, 2}, {"pop", Style::Positional, 0, 1},   {"remove", Style::OneArgument},
    {"reverse", Style::NoArguments},    {"sort", Style::KeywordsOnly, 0, 0, true},
};
constexpr Signature kTupleSignatures[] = {{"count", Style::OneArgument}, {"index", Style::Positional, 1, 3}};
constexpr Signature kDictSignatures[] = {
    {"clear", Style::NoArguments},       {"copy", Style::NoArguments},        {"get", Style::Positional, 1, 2},
    {"items", Style::NoArguments},       {"keys", Style::NoArguments},        {"pop", Style::Positional, 1, 2},
    {"popitem", Style::NoArguments},     {"setdefault", Style::Positional, 1, 2}, {"update", Style::Positional, 0, 1, true},
    {"values", Style::NoArguments},
};

template <size_t N>
const Signature* find_signature(const Signature (&table)[N], std::string_view name) {
  for (const Signature& signature : table) {
    if (signature.name == name) return &signature;
  }
  return nullptr;
}

const Signature* signature_of(const Value& receiver, std::string_view name) {
  switch (receiver.type()) {
    case Value::Type::String: return find_signature(kStringSignatures, name);
    case Value::Type::Dict: return find_signature(kDictSignatures, name);
    case Value::Type::List:
      if (receiver.as_list().kind == SequenceKind::List) return find_signature(kListSignatures, name);
      if (receiver.as_list().kind == SequenceKind::Tuple) return find_signature(kTupleSignatures, name);
      return nullptr;
    default:
      return nullptr;
  }
}

std::string plural(size_t n, std::string_view word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); }

// Fails with CPython's message when a method gets the wrong number or kind of arguments.
void check_signature(const Value& receiver, const Signature& signature, const Arguments& args) {
  const std::string_view type = receiver.type_name();
  const std::string_view name = signature.name;
  const size_t n = args.positional.size();
  if (!args.keyword.empty() && !signature.keywords && signature.style != Style::Any) {
    fail(fmt::format("{}.{}() takes no keyword arguments", type, name));
  }
  switch (signature.style) {
    case Style::NoArguments:
      if (n != 0) fail(fmt::format("{}.{}() takes no arguments ({} given)", type, name, n));
      return;
    case Style::OneArgument:
      if (n != 1) fail(fmt::format("{}.{}() takes exactly one argument ({} given)", type, name, n));
      return;
    case Style::Positional:
      if (signature.min == signature.max && n != signature.min) {
        fail(fmt::format("{} expected {}, got {}", name, plural(signature.min, "argument"), n));
      }
      if (n < signature.min) fail(fmt::format("{} expected at least {}, got {}", name, plural(signature.min, "argument"), n));
      if (n > signature.max) fail(fmt::format("{} expected at most {}, got {}", name, plural(signature.max, "argument"), n));
      return;
    case Style::ParseTuple:
      if (n < signature.min) fail(fmt::format("{}() takes at least {} ({} given)", name, plural(signature.min, "argument"), n));
      if (n > signature.max) fail(fmt::format("{}() takes at most {} ({} given)", name, plural(signature.max, "argument"), n));
      return;
    case Style::KeywordsOnly:
      if (n != 0) fail(fmt::format("{}() takes no positional arguments", name));
      return;
    case Style::Any:
      return;
  }
}

bool has_method(const Value& receiver, std::string_view name) { return signature_of(receiver, name) != nullptr; }

// `receiver.name` as a value (e.g. printed, or passed around before being called).
class BoundMethod final : public Object {
 public:
  BoundMethod(Value receiver, std::string name) : receiver_(std::move(receiver)), name_(std::move(name)) {}
  std::string_view type_name() const override { return "builtin_function_or_method"; }
  std::string repr() const override {
    return fmt::format("<built-in method {} of {} object>", name_, receiver_.type_name());
  }
  bool callable() const override { return true; }
  Value call(Interpreter& interpreter, Arguments args) override {
    return *call_method(interpreter, receiver_, name_, args);
  }
  void release_references() override { receiver_ = Value::none(); }

 private:
  Value receiver_;
  std::string name_;
};

bool is_container(const Value& v) { return v.is_list() || v.is_dict() || v.is_object(); }

// Code-point positions [start, end) of s selected by Python's optional start/end arguments.
std::string_view substring(std::string_view s, const std::optional<Value>& start, const std::optional<Value>& end,
                           size_t& offset_out) {
  if ((!start || start->is_none()) && (!end || end->is_none())) {
    offset_out = 0;
    return s;
  }
  const auto length = static_cast<int64_t>(text::codepoint_count(s));
  const auto clamp = [&](const std::optional<Value>& v, int64_t fallback) {
    if (!v || v->is_none()) return fallback;
    if (!v->is_int() && !v->is_bool()) fail("slice indices must be integers or None or have an __index__ method");
    int64_t i = v->as_integer();
    if (i < 0) i = std::max<int64_t>(i + length, 0);
    return std::min(i, length);
  };
  const int64_t from = clamp(start, 0);
  const int64_t to = std::max(clamp(end, length), from);
  const size_t begin_byte = text::byte_offset_of(s, static_cast<size_t>(from));
  const size_t end_byte = text::byte_offset_of(s, static_cast<size_t>(to));
  offset_out = static_cast<size_t>(from);
  return s.substr(begin_byte, end_byte - begin_byte);
}

std::optional<std::string_view> optional_chars(const std::optional<Value>& v, std::string_view method) {
  if (!v || v->is_none()) return std::nullopt;
  if (!v->is_string()) {
    if (method == "split" || method == "rsplit") fail(fmt::format("must be str or None, not {}", v->type_name()));
    fail(fmt::format("{} arg must be None or str", method));
  }
  return std::string_view(v->as_string());
}

std::string pad_fill(const ArgumentBinder& a) {
  if (!a[1]) return " ";
  if (!a[1]->is_string()) fail(fmt::format("The fill character must be a unicode character, not {}", a[1]->type_name()));
  if (text::codepoint_count(a[1]->as_string()) != 1) fail("The fill character must be exactly one character long");
  return a[1]->as_string();
}

bool affix_matches(std::string_view s, const Value& affix, bool prefix, std::string_view method) {
  const auto test = [&](const Value& candidate) {
    if (!candidate.is_string()) {
      fail(fmt::format("tuple for {} must only contain str, not {}", method, candidate.type_name()));
    }
    const std::string& a = candidate.as_string();
    if (a.size() > s.size()) return false;
    return prefix ? s.compare(0, a.size(), a) == 0 : s.compare(s.size() - a.size(), a.size(), a) == 0;
  };
  if (affix.is_sequence_kind(SequenceKind::Tuple)) {
    return std::any_of(affix.as_list().items.begin(), affix.as_list().items.end(), test);
  }
  if (!affix.is_string()) {
    fail(fmt::format("{} first arg must be str or a tuple of str, not {}", method, affix.type_name()));
  }
  return test(affix);
}

Value string_list(const std::vector<std::string>& parts, bool markup) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (const std::string& part : parts) items.push_back(Value::string(part, markup));
  return Value::list(std::move(items));
}

template <typename Predicate>
bool all_chars(std::string_view s, Predicate predicate) {
  if (s.empty()) return false;
  for (size_t pos = 0; pos < s.size();) {
    if (!predicate(text::decode_next(s, pos))) return false;
  }
  return true;
}

std::optional<Value> string_method(Interpreter& in, const Value& receiver, std::string_view name, Arguments& args) {
  const std::string& s = receiver.as_string();
  const bool markup = receiver.is_markup();
  const auto result = [&](std::string out) { return Value::string(std::move(out), markup); };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    ArgumentBinder a(name, std::move(args), {"chars"});
    const auto chars = optional_chars(a[0], name);
    const std::string_view out = name == "strip" ? text::strip(s, chars) : name == "lstrip" ? text::lstrip(s, chars) : text::rstrip(s, chars);
    return result(std::string(out));
  }
  if (name == "split" || name == "rsplit") {
    ArgumentBinder a(name, std::move(args), {"sep", "maxsplit"});
    const auto sep = optional_chars(a[0], name);
    if (sep && sep->empty()) fail("empty separator");
    const int64_t max_split = a[1] ? to_int_argument(*a[1]) : -1;
    return string_list(name == "split" ? text::split(s, sep, max_split) : text::rsplit(s, sep, max_split), markup);
  }
  if (name == "splitlines") {
    ArgumentBinder a(name, std::move(args), {"keepends"});
    return string_list(text::splitlines(s, a[0] && a[0]->truthy()), markup);
  }
  if (name == "startswith" || name == "endswith") {
    ArgumentBinder a(name, std::move(args), {"prefix", "start", "end"}, 1);
    size_t offset = 0;
    return Value::boolean(affix_matches(substring(s, a[1], a[2], offset), *a[0], name == "startswith", name));
  }
  if (name == "replace") {
    ArgumentBinder a(name, std::move(args), {"old", "new", "count"}, 2);
    const std::string_view old_text = to_string_argument(*a[0], "replace() argument 1");
    const std::string_view new_text = to_string_argument(*a[1], "replace() argument 2");
    const int64_t count = a[2] ? to_int_argument(*a[2]) : -1;
    if (new_text.size() > old_text.size()) {
      const size_t hits = old_text.empty() ? text::codepoint_count(s) + 1 : text::count(s, old_text);
      in.check_size(s.size() + hits * (new_text.size() - old_text.size()));
    }
    return result(text::replace(s, old_text, new_text, count));
  }
  if (name == "upper" || name == "lower" || name == "casefold" || name == "title" || name == "capitalize" ||
      name == "swapcase") {
    ArgumentBinder(name, std::move(args), {});
    if (name == "upper") return result(text::upper(s));
    if (name == "title") return result(text::title(s));
    if (name == "capitalize") return result(text::capitalize(s));
    if (name == "swapcase") return result(text::swapcase(s));
    return result(text::lower(s));
  }
  if (name == "format") {
    std::string out = str_format(s, args);
    in.check_size(out.size());
    return result(std::move(out));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    ArgumentBinder a(name, std::move(args), {"sub", "start", "end"}, 1);
    if (!a[0]->is_string()) fail(fmt::format("must be str, not {}", a[0]->type_name()));
    const std::string_view needle = a[0]->as_string();
    size_t offset = 0;
    const std::string_view haystack = substring(s, a[1], a[2], offset);
    if (name == "count") return Value::integer(static_cast<int64_t>(text::count(haystack, needle)));
    const int64_t found = name == "find" || name == "index" ? text::find(haystack, needle) : text::rfind(haystack, needle);
    if (found < 0) {
      if (name == "index" || name == "rindex") fail("substring not found");
      return Value::integer(-1);
    }
    return Value::integer(found + static_cast<int64_t>(offset));
  }
  if (name == "join") {
    ArgumentBinder a(name, std::move(args), {"iterable"}, 1);
    std::string out;
    if (!a[0]->is_string() && !a[0]->is_list() && !a[0]->is_dict() && !a[0]->is_undefined()) {
      fail("can only join an iterable");
    }
    const std::vector<Value> items = in.iterate(*a[0]);
    in.count_iterations(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string()) {
        fail(fmt::format("sequence item {}: expected str instance, {} found", i, items[i].type_name()));
      }
      if (i > 0) out += s;
      out += markup && !items[i].is_markup() ? text::html_escape(items[i].as_string()) : items[i].as_string();
      in.check_size(out.size());
    }
    return Value::string(std::move(out), markup);
  }
  if (name == "center" || name == "ljust" || name == "rjust") {
    ArgumentBinder a(name, std::move(args), {"width", "fillchar"}, 1);
    const int64_t width = to_int_argument(*a[0]);
    const std::string fill = pad_fill(a);
    in.check_size(static_cast<size_t>(std::max<int64_t>(width, 0)) * fill.size());
    const auto length = static_cast<int64_t>(text::codepoint_count(s));
    if (width <= length) return result(s);
    const int64_t margin = width - length;
    int64_t left = 0;
    if (name == "center") left = margin / 2 + (margin & width & 1);
    if (name == "rjust") left = margin;
    std::string out;
    for (int64_t i = 0; i < left; ++i) out += fill;
    out += s;
    for (int64_t i = 0; i < margin - left; ++i) out += fill;
    return result(std::move(out));
  }
  if (name == "zfill") {
    ArgumentBinder a(name, std::move(args), {"width"}, 1);
    const int64_t width = to_int_argument(*a[0]);
    in.check_size(static_cast<size_t>(std::max<int64_t>(width, 0)));
    const auto length = static_cast<int64_t>(text::codepoint_count(s));
    if (width <= length) return result(s);
    const size_t sign = !s.empty() && (s[0] == '+' || s[0] == '-') ? 1 : 0;
    return result(s.substr(0, sign) + std::string(static_cast<size_t>(width - length), '0') + s.substr(sign));
  }
  if (name == "partition" || name == "rpartition") {
    ArgumentBinder a(name, std::move(args), {"sep"}, 1);
    if (!a[0]->is_string()) fail(fmt::format("must be str, not {}", a[0]->type_name()));
    const std::string_view sep = a[0]->as_string();
    if (sep.empty()) fail("empty separator");
    const size_t hit = name == "partition" ? s.find(sep) : s.rfind(sep);
    std::vector<Value> parts;
    if (hit == std::string::npos) {
      parts = name == "partition"
                  ? std::vector<Value>{Value::string(s, markup), Value::string("", markup), Value::string("", markup)}
                  : std::vector<Value>{Value::string("", markup), Value::string("", markup), Value::string(s, markup)};
    } else {
      parts = {Value::string(s.substr(0, hit), markup), Value::string(std::string(sep), markup),
               Value::string(s.substr(hit + sep.size()), markup)};
    }
    return Value::list(std::move(parts), SequenceKind::Tuple);
  }
  if (name == "removeprefix" || name == "removesuffix") {
    ArgumentBinder a(name, std::move(args), {"affix"}, 1);
    const std::string_view affix = to_string_argument(*a[0], fmt::format("{}() argument", name));
    if (name == "removeprefix" && s.compare(0, affix.size(), affix) == 0) return result(s.substr(affix.size()));
    if (name == "removesuffix" && !affix.empty() && s.size() >= affix.size() &&
        s.compare(s.size() - affix.size(), affix.size(), affix) == 0) {
      return result(s.substr(0, s.size() - affix.size()));
    }
    return result(s);
  }
  ArgumentBinder(name, std::move(args), {});
  if (name == "isalnum") return Value::boolean(all_chars(s, [](char32_t c) { return text::is_alpha(c) || text::is_digit(c); }));
  if (name == "isalpha") return Value::boolean(all_chars(s, text::is_alpha));
  if (name == "isascii") return Value::boolean(std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }));
  if (name == "isdecimal" || name == "isdigit" || name == "isnumeric") return Value::boolean(all_chars(s, text::is_digit));
  if (name == "isspace") return Value::boolean(all_chars(s, text::is_space));
  if (name == "islower") return Value::boolean(text::is_lower(s));
  if (name == "isupper") return Value::boolean(text::is_upper(s));
  if (name == "istitle") return Value::boolean(!s.empty() && text::title(s) == s && std::any_of(s.begin(), s.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); }));
  if (name == "isidentifier") {
    bool first = true;
    return Value::boolean(all_chars(s, [&](char32_t c) {
      const bool ok = c == '_' || text::is_alpha(c) || (!first && text::is_digit(c));
      first = false;
      return ok;
    }));
  }
  return std::nullopt;
}

void check_list_size(Interpreter& in, size_t size) {
  if (size > in.limits().max_loop_iterations) fail("the list exceeds the template's size limit");
}

std::optional<Value> list_method(Interpreter& in, const Value& receiver, std::string_view name, Arguments& args) {
  std::vector<Value>& items = receiver.as_list().items;
  const bool is_tuple = receiver.as_list().kind == SequenceKind::Tuple;
  if (name == "count") {
    ArgumentBinder a(name, std::move(args), {"value"}, 1);
    in.count_iterations(items.size());
    return Value::integer(std::count_if(items.begin(), items.end(), [&](const Value& v) { return equals(v, *a[0]); }));
  }
  if (name == "index") {
    ArgumentBinder a(name, std::move(args), {"value", "start", "stop"}, 1);
    const auto size = static_cast<int64_t>(items.size());
    const auto bound = [&](const std::optional<Value>& v, int64_t fallback) {
      if (!v) return fallback;
      if (!v->is_int() && !v->is_bool()) fail("slice indices must be integers or have an __index__ method");
      int64_t i = v->as_integer();
      if (i < 0) i = std::max<int64_t>(i + size, 0);
      return std::min(i, size);
    };
    in.count_iterations(items.size());
    for (int64_t i = bound(a[1], 0); i < bound(a[2], size); ++i) {
      if (equals(items[static_cast<size_t>(i)], *a[0])) return Value::integer(i);
    }
    fail(is_tuple ? "tuple.index(x): x not in tuple" : fmt::format("{} is not in list", a[0]->repr()));
  }
  if (is_tuple) return std::nullopt;
  if (name == "append") {
    ArgumentBinder a(name, std::move(args), {"object"}, 1);
    check_list_size(in, items.size() + 1);
    if (is_container(*a[0])) in.track(receiver);
    items.push_back(*a[0]);
    return Value::none();
  }
  if (name == "extend") {
    ArgumentBinder a(name, std::move(args), {"iterable"}, 1);
    std::vector<Value> more = in.iterate(*a[0]);
    check_list_size(in, items.size() + more.size());
    in.count_iterations(more.size());
    if (std::any_of(more.begin(), more.end(), is_container)) in.track(receiver);
    items.insert(items.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    return Value::none();
  }
  if (name == "insert") {
    ArgumentBinder a(name, std::move(args), {"index", "object"}, 2);
    const auto size = static_cast<int64_t>(items.size());
    int64_t i = to_int_argument(*a[0]);
    if (i < 0) i = std::max<int64_t>(i + size, 0);
    i = std::min(i, size);
    check_list_size(in, items.size() + 1);
    if (is_container(*a[1])) in.track(receiver);
    items.insert(items.begin() + i, *a[1]);
    return Value::none();
  }
  if (name == "pop") {
    ArgumentBinder a(name, std::move(args), {"index"});
    if (items.empty()) fail("pop from empty list");
    const auto size = static_cast<int64_t>(items.size());
    int64_t i = a[0] ? to_int_argument(*a[0]) : -1;
    if (i < 0) i += size;
    if (i < 0 || i >= size) fail("pop index out of range");
    Value out = std::move(items[static_cast<size_t>(i)]);
    items.erase(items.begin() + i);
    return out;
  }
  if (name == "remove") {
    ArgumentBinder a(name, std::move(args), {"value"}, 1);
    const auto it = std::find_if(items.begin(), items.end(), [&](const Value& v) { return equals(v, *a[0]); });
    if (it == items.end()) fail("list.remove(x): x not in list");
    items.erase(it);
    return Value::none();
  }
  if (name == "reverse") {
    ArgumentBinder(name, std::move(args), {});
    std::reverse(items.begin(), items.end());
    return Value::none();
  }
  if (name == "sort") {
    ArgumentBinder a(name, std::move(args), {"reverse"});
    in.count_iterations(items.size());
    const bool reverse = a[0] && a[0]->truthy();
    std::vector<Value> sorted = items;
    std::stable_sort(sorted.begin(), sorted.end(), [&](const Value& x, const Value& y) {
      return reverse ? less_than(y, x) : less_than(x, y);
    });
    items = std::move(sorted);
    return Value::none();
  }
  if (name == "copy") {
    ArgumentBinder(name, std::move(args), {});
    return Value::list(items);
  }
  if (name == "clear") {
    ArgumentBinder(name, std::move(args), {});
    release_values(items);
    return Value::none();
  }
  return std::nullopt;
}

std::optional<Value> dict_method(Interpreter& in, const Value& receiver, std::string_view name, Arguments& args) {
  Dict& dict = receiver.as_dict();
  if (name == "get") {
    ArgumentBinder a(name, std::move(args), {"key", "default"}, 1);
    const Value* found = dict.find(*a[0]);
    return found != nullptr ? *found : a.get_or(1, Value::none());
  }
  if (name == "items" || name == "keys" || name == "values") {
    ArgumentBinder(name, std::move(args), {});
    std::vector<Value> out;
    out.reserve(dict.size());
    for (const auto& [key, value] : dict.entries()) {
      if (name == "items") out.push_back(Value::list({key, value}, SequenceKind::Tuple));
      else out.push_back(name == "keys" ? key : value);
    }
    in.count_iterations(out.size());
    const SequenceKind kind = name == "items" ? SequenceKind::DictItems : name == "keys" ? SequenceKind::DictKeys : SequenceKind::DictValues;
    return Value::list(std::move(out), kind);
  }
  if (name == "pop") {
    ArgumentBinder a(name, std::move(args), {"key", "default"}, 1);
    if (const Value* found = dict.find(*a[0])) {
      Value out = *found;
      dict.erase(*a[0]);
      return out;
    }
    if (a[1]) return *a[1];
    fail(a[0]->repr());
  }
  if (name == "popitem") {
    ArgumentBinder(name, std::move(args), {});
    if (dict.empty()) fail("'popitem(): dictionary is empty'");
    const Dict::Entry last = dict.entries().back();
    dict.erase(last.first);
    return Value::list({last.first, last.second}, SequenceKind::Tuple);
  }
  if (name == "setdefault") {
    ArgumentBinder a(name, std::move(args), {"key", "default"}, 1);
    if (const Value* found = dict.find(*a[0])) return *found;
    const Value value = a.get_or(1, Value::none());
    if (is_container(value)) in.track(receiver);
    dict.set(*a[0], value);
    return value;
  }
  if (name == "update") {
    if (args.positional.size() > 1) fail(fmt::format("update expected at most 1 argument, got {}", args.positional.size()));
    const auto store = [&](const Value& key, const Value& value) {
      if (is_container(value)) in.track(receiver);
      dict.set(key, value);
      check_list_size(in, dict.size());
    };
    if (!args.positional.empty()) {
      const Value& other = args.positional.front();
      if (other.is_dict()) {
        const std::vector<Dict::Entry> entries = other.as_dict().entries();
        for (const auto& [key, value] : entries) store(key, value);
      } else {
        for (const Value& pair : in.iterate(other)) {
          const std::vector<Value> kv = in.iterate(pair);
          if (kv.size() != 2) {
            fail(fmt::format("dictionary update sequence element has length {}; 2 is required", kv.size()));
          }
          store(kv[0], kv[1]);
        }
      }
    }
    for (const auto& [key, value] : args.keyword) store(Value::string(key), value);
    return Value::none();
  }
  if (name == "copy") {
    ArgumentBinder(name, std::move(args), {});
    auto copy = std::make_shared<Dict>();
    for (const auto& [key, value] : dict.entries()) copy->set(key, value);
    return Value::dict(std::move(copy));
  }
  if (name == "clear") {
    ArgumentBinder(name, std::move(args), {});
    dict.clear();
    return Value::none();
  }
  return std::nullopt;
}

}  // namespace

std::optional<Value> find_method(const Value& receiver, std::string_view name) {
  if (!has_method(receiver, name)) return std::nullopt;
  return Value::object(std::make_shared<BoundMethod>(receiver, std::string(name)));
}

std::optional<Value> call_method(Interpreter& interpreter, const Value& receiver, std::string_view name,
                                 Arguments& args) {
  const Signature* signature = signature_of(receiver, name);
  if (signature == nullptr) return std::nullopt;
  check_signature(receiver, *signature, args);
  switch (receiver.type()) {
    case Value::Type::String: return string_method(interpreter, receiver, name, args);
    case Value::Type::List: return list_method(interpreter, receiver, name, args);
    case Value::Type::Dict: return dict_method(interpreter, receiver, name, args);
    default: return std::nullopt;
  }
}

}  // namespace hearth::chat::jinja
