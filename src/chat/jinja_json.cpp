#include "chat/jinja_json.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "chat/jinja_text.h"

namespace hearth::chat::jinja {
namespace {

Value from_json_at_depth(const json& j, size_t depth) {
  if (depth > kMaxValueDepth) fail("JSON input is nested too deeply");
  switch (j.type()) {
    case json::value_t::null:
      return Value::none();
    case json::value_t::boolean:
      return Value::boolean(j.get<bool>());
    case json::value_t::number_integer:
      return Value::integer(j.get<int64_t>());
    case json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::floating(static_cast<double>(u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case json::value_t::number_float:
      return Value::floating(j.get<double>());
    case json::value_t::string:
      return Value::string(j.get<std::string>());
    case json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& item : j) items.push_back(from_json_at_depth(item, depth + 1));
      return Value::list(std::move(items));
    }
    case json::value_t::object: {
      auto dict = std::make_shared<Dict>();
      for (const auto& [key, item] : j.items()) dict->set(key, from_json_at_depth(item, depth + 1));
      return Value::dict(std::move(dict));
    }
    default:
      fail("unsupported JSON value (binary)");
  }
}

class JsonWriter {
 public:
  explicit JsonWriter(const JsonDumpOptions& options) : options_(options) {}

  std::string run(const Value& v) {
    write(v, 0);
    return std::move(out_);
  }

 private:
  void write_string(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out_ += '"';
    for (size_t pos = 0; pos < s.size();) {
      const char32_t cp = text::decode_next(s, pos);
      switch (cp) {
        case '"': out_ += "\\\""; continue;
        case '\\': out_ += "\\\\"; continue;
        case '\n': out_ += "\\n"; continue;
        case '\r': out_ += "\\r"; continue;
        case '\t': out_ += "\\t"; continue;
        case '\b': out_ += "\\b"; continue;
        case '\f': out_ += "\\f"; continue;
        default: break;
      }
      const auto escape_unit = [&](uint32_t unit) {
        out_ += "\\u";
        for (int shift = 12; shift >= 0; shift -= 4) out_ += kHex[(unit >> shift) & 0xF];
      };
      if (cp < 0x20 || (options_.ensure_ascii && cp > 0x7E)) {
        if (cp >= 0x10000) {
          const uint32_t v = cp - 0x10000;
          escape_unit(0xD800 | (v >> 10));
          escape_unit(0xDC00 | (v & 0x3FF));
        } else {
          escape_unit(cp);
        }
      } else {
        text::append_utf8(out_, cp);
      }
    }
    out_ += '"';
  }

  void write_float(double d) {
    if (std::isnan(d)) {
      out_ += "NaN";
    } else if (std::isinf(d)) {
      out_ += d < 0 ? "-Infinity" : "Infinity";
    } else {
      out_ += format_float(d);
    }
  }

  void newline(size_t level) {
    out_ += '\n';
    for (size_t i = 0; i < level; ++i) out_ += *options_.indent;
  }

  // Python's json key coercion.
  std::string key_text(const Value& key) {
    switch (key.type()) {
      case Value::Type::String: return key.as_string();
      case Value::Type::None: return "null";
      case Value::Type::Bool: return key.as_bool() ? "true" : "false";
      case Value::Type::Int: return std::to_string(key.as_int());
      case Value::Type::Float: {
        const double d = key.as_float();
        if (std::isnan(d)) return "NaN";
        if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
        return format_float(d);
      }
      default:
        fail(fmt::format("keys must be str, int, float, bool or None, not {}", key.type_name()));
    }
  }

  void enter(const void* container) {
    if (std::find(stack_.begin(), stack_.end(), container) != stack_.end()) fail("Circular reference detected");
    if (stack_.size() > kMaxValueDepth) fail("maximum recursion depth exceeded while encoding a JSON object");
    stack_.push_back(container);
  }

  void write(const Value& v, size_t level) {
    switch (v.type()) {
      case Value::Type::None: out_ += "null"; return;
      case Value::Type::Bool: out_ += v.as_bool() ? "true" : "false"; return;
      case Value::Type::Int: out_ += std::to_string(v.as_int()); return;
      case Value::Type::Float: write_float(v.as_float()); return;
      case Value::Type::String: write_string(v.as_string()); return;
      case Value::Type::List: {
        const ListData& list = v.as_list();
        if (list.kind != SequenceKind::List && list.kind != SequenceKind::Tuple) break;
        if (list.items.empty()) {
          out_ += "[]";
          return;
        }
        enter(&list);
        out_ += '[';
        for (size_t i = 0; i < list.items.size(); ++i) {
          if (i > 0) out_ += options_.item_separator;
          if (options_.indent) newline(level + 1);
          write(list.items[i], level + 1);
        }
        if (options_.indent) newline(level);
        out_ += ']';
        stack_.pop_back();
        return;
      }
      case Value::Type::Dict: {
        const Dict& dict = v.as_dict();
        if (dict.empty()) {
          out_ += "{}";
          return;
        }
        enter(&dict);
        std::vector<const Dict::Entry*> entries;
        for (const auto& entry : dict.entries()) entries.push_back(&entry);
        if (options_.sort_keys) {
          std::stable_sort(entries.begin(), entries.end(),
                           [](const Dict::Entry* a, const Dict::Entry* b) { return less_than(a->first, b->first); });
        }
        out_ += '{';
        for (size_t i = 0; i < entries.size(); ++i) {
          if (i > 0) out_ += options_.item_separator;
          if (options_.indent) newline(level + 1);
          write_string(key_text(entries[i]->first));
          out_ += options_.key_separator;
          write(entries[i]->second, level + 1);
        }
        if (options_.indent) newline(level);
        out_ += '}';
        stack_.pop_back();
        return;
      }
      default:
        break;
    }
    fail(fmt::format("Object of type {} is not JSON serializable", v.type_name()));
  }

  const JsonDumpOptions& options_;
  std::string out_;
  std::vector<const void*> stack_;
};

}  // namespace

Value from_json(const json& j) { return from_json_at_depth(j, 0); }

std::string to_json(const Value& value, const JsonDumpOptions& options) { return JsonWriter(options).run(value); }

}  // namespace hearth::chat::jinja
