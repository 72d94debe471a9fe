#include "chat/jinja_format.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <optional>

#include "chat/jinja_text.h"

namespace hearth::chat::jinja {
namespace {

struct Spec {
  char32_t fill = ' ';
  char align = 0;  // < > = ^ or 0 for the type's default
  char sign = '-';
  bool alternate = false;
  bool zero = false;
  size_t width = 0;
  char grouping = 0;
  std::optional<int> precision;
  char type = 0;
};

size_t parse_number(std::string_view s, size_t& pos) {
  size_t n = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
    n = n * 10 + static_cast<size_t>(s[pos] - '0');
    if (n > 1'000'000) fail("Too many decimal digits in format string");
    ++pos;
  }
  return n;
}

bool is_align(char c) { return c == '<' || c == '>' || c == '=' || c == '^'; }

Spec parse_spec(std::string_view s) {
  Spec spec;
  size_t pos = 0;
  // [[fill]align]: the fill may be any character.
  if (!s.empty()) {
    size_t after_first = 0;
    const char32_t first = text::decode_next(s, after_first);
    if (after_first < s.size() && is_align(s[after_first])) {
      spec.fill = first;
      spec.align = s[after_first];
      pos = after_first + 1;
    } else if (is_align(s[0])) {
      spec.align = s[0];
      pos = 1;
    }
  }
  if (pos < s.size() && (s[pos] == '+' || s[pos] == '-' || s[pos] == ' ')) spec.sign = s[pos++];
  if (pos < s.size() && s[pos] == '#') {
    spec.alternate = true;
    ++pos;
  }
  if (pos < s.size() && s[pos] == '0') {
    spec.zero = true;
    ++pos;
  }
  spec.width = parse_number(s, pos);
  if (pos < s.size() && (s[pos] == ',' || s[pos] == '_')) spec.grouping = s[pos++];
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const size_t before = pos;
    spec.precision = static_cast<int>(parse_number(s, pos));
    if (pos == before) fail("Format specifier missing precision");
  }
  if (pos < s.size()) spec.type = s[pos++];
  if (pos != s.size()) fail("Invalid format specifier");
  return spec;
}

std::string pad(std::string body, const Spec& spec, char default_align, size_t sign_length) {
  const size_t length = text::codepoint_count(body);
  if (length >= spec.width) return body;
  const size_t missing = spec.width - length;
  char align = spec.align != 0 ? spec.align : default_align;
  char32_t fill = spec.fill;
  if (spec.zero && spec.align == 0) {
    align = '=';
    fill = '0';
  }
  std::string fill_text;
  text::append_utf8(fill_text, fill);
  const auto fills = [&](size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) out += fill_text;
    return out;
  };
  switch (align) {
    case '<': return body + fills(missing);
    case '^': return fills(missing / 2) + body + fills(missing - missing / 2);
    case '=': return body.substr(0, sign_length) + fills(missing) + body.substr(sign_length);
    default: return fills(missing) + body;
  }
}

std::string group_digits(const std::string& digits, char separator) {
  if (separator == 0) return digits;
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && (n - i) % 3 == 0) out += separator;
    out += digits[i];
  }
  return out;
}

std::string sign_prefix(bool negative, char sign) {
  if (negative) return "-";
  if (sign == '+') return "+";
  if (sign == ' ') return " ";
  return "";
}

std::string format_int(int64_t value, const Spec& spec) {
  const bool negative = value < 0;
  const uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  std::string digits;
  std::string prefix;
  switch (spec.type) {
    case 0: case 'd': case 'n': digits = std::to_string(magnitude); break;
    case 'x': digits = fmt::format("{:x}", magnitude); prefix = spec.alternate ? "0x" : ""; break;
    case 'X': digits = fmt::format("{:X}", magnitude); prefix = spec.alternate ? "0X" : ""; break;
    case 'o': digits = fmt::format("{:o}", magnitude); prefix = spec.alternate ? "0o" : ""; break;
    case 'b': digits = fmt::format("{:b}", magnitude); prefix = spec.alternate ? "0b" : ""; break;
    case 'c': {
      std::string out;
      text::append_utf8(out, static_cast<char32_t>(magnitude));
      return pad(out, spec, '<', 0);
    }
    default: fail(fmt::format("Unknown format code '{}' for object of type 'int'", spec.type));
  }
  const std::string head = sign_prefix(negative, spec.sign) + prefix;
  return pad(head + group_digits(digits, spec.grouping), spec, '>', head.size());
}

std::string c_format_double(char type, int precision, bool alternate, double value) {
  char pattern[8] = "%";
  size_t n = 1;
  if (alternate) pattern[n++] = '#';
  pattern[n++] = '.';
  pattern[n++] = '*';
  pattern[n++] = type;
  pattern[n] = 0;
  const int size = std::snprintf(nullptr, 0, pattern, precision, value);
  std::string out(static_cast<size_t>(size), '\0');
  std::snprintf(out.data(), out.size() + 1, pattern, precision, value);
  return out;
}

std::string format_double(double value, const Spec& spec) {
  const bool negative = std::signbit(value) && !std::isnan(value);
  const double magnitude = std::fabs(value);
  std::string body;
  char type = spec.type;
  const bool upper = type == 'E' || type == 'F' || type == 'G';
  if (std::isinf(magnitude) || std::isnan(magnitude)) {
    body = std::isnan(magnitude) ? "nan" : "inf";
    if (upper) body = text::upper(body);
    if (type == '%') body += '%';
  } else {
    switch (type) {
      case 'e': case 'E': case 'f': case 'F': case 'g': case 'G':
        body = c_format_double(type, spec.precision.value_or(6), spec.alternate, magnitude);
        break;
      case 'n':
        body = c_format_double('g', spec.precision.value_or(6), spec.alternate, magnitude);
        break;
      case '%':
        body = c_format_double('f', spec.precision.value_or(6), spec.alternate, magnitude * 100) + "%";
        break;
      case 0:
        if (!spec.precision) {
          body = format_float(magnitude);
        } else {
          // Like 'g', but fixed-point results keep at least one digit after the point.
          body = c_format_double('g', std::max(*spec.precision, 1), spec.alternate, magnitude);
          if (body.find_first_of(".e") == std::string::npos) body += ".0";
        }
        break;
      default:
        fail(fmt::format("Unknown format code '{}' for object of type 'float'", type));
    }
  }
  if (spec.grouping != 0) {
    const size_t end = body.find_first_not_of("0123456789");
    body = group_digits(body.substr(0, end), spec.grouping) + (end == std::string::npos ? "" : body.substr(end));
  }
  const std::string head = sign_prefix(negative, spec.sign);
  return pad(head + body, spec, '>', head.size());
}

// ---- the % operator -----------------------------------------------------------------------------------------

class PercentArguments {
 public:
  explicit PercentArguments(const Value& args) : args_(args) {
    if (args.is_sequence_kind(SequenceKind::Tuple)) items_ = &args.as_list().items;
    // Python treats any argument with __getitem__ (dict, list; jinja2's Undefined too) as a possible mapping, and
    // then does not insist that every argument was used.
    mapping_like_ = args.is_dict() || args.is_sequence_kind(SequenceKind::List) || args.is_undefined();
  }

  const Value& next() {
    if (items_ != nullptr) {
      if (index_ >= items_->size()) fail("not enough arguments for format string");
      return (*items_)[index_++];
    }
    if (index_ > 0) fail("not enough arguments for format string");
    ++index_;
    return args_;
  }

  const Value& lookup(std::string_view key) {
    if (!mapping_like_) fail("format requires a mapping");
    if (args_.is_undefined()) args_.fail_undefined();
    if (!args_.is_dict()) fail("list indices must be integers or slices, not str");
    const Value* value = args_.as_dict().find(key);
    if (value == nullptr) fail(text::repr(key));
    return *value;
  }

  void check_all_used() const {
    if (mapping_like_) return;
    const size_t total = items_ != nullptr ? items_->size() : 1;
    if (index_ < total) fail("not all arguments converted during string formatting");
  }

 private:
  const Value& args_;
  const std::vector<Value>* items_ = nullptr;
  bool mapping_like_ = false;
  size_t index_ = 0;
};

double number_for_format(const Value& v, char type, bool integer_only) {
  if (v.is_undefined()) v.fail_undefined();
  if (!v.is_number() || (integer_only && v.is_float())) {
    if (integer_only) fail(fmt::format("%{} format: an integer is required, not {}", type, v.type_name()));
    fail(fmt::format("%{} format: a real number is required, not {}", type, v.type_name()));
  }
  return v.as_double();
}

std::string percent_one(const Value& arg, Spec spec, char type, bool escape) {
  spec.type = 0;
  switch (type) {
    case 's': case 'r': case 'a': {
      std::string s = type == 's' ? arg.str() : arg.repr();
      if (escape && !(arg.is_markup() && type == 's')) s = text::html_escape(s);
      if (spec.precision) s = s.substr(0, text::byte_offset_of(s, static_cast<size_t>(*spec.precision)));
      return pad(s, spec, '>', 0);
    }
    case 'd': case 'i': case 'u': {
      number_for_format(arg, type, false);
      const int64_t n = arg.is_float() ? static_cast<int64_t>(std::trunc(arg.as_float())) : arg.as_integer();
      std::string digits = std::to_string(n < 0 ? -static_cast<uint64_t>(n) : static_cast<uint64_t>(n));
      if (spec.precision && digits.size() < static_cast<size_t>(*spec.precision)) {
        digits.insert(0, static_cast<size_t>(*spec.precision) - digits.size(), '0');
      }
      const std::string head = sign_prefix(n < 0, spec.sign);
      return pad(head + digits, spec, '>', head.size());
    }
    case 'x': case 'X': case 'o': {
      number_for_format(arg, type, true);
      spec.type = type;
      return format_int(arg.as_integer(), spec);
    }
    case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': {
      spec.type = type;
      return format_double(number_for_format(arg, type, false), spec);
    }
    case 'c': {
      std::string out;
      if (arg.is_string() && text::codepoint_count(arg.as_string()) == 1) {
        out = arg.as_string();
      } else if (arg.is_int() || arg.is_bool()) {
        text::append_utf8(out, static_cast<char32_t>(arg.as_integer()));
      } else {
        fail("%c requires int or char");
      }
      return pad(out, spec, '>', 0);
    }
    default:
      fail("unsupported format character");
  }
}

}  // namespace

std::string format_value(const Value& value, std::string_view spec_text) {
  if (spec_text.empty()) return value.str();
  const Spec spec = parse_spec(spec_text);
  if (value.is_string()) {
    if (spec.type != 0 && spec.type != 's') fail(fmt::format("Unknown format code '{}' for object of type 'str'", spec.type));
    if (spec.sign != '-') fail("Sign not allowed in string format specifier");
    std::string s = value.as_string();
    if (spec.precision) s = s.substr(0, text::byte_offset_of(s, static_cast<size_t>(*spec.precision)));
    return pad(s, spec, '<', 0);
  }
  if (value.is_float() || (value.is_number() && spec.type != 0 && std::string_view("eEfFgG%").find(spec.type) != std::string_view::npos)) {
    return format_double(value.as_double(), spec);
  }
  if (value.is_number()) return format_int(value.as_integer(), spec);
  fail(fmt::format("unsupported format string passed to {}.__format__", value.type_name()));
}

Value percent_format(const Value& format, const Value& args) {
  const std::string& f = format.as_string();
  const bool escape = format.is_markup();
  PercentArguments arguments(args);
  std::string out;
  size_t pos = 0;
  while (pos < f.size()) {
    const size_t percent = f.find('%', pos);
    if (percent == std::string::npos) {
      out.append(f, pos);
      break;
    }
    out.append(f, pos, percent - pos);
    size_t p = percent + 1;
    if (p >= f.size()) fail("incomplete format");
    if (f[p] == '%') {
      out += '%';
      pos = p + 1;
      continue;
    }
    const Value* mapped = nullptr;
    if (f[p] == '(') {
      size_t depth = 1;
      size_t q = p + 1;
      while (q < f.size() && depth > 0) {
        if (f[q] == '(') ++depth;
        if (f[q] == ')') --depth;
        ++q;
      }
      if (depth > 0) fail("incomplete format key");
      mapped = &arguments.lookup(std::string_view(f).substr(p + 1, q - p - 2));
      p = q;
    }
    Spec spec;
    for (; p < f.size(); ++p) {
      const char c = f[p];
      if (c == '-') spec.align = '<';
      else if (c == '+') spec.sign = '+';
      else if (c == ' ') { if (spec.sign != '+') spec.sign = ' '; }
      else if (c == '#') spec.alternate = true;
      else if (c == '0') spec.zero = true;
      else break;
    }
    if (spec.align == '<') spec.zero = false;
    if (p < f.size() && f[p] == '*') {
      const Value& w = arguments.next();
      if (!w.is_int()) fail("* wants int");
      const int64_t width = w.as_int();
      if (width < 0) spec.align = '<';
      spec.width = static_cast<size_t>(std::min<int64_t>(std::abs(width), 1'000'000));
      ++p;
    } else {
      spec.width = parse_number(f, p);
    }
    if (p < f.size() && f[p] == '.') {
      ++p;
      if (p < f.size() && f[p] == '*') {
        const Value& prec = arguments.next();
        if (!prec.is_int()) fail("* wants int");
        spec.precision = static_cast<int>(std::clamp<int64_t>(prec.as_int(), 0, 1'000'000));
        ++p;
      } else {
        spec.precision = static_cast<int>(parse_number(f, p));
      }
    }
    while (p < f.size() && (f[p] == 'h' || f[p] == 'l' || f[p] == 'L')) ++p;
    if (p >= f.size()) fail("incomplete format");
    const char type = f[p];
    if (std::string_view("sradiuxXoeEfFgGc").find(type) == std::string_view::npos) {
      size_t cp_end = p;
      const char32_t cp = text::decode_next(f, cp_end);
      std::string ch;
      text::append_utf8(ch, cp);
      fail(fmt::format("unsupported format character {} (0x{:x}) at index {}", text::repr(ch), static_cast<uint32_t>(cp),
                       text::codepoint_count(std::string_view(f).substr(0, p))));
    }
    const Value& arg = mapped != nullptr ? *mapped : arguments.next();
    out += percent_one(arg, spec, type, escape);
    pos = p + 1;
  }
  arguments.check_all_used();
  return Value::string(std::move(out), escape);
}

std::string str_format(std::string_view f, const Arguments& args) {
  std::string out;
  size_t auto_index = 0;
  bool used_auto = false;
  bool used_manual = false;
  size_t pos = 0;
  while (pos < f.size()) {
    const char c = f[pos];
    if (c == '}') {
      if (pos + 1 < f.size() && f[pos + 1] == '}') {
        out += '}';
        pos += 2;
        continue;
      }
      fail("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      ++pos;
      continue;
    }
    if (pos + 1 < f.size() && f[pos + 1] == '{') {
      out += '{';
      pos += 2;
      continue;
    }
    // Find the matching '}', allowing one level of nested fields in the spec.
    size_t depth = 1;
    size_t end = pos + 1;
    while (end < f.size() && depth > 0) {
      if (f[end] == '{') ++depth;
      if (f[end] == '}') --depth;
      if (depth > 0) ++end;
    }
    if (depth > 0) fail("expected '}' before end of string");
    std::string_view field = f.substr(pos + 1, end - pos - 1);
    pos = end + 1;
    std::string_view spec;
    char conversion = 0;
    size_t colon = std::string_view::npos;
    size_t bang = std::string_view::npos;
    for (size_t i = 0; i < field.size(); ++i) {
      if (field[i] == '[') {
        while (i < field.size() && field[i] != ']') ++i;
      } else if (field[i] == '!' && bang == std::string_view::npos) {
        bang = i;
      } else if (field[i] == ':') {
        colon = i;
        break;
      }
    }
    if (colon != std::string_view::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    if (bang != std::string_view::npos && bang < field.size()) {
      if (bang + 2 != field.size()) fail("expected ':' after conversion specifier");
      conversion = field[bang + 1];
      field = field.substr(0, bang);
    }
    // The argument: index or name, then .attribute / [key] parts.
    size_t name_end = 0;
    while (name_end < field.size() && field[name_end] != '.' && field[name_end] != '[') ++name_end;
    const std::string_view name = field.substr(0, name_end);
    Value value;
    if (name.empty() || std::all_of(name.begin(), name.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      size_t index;
      if (name.empty()) {
        if (used_manual) fail("cannot switch from manual field specification to automatic field numbering");
        used_auto = true;
        index = auto_index++;
      } else {
        if (used_auto) fail("cannot switch from automatic field numbering to manual field specification");
        used_manual = true;
        size_t p = 0;
        index = parse_number(name, p);
      }
      if (index >= args.positional.size()) {
        fail(fmt::format("Replacement index {} out of range for positional args tuple", index));
      }
      value = args.positional[index];
    } else {
      const auto it = std::find_if(args.keyword.begin(), args.keyword.end(), [&](const auto& kv) { return kv.first == name; });
      if (it == args.keyword.end()) fail(text::repr(name));
      value = it->second;
    }
    for (size_t p = name_end; p < field.size();) {
      if (field[p] == '.') {
        size_t q = p + 1;
        while (q < field.size() && field[q] != '.' && field[q] != '[') ++q;
        const std::string_view attribute = field.substr(p + 1, q - p - 1);
        std::optional<Value> found;
        if (value.is_object()) found = value.as_object().attribute(attribute);
        if (!found) fail(fmt::format("'{}' object has no attribute {}", value.type_name(), text::repr(attribute)));
        value = *found;
        p = q;
      } else {
        const size_t close = field.find(']', p);
        if (close == std::string_view::npos) fail("Missing ']' in format string");
        const std::string_view key = field.substr(p + 1, close - p - 1);
        const bool numeric = !key.empty() && std::all_of(key.begin(), key.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
        if (value.is_dict()) {
          const Value* found = numeric ? value.as_dict().find(Value::integer(std::stoll(std::string(key))))
                                       : value.as_dict().find(key);
          if (found == nullptr) fail(text::repr(key));
          value = *found;
        } else if (value.is_list() && numeric) {
          const size_t index = std::stoull(std::string(key));
          if (index >= value.as_list().items.size()) fail("list index out of range");
          value = value.as_list().items[index];
        } else {
          fail(fmt::format("'{}' object is not subscriptable", value.type_name()));
        }
        p = close + 1;
      }
    }
    if (conversion == 'r' || conversion == 'a') {
      value = Value::string(value.repr());
    } else if (conversion == 's') {
      value = Value::string(value.str());
    } else if (conversion != 0) {
      fail("Unknown conversion specifier " + std::string(1, conversion));
    }
    std::string resolved_spec(spec);
    if (resolved_spec.find('{') != std::string::npos) resolved_spec = str_format(resolved_spec, args);
    out += format_value(value, resolved_spec);
  }
  return out;
}

}  // namespace hearth::chat::jinja
