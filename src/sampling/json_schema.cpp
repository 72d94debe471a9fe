// JSON Schema to GBNF: one walk over the schema, each subschema an expression; objects, arrays and $ref targets
// become named rules (a $ref target once, which is what makes recursive schemas finite).
#include "hearth/json_schema.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sampling/json_schema_pieces.h"

namespace hearth::grammar {
namespace {

using ordered_json = nlohmann::ordered_json;
using json_schema::Unsupported;
using json_schema::gbnf_literal;

constexpr int kMaxDepth = 128;
constexpr std::size_t kMaxRepetition = 10000;

const std::set<std::string, std::less<>> kAnnotations = {
    "$schema", "$id", "$comment", "$anchor", "$dynamicAnchor", "title", "description", "default", "examples",
    "deprecated", "readOnly", "writeOnly", "contentMediaType", "contentEncoding", "$defs", "definitions"};
const std::set<std::string, std::less<>> kKeywords = {
    "type", "nullable", "properties", "required", "additionalProperties", "items", "prefixItems", "additionalItems",
    "minItems", "maxItems", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "minLength", "maxLength", "pattern",
    "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};

std::string pointer_token(std::string_view name) {
  std::string out;
  for (const char c : name) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

std::string joined(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const std::string& part : parts) {
    if (part.empty()) continue;
    if (!out.empty()) out += separator;
    out += part;
  }
  return out;
}

std::string alternatives(const std::vector<std::string>& options) {
  if (options.size() == 1) return options[0];
  return fmt::format("({})", joined(options, " | "));
}

// A property of an object as the grammar writes it: its name, its schema and where that schema is.
struct Property {
  std::string name;
  const ordered_json* schema;  // nullptr: any value (a required name with no schema of its own)
  std::string pointer;
  bool required = false;
};

struct ObjectShape {
  std::vector<Property> properties;
  const ordered_json* additional = nullptr;  // additionalProperties when it allows any (true or a schema)
  std::string additional_pointer;
  std::vector<std::string> forbidden;  // properties whose schema is false: never generated, nor as additional keys
};

class SchemaCompiler {
 public:
  SchemaCompiler(const ordered_json& document, const JsonSchemaOptions& options)
      : document_(document), compact_(options.whitespace == JsonWhitespace::compact) {}

  std::string compile() {
    const std::string root = expression(document_, "", 0);
    std::string out = "root ::= " + root + "\n";
    for (const auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
    out += compact_ ? "ws ::= \"\"\n" : "ws ::= | \" \" | \"\\n\" \" \"{0,20}\n";
    out +=
        "json-char ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" ([0-9a-cA-CefEF] [0-9a-fA-F]{3} | "
        "[dD] [0-7] [0-9a-fA-F]{2}))\n"
        "json-key-char ::= [^\"\\\\\\x00-\\x1F]\n"
        "json-string ::= \"\\\"\" json-char* \"\\\"\"\n"
        "json-integer ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15})\n"
        "json-number ::= json-integer (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?\n"
        "json-boolean ::= \"true\" | \"false\"\n"
        "json-null ::= \"null\"\n"
        "json-value ::= json-object | json-array | json-string | json-number | json-boolean | json-null\n"
        "json-object ::= \"{\" ws (json-string \":\" ws json-value ws (\",\" ws json-string \":\" ws json-value ws)*)? \"}\"\n"
        "json-array ::= \"[\" ws (json-value ws (\",\" ws json-value ws)*)? \"]\"\n";
    return out;
  }

 private:
  [[noreturn]] static void fail(const std::string& pointer, const std::string& message) {
    throw JsonSchemaError(pointer, message);
  }

  static bool nullable(const ordered_json& schema, const std::string& pointer) {
    const auto it = schema.find("nullable");
    if (it == schema.end()) return false;
    if (!it->is_boolean()) fail(pointer + "/nullable", "nullable must be true or false");
    return it->get<bool>();
  }

  // The rule name for what lives at `pointer`, unique.
  std::string reserve_rule(const std::string& pointer, std::string_view suffix = "") {
    std::string base = "s";
    for (const char c : pointer + std::string(suffix)) {
      const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (word) base += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
      else if (base.back() != '-') base += '-';
    }
    if (base.size() > 48) base.resize(48);
    while (base.size() > 1 && base.back() == '-') base.pop_back();
    std::string name = base;
    for (int n = 2; names_.contains(name); ++n) name = fmt::format("{}-{}", base, n);
    names_.insert(name);
    rules_.emplace_back(name, "");
    return name;
  }

  void define(const std::string& name, std::string body) {
    for (auto& [rule, text] : rules_) {
      if (rule == name) text = std::move(body);
    }
  }

  std::string rule(const std::string& pointer, std::string_view suffix, std::string body) {
    const std::string name = reserve_rule(pointer, suffix);
    define(name, std::move(body));
    return name;
  }

  static void check_keywords(const ordered_json& schema, const std::string& pointer) {
    for (const auto& [key, value] : schema.items()) {
      if (key == "$id" && !pointer.empty()) {
        fail(pointer + "/$id", "a nested '$id' (a new base for $ref) is not supported");
      }
      if (kAnnotations.contains(key) || kKeywords.contains(key)) continue;
      fail(pointer + "/" + pointer_token(key), fmt::format("the keyword '{}' is not supported", key));
    }
  }

  static bool has_constraints_besides(const ordered_json& schema, std::initializer_list<std::string_view> allowed) {
    for (const auto& [key, value] : schema.items()) {
      if (kAnnotations.contains(key)) continue;
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) return true;
    }
    return false;
  }

  std::string expression(const ordered_json& schema, const std::string& pointer, int depth) {
    if (depth > kMaxDepth) fail(pointer, fmt::format("the schema nests deeper than {} levels", kMaxDepth));
    if (schema.is_boolean()) {
      if (schema.get<bool>()) return "json-value";
      fail(pointer, "the schema 'false' accepts nothing");
    }
    if (!schema.is_object()) fail(pointer, "a schema must be an object or a boolean");
    check_keywords(schema, pointer);
    try {
      return expression_of(schema, pointer, depth);
    } catch (const Unsupported& e) {
      fail(pointer, e.what());
    }
  }

  std::string expression_of(const ordered_json& schema, const std::string& pointer, int depth) {
    if (schema.contains("$ref")) {
      if (has_constraints_besides(schema, {"$ref"})) fail(pointer, "keywords beside '$ref' are not supported");
      return reference(schema["$ref"], pointer + "/$ref", depth);
    }
    if (schema.contains("const")) return gbnf_literal(schema["const"].dump());
    if (schema.contains("enum")) {
      const ordered_json& values = schema["enum"];
      if (!values.is_array() || values.empty()) fail(pointer + "/enum", "'enum' must be a non-empty array");
      std::vector<std::string> options;
      for (const ordered_json& value : values) options.push_back(gbnf_literal(value.dump()));
      return alternatives(options);
    }
    for (const char* keyword : {"anyOf", "oneOf"}) {
      if (!schema.contains(keyword)) continue;
      const ordered_json& branches = schema[keyword];
      if (!branches.is_array() || branches.empty()) fail(pointer + "/" + keyword, fmt::format("'{}' must be a non-empty array", keyword));
      if (has_constraints_besides(schema, {keyword})) {
        fail(pointer, fmt::format("keywords beside '{}' are not supported (put them in each branch)", keyword));
      }
      if (std::string_view(keyword) == "oneOf") {
        // Generated as anyOf, which is right only when no value can match two branches.
        for (std::size_t i = 0; i < branches.size(); ++i) {
          for (std::size_t j = i + 1; j < branches.size(); ++j) {
            if (!disjoint(branches[i], branches[j])) {
              fail(pointer + "/oneOf", fmt::format("oneOf branches {} and {} may both match one value (supported: "
                                                   "branches of different types, of different const/enum values, or "
                                                   "objects told apart by a required const property; else use anyOf)",
                                                   i, j));
            }
          }
        }
      }
      std::vector<std::string> options;
      for (std::size_t i = 0; i < branches.size(); ++i) {
        options.push_back(expression(branches[i], fmt::format("{}/{}/{}", pointer, keyword, i), depth + 1));
      }
      return alternatives(options);
    }
    if (schema.contains("allOf")) return object(merged_all_of(schema, pointer), pointer, depth);

    std::vector<std::string> types;
    if (schema.contains("type")) {
      const ordered_json& type = schema["type"];
      if (type.is_string()) {
        types.push_back(type.get<std::string>());
      } else if (type.is_array() && !type.empty()) {
        for (const ordered_json& one : type) {
          if (!one.is_string()) fail(pointer + "/type", "'type' must be a string or an array of strings");
          types.push_back(one.get<std::string>());
        }
      } else {
        fail(pointer + "/type", "'type' must be a string or a non-empty array of strings");
      }
    } else {
      types = implied_types(schema);
    }
    if (nullable(schema, pointer) && std::find(types.begin(), types.end(), "null") == types.end()) {
      types.push_back("null");
    }
    if (types.empty()) return "json-value";
    std::vector<std::string> options;
    for (const std::string& type : types) options.push_back(of_type(schema, type, pointer, depth));
    return alternatives(options);
  }

  // The schema behind any $ref chain (the schema itself without one).
  const ordered_json& dereferenced(const ordered_json& schema) const {
    const ordered_json* node = &schema;
    for (int hops = 0; node->is_object() && node->contains("$ref") && hops <= kMaxDepth; ++hops) {
      node = resolve((*node)["$ref"], "").first;
    }
    return *node;
  }

  // The JSON types a schema's values may have ("integer" for integral numbers, "number" for the others).
  std::set<std::string> value_types(const ordered_json& given, int depth = 0) const {
    static const std::set<std::string> kAll = {"null", "boolean", "object", "array", "string", "number", "integer"};
    const ordered_json& schema = dereferenced(given);
    if (schema.is_boolean()) return schema.get<bool>() ? kAll : std::set<std::string>{};
    if (!schema.is_object() || depth > kMaxDepth) return kAll;
    const auto type_of = [](const ordered_json& value) -> std::string {
      if (value.is_number()) return value.is_number_float() && std::floor(value.get<double>()) != value.get<double>() ? "number" : "integer";
      return value.is_object() ? "object" : value.is_array() ? "array" : value.is_string() ? "string" : value.is_boolean() ? "boolean" : "null";
    };
    if (schema.contains("const")) return {type_of(schema["const"])};
    if (schema.contains("enum") && schema["enum"].is_array()) {
      std::set<std::string> types;
      for (const ordered_json& value : schema["enum"]) types.insert(type_of(value));
      return types;
    }
    for (const char* keyword : {"anyOf", "oneOf"}) {
      if (!schema.contains(keyword) || !schema[keyword].is_array()) continue;
      std::set<std::string> types;
      for (const ordered_json& branch : schema[keyword]) types.merge(value_types(branch, depth + 1));
      return types;
    }
    std::vector<std::string> named;
    if (schema.contains("type") && schema["type"].is_string()) named.push_back(schema["type"].get<std::string>());
    else if (schema.contains("type") && schema["type"].is_array()) {
      for (const ordered_json& t : schema["type"]) {
        if (t.is_string()) named.push_back(t.get<std::string>());
      }
    }
    if (named.empty() || schema.contains("allOf")) return kAll;
    std::set<std::string> types(named.begin(), named.end());
    if (types.contains("number")) types.insert("integer");
    if (const auto it = schema.find("nullable"); it != schema.end() && it->is_boolean() && it->get<bool>()) types.insert("null");
    return types;
  }

  // The values of a const or enum schema; nullopt for any other.
  std::optional<std::vector<ordered_json>> finite_values(const ordered_json& given) const {
    const ordered_json& schema = dereferenced(given);
    if (!schema.is_object()) return std::nullopt;
    if (schema.contains("const")) return std::vector<ordered_json>{schema["const"]};
    if (schema.contains("enum") && schema["enum"].is_array()) {
      return std::vector<ordered_json>(schema["enum"].begin(), schema["enum"].end());
    }
    return std::nullopt;
  }

  // No value can match both schemas (by type, by const/enum values, or by a required discriminating property).
  bool disjoint(const ordered_json& a_given, const ordered_json& b_given) const {
    const std::set<std::string> a_types = value_types(a_given), b_types = value_types(b_given);
    if (std::none_of(a_types.begin(), a_types.end(), [&](const std::string& t) { return b_types.contains(t); })) return true;
    const auto values_apart = [](const std::vector<ordered_json>& x, const std::vector<ordered_json>& y) {
      // JSON Schema equality: 1 and 1.0 are equal; nlohmann compares numbers by value.
      return std::none_of(x.begin(), x.end(), [&](const ordered_json& v) { return std::find(y.begin(), y.end(), v) != y.end(); });
    };
    const auto a_values = finite_values(a_given), b_values = finite_values(b_given);
    if (a_values && b_values) return values_apart(*a_values, *b_values);
    const ordered_json& a = dereferenced(a_given);
    const ordered_json& b = dereferenced(b_given);
    const auto required = [](const ordered_json& s, const std::string& name) {
      return s.contains("required") && s["required"].is_array() &&
             std::find(s["required"].begin(), s["required"].end(), name) != s["required"].end();
    };
    if (!a.is_object() || !b.is_object() || !a.contains("properties") || !b.contains("properties") ||
        !a["properties"].is_object() || !b["properties"].is_object()) {
      return false;
    }
    for (const auto& [name, a_property] : a["properties"].items()) {
      if (!b["properties"].contains(name) || !required(a, name) || !required(b, name)) continue;
      const auto x = finite_values(a_property), y = finite_values(b["properties"][name]);
      if (x && y && values_apart(*x, *y)) return true;
    }
    return false;
  }

  // Without `type`, what the keywords present are about (none: any value).
  static std::vector<std::string> implied_types(const ordered_json& schema) {
    for (const char* key : {"properties", "additionalProperties", "required"}) {
      if (schema.contains(key)) return {"object"};
    }
    for (const char* key : {"items", "prefixItems", "minItems", "maxItems"}) {
      if (schema.contains(key)) return {"array"};
    }
    for (const char* key : {"pattern", "format", "minLength", "maxLength"}) {
      if (schema.contains(key)) return {"string"};
    }
    for (const char* key : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) {
      if (schema.contains(key)) return {"number"};
    }
    return {};
  }

  std::string of_type(const ordered_json& schema, const std::string& type, const std::string& pointer, int depth) {
    if (type == "string") return string(schema, pointer);
    if (type == "integer") return integer(schema, pointer);
    if (type == "number") return number(schema, pointer);
    if (type == "boolean") return "json-boolean";
    if (type == "null") return "json-null";
    if (type == "object") return object(shape_of(schema, pointer), pointer, depth);
    if (type == "array") return array(schema, pointer, depth);
    fail(pointer + "/type", fmt::format("unknown type '{}'", type));
  }

  static std::optional<std::size_t> count(const ordered_json& schema, const char* key, const std::string& pointer) {
    if (!schema.contains(key)) return std::nullopt;
    const ordered_json& value = schema[key];
    if (!value.is_number_integer() && !(value.is_number_float() && std::floor(value.get<double>()) == value.get<double>())) {
      fail(pointer + "/" + key, fmt::format("'{}' must be a non-negative integer", key));
    }
    const double number = value.get<double>();
    if (number < 0) fail(pointer + "/" + key, fmt::format("'{}' must be a non-negative integer", key));
    if (number > static_cast<double>(kMaxRepetition)) {
      fail(pointer + "/" + key, fmt::format("'{}' above {} is not supported", key, kMaxRepetition));
    }
    return static_cast<std::size_t>(number);
  }

  static std::string repetition(std::size_t lo, std::optional<std::size_t> hi) {
    if (hi && *hi == lo) return fmt::format("{{{}}}", lo);
    return hi ? fmt::format("{{{},{}}}", lo, *hi) : fmt::format("{{{},}}", lo);
  }

  std::string string(const ordered_json& schema, const std::string& pointer) {
    const auto min_length = count(schema, "minLength", pointer);
    const auto max_length = count(schema, "maxLength", pointer);
    const bool lengths = min_length || max_length;
    if (schema.contains("format")) {
      if (!schema["format"].is_string()) fail(pointer + "/format", "'format' must be a string");
      if (lengths || schema.contains("pattern")) fail(pointer, "'format' together with a pattern or length is not supported");
      try {
        return "\"\\\"\" " + json_schema::string_format(schema["format"].get<std::string>()) + " \"\\\"\"";
      } catch (const Unsupported& e) {
        fail(pointer + "/format", e.what());
      }
    }
    if (schema.contains("pattern")) {
      if (!schema["pattern"].is_string()) fail(pointer + "/pattern", "'pattern' must be a string");
      if (lengths) fail(pointer, "'pattern' together with minLength or maxLength is not supported");
      try {
        return "\"\\\"\" " + json_schema::string_pattern(schema["pattern"].get<std::string>()) + " \"\\\"\"";
      } catch (const Unsupported& e) {
        fail(pointer + "/pattern", e.what());
      }
    }
    if (!lengths) return "json-string";
    const std::size_t lo = min_length.value_or(0);
    if (max_length && *max_length < lo) fail(pointer, "maxLength is below minLength: no string fits");
    return "\"\\\"\" json-char" + repetition(lo, max_length) + " \"\\\"\"";
  }

  // The integral bounds of `schema` ("minimum" and "exclusiveMinimum" alike, in either draft's spelling).
  struct Bounds {
    std::optional<double> minimum, maximum;
    bool exclusive_minimum = false, exclusive_maximum = false;
  };
  static Bounds bounds(const ordered_json& schema, const std::string& pointer) {
    Bounds b;
    const auto number_at = [&](const char* key) -> std::optional<double> {
      if (!schema.contains(key)) return std::nullopt;
      if (schema[key].is_boolean()) return std::nullopt;
      if (!schema[key].is_number()) fail(pointer + "/" + key, fmt::format("'{}' must be a number", key));
      return schema[key].get<double>();
    };
    b.minimum = number_at("minimum");
    b.maximum = number_at("maximum");
    // Draft 4 wrote exclusiveMinimum: true beside minimum; later drafts give the bound itself.
    for (const auto& [key, value, exclusive] :
         {std::tuple{"exclusiveMinimum", &b.minimum, &b.exclusive_minimum}, std::tuple{"exclusiveMaximum", &b.maximum, &b.exclusive_maximum}}) {
      if (!schema.contains(key)) continue;
      if (schema[key].is_boolean()) {
        *exclusive = schema[key].get<bool>();
      } else if (const auto bound = number_at(key)) {
        const bool tighter = !*value || (std::string_view(key) == "exclusiveMinimum" ? *bound >= **value : *bound <= **value);
        if (tighter) {
          *value = bound;
          *exclusive = true;
        }
      }
    }
    return b;
  }

  static std::optional<std::int64_t> integral(std::optional<double> value, bool exclusive, bool is_minimum,
                                              const std::string& pointer) {
    if (!value) return std::nullopt;
    if (std::fabs(*value) > 1e18) fail(pointer, "an integer bound beyond 18 digits is not supported");
    double bound = is_minimum ? std::ceil(*value) : std::floor(*value);
    if (exclusive && bound == *value) bound += is_minimum ? 1 : -1;
    return static_cast<std::int64_t>(bound);
  }

  std::string integer(const ordered_json& schema, const std::string& pointer) {
    const Bounds b = bounds(schema, pointer);
    if (!b.minimum && !b.maximum) return "json-integer";
    return json_schema::integer_range(integral(b.minimum, b.exclusive_minimum, true, pointer),
                                      integral(b.maximum, b.exclusive_maximum, false, pointer));
  }

  std::string number(const ordered_json& schema, const std::string& pointer) {
    const Bounds b = bounds(schema, pointer);
    if (!b.minimum && !b.maximum) return "json-number";
    // Integral bounds from 0 up: the integer part in range, and a fraction below the maximum only.
    const auto whole = [](std::optional<double> v) { return !v || (std::floor(*v) == *v && std::fabs(*v) <= 1e18); };
    if (b.exclusive_minimum || b.exclusive_maximum || !b.minimum || *b.minimum < 0 || !whole(b.minimum) || !whole(b.maximum)) {
      fail(pointer, "bounds on a number are supported only as an integral minimum >= 0 and an integral maximum "
                    "(use type integer, or no bounds)");
    }
    const auto lo = static_cast<std::int64_t>(*b.minimum);
    const std::string fraction = "(\".\" [0-9]{1,16})?";
    if (!b.maximum) return json_schema::integer_range(lo, std::nullopt) + " " + fraction;
    const auto hi = static_cast<std::int64_t>(*b.maximum);
    if (hi < lo) fail(pointer, "the maximum is below the minimum: no number fits");
    const std::string top = json_schema::integer_range(hi, hi) + " (\".\" \"0\"{1,16})?";
    if (hi == lo) return top;
    return fmt::format("({} {} | {})", json_schema::integer_range(lo, hi - 1), fraction, top);
  }

  // The schema a $ref names: a JSON pointer inside this document ("#", "#/$defs/item", "#/items/0").
  std::pair<const ordered_json*, std::string> resolve(const ordered_json& ref, const std::string& pointer) const {
    if (!ref.is_string()) fail(pointer, "'$ref' must be a string");
    const std::string target = ref.get<std::string>();
    if (target.empty() || target[0] != '#') fail(pointer, fmt::format("the $ref '{}' is not inside this document", target));
    const std::string target_pointer = target.substr(1);
    try {
      const ordered_json::json_pointer json_pointer(target_pointer);
      if (document_.contains(json_pointer)) return {&document_.at(json_pointer), target_pointer};
    } catch (const ordered_json::exception&) {
      fail(pointer, fmt::format("the $ref '{}' is not a JSON pointer", target));
    }
    fail(pointer, fmt::format("the $ref '{}' names nothing in the document", target));
  }

  std::string reference(const ordered_json& ref, const std::string& pointer, int depth) {
    const auto [target, target_pointer] = resolve(ref, pointer);
    if (const auto known = ref_rules_.find(target_pointer); known != ref_rules_.end()) return known->second;
    const std::string name = reserve_rule(target_pointer.empty() ? "/root" : target_pointer);
    ref_rules_.emplace(target_pointer, name);
    define(name, expression(*target, target_pointer, depth + 1));
    return name;
  }

  // A schema's object keywords as a shape. A required name the properties do not declare takes the
  // additionalProperties schema (any value without one); a property whose schema is false must stay absent.
  ObjectShape shape_of(const ordered_json& schema, const std::string& pointer) {
    ObjectShape shape;
    bool closed = false;
    if (schema.contains("additionalProperties")) {
      const ordered_json& additional = schema["additionalProperties"];
      closed = additional.is_boolean() && !additional.get<bool>();
      if (!closed) {
        shape.additional = &additional;
        shape.additional_pointer = pointer + "/additionalProperties";
      }
    }
    if (schema.contains("properties")) {
      if (!schema["properties"].is_object()) fail(pointer + "/properties", "'properties' must be an object");
      for (const auto& [name, sub] : schema["properties"].items()) {
        if (sub.is_boolean() && !sub.get<bool>()) {
          shape.forbidden.push_back(name);
        } else {
          shape.properties.push_back({name, &sub, pointer + "/properties/" + pointer_token(name), false});
        }
      }
    }
    if (schema.contains("required")) {
      const ordered_json& required = schema["required"];
      if (!required.is_array()) fail(pointer + "/required", "'required' must be an array of strings");
      for (const ordered_json& name_json : required) {
        if (!name_json.is_string()) fail(pointer + "/required", "'required' must be an array of strings");
        const std::string name = name_json.get<std::string>();
        const auto known = std::find_if(shape.properties.begin(), shape.properties.end(),
                                        [&](const Property& p) { return p.name == name; });
        if (known != shape.properties.end()) {
          known->required = true;
          continue;
        }
        if (closed || std::find(shape.forbidden.begin(), shape.forbidden.end(), name) != shape.forbidden.end()) {
          fail(pointer + "/required", fmt::format("the required property '{}' is not allowed: no object fits", name));
        }
        shape.properties.push_back({name, shape.additional, shape.additional_pointer, true});
      }
    }
    if (!schema.contains("additionalProperties") && shape.properties.empty()) {
      shape.additional = &kAnyValue;  // {"type": "object"}: any object
      shape.additional_pointer = pointer;
    }
    return shape;
  }

  // allOf of object schemas (and the object keywords beside it) as one shape.
  ObjectShape merged_all_of(const ordered_json& schema, const std::string& pointer) {
    const ordered_json& branches = schema["allOf"];
    if (!branches.is_array() || branches.empty()) fail(pointer + "/allOf", "'allOf' must be a non-empty array");
    std::vector<std::pair<const ordered_json*, std::string>> parts;
    for (std::size_t i = 0; i < branches.size(); ++i) {
      std::string at = fmt::format("{}/allOf/{}", pointer, i);
      const ordered_json* branch = &branches[i];
      for (int hops = 0; branch->is_object() && branch->contains("$ref"); ++hops) {  // follow $ref chains
        if (hops > kMaxDepth) fail(at, "a $ref cycle");
        std::tie(branch, at) = resolve((*branch)["$ref"], at + "/$ref");
      }
      if (!branch->is_object()) fail(at, "allOf is supported for object schemas only");
      check_keywords(*branch, at);
      if (has_constraints_besides(*branch, {"type", "properties", "required", "additionalProperties"}) ||
          (branch->contains("type") && (*branch)["type"] != "object")) {
        fail(at, "allOf is supported for object schemas only (type, properties, required, additionalProperties)");
      }
      parts.emplace_back(branch, at);
    }
    if (has_constraints_besides(schema, {"allOf", "type", "properties", "required", "additionalProperties"})) {
      fail(pointer, "allOf beside keywords other than object ones is not supported");
    }
    parts.emplace_back(&schema, pointer);
    ObjectShape merged;
    // additionalProperties in one part (false, or a schema) also governs the properties only the others declare;
    // only declared properties are generated, so that holds when every merged property is declared by every such
    // part.
    std::vector<std::pair<const ordered_json*, std::string>> governing;
    for (const auto& [part, at] : parts) {
      ObjectShape shape = shape_of(*part, at);
      for (Property& property : shape.properties) {
        const auto same = std::find_if(merged.properties.begin(), merged.properties.end(),
                                       [&](const Property& p) { return p.name == property.name; });
        if (same == merged.properties.end()) {
          merged.properties.push_back(property);
        } else if (property.schema != nullptr && same->schema != nullptr && *property.schema != *same->schema) {
          fail(property.pointer, fmt::format("the property '{}' has two different schemas in allOf", property.name));
        } else {
          same->required = same->required || property.required;
          if (same->schema == nullptr) same->schema = property.schema, same->pointer = property.pointer;
        }
      }
      merged.forbidden.insert(merged.forbidden.end(), shape.forbidden.begin(), shape.forbidden.end());
      if (part->contains("additionalProperties") && (*part)["additionalProperties"] != true) governing.emplace_back(part, at);
    }
    for (const auto& [part, at] : governing) {
      for (const Property& property : merged.properties) {
        if (!part->contains("properties") || !(*part)["properties"].contains(property.name)) {
          fail(at + "/additionalProperties",
               fmt::format("additionalProperties here also governs the property '{}' another allOf part declares",
                           property.name));
        }
      }
    }
    for (const Property& property : merged.properties) {
      if (std::find(merged.forbidden.begin(), merged.forbidden.end(), property.name) != merged.forbidden.end()) {
        fail(property.pointer, fmt::format("the property '{}' is forbidden (false) by another allOf part", property.name));
      }
    }
    return merged;
  }

  // {"a": ..., "b": ...}: declared properties in the order written, each optional one present or not, then any
  // additional ones. first(i) is the members from property i on when none came before; rest(i) the same after a
  // member, each with its comma: O(n) rules whatever mix of required and optional properties.
  std::string object(const ObjectShape& shape, const std::string& pointer, int depth) {
    if (shape.properties.empty() && shape.forbidden.empty() && shape.additional == &kAnyValue) return "json-object";
    const std::size_t n = shape.properties.size();
    std::vector<std::string> members(n);
    for (std::size_t i = 0; i < n; ++i) {
      const Property& property = shape.properties[i];
      const std::string value = property.schema ? expression(*property.schema, property.pointer, depth + 1) : "json-value";
      members[i] = rule(pointer, fmt::format("-{}-kv", property.name),
                        gbnf_literal(ordered_json(property.name).dump()) + " \":\" ws " + value);
    }
    std::string extra_member;
    if (shape.additional != nullptr) {
      const std::string value = expression(*shape.additional, shape.additional_pointer, depth + 1);
      extra_member = rule(pointer, "-extra-kv", key_not_declared(shape, pointer) + " \":\" ws " + value);
    }
    const std::string extra_rest = extra_member.empty() ? "" : "(\",\" ws " + extra_member + " ws)*";

    std::vector<std::string> rest(n + 1);
    rest[n] = extra_rest;
    for (std::size_t i = n; i-- > 1;) {  // rest[0] would follow nothing
      const std::string member = "\",\" ws " + members[i] + " ws";
      const std::string body = shape.properties[i].required ? member + " " + rest[i + 1] : "(" + member + ")? " + rest[i + 1];
      rest[i] = rule(pointer, fmt::format("-rest-{}", i), body);
    }
    std::vector<std::string> first(n + 1);  // "" where no member can come first
    if (!extra_member.empty()) first[n] = rule(pointer, "-extra-first", extra_member + " ws " + extra_rest);
    bool any_required = false;
    for (std::size_t i = n; i-- > 0;) {
      std::string body = members[i] + " ws " + rest[i + 1];
      if (!shape.properties[i].required && !first[i + 1].empty()) body += " | " + first[i + 1];
      first[i] = rule(pointer, fmt::format("-first-{}", i), body);
      any_required = any_required || shape.properties[i].required;
    }
    if (first[0].empty()) return "\"{\" ws \"}\"";
    return "\"{\" ws " + (any_required ? first[0] : "(" + first[0] + ")?") + " \"}\"";
  }

  // A key of an additional property: a string without escapes (so that it cannot spell a declared name some other
  // way) that is none of the declared names, by a trie of those names: at each node the key may end unless the
  // node is a declared name, go on to a child, or leave the trie with any other character.
  std::string key_not_declared(const ObjectShape& shape, const std::string& pointer) {
    struct Node {
      std::map<char32_t, std::size_t> children;
      bool declared = false;
    };
    std::vector<Node> trie(1);
    std::vector<std::string> declared = shape.forbidden;
    for (const Property& property : shape.properties) declared.push_back(property.name);
    for (const std::string& name : declared) {
      std::vector<char32_t> code_points;
      bool plain = true;
      for (std::size_t i = 0; i < name.size();) {
        const auto lead = static_cast<unsigned char>(name[i]);
        const std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : 4;
        char32_t c = length == 1 ? lead : lead & (0x7F >> length);
        for (std::size_t k = 1; k < length && i + k < name.size(); ++k) c = (c << 6) | (static_cast<unsigned char>(name[i + k]) & 0x3F);
        plain = plain && c >= 0x20 && c != U'"' && c != U'\\';
        code_points.push_back(c);
        i += length;
      }
      if (!plain) continue;  // an escape-free key can never equal it
      std::size_t node = 0;
      for (const char32_t c : code_points) {
        auto [it, inserted] = trie[node].children.emplace(c, trie.size());
        if (inserted) trie.emplace_back();
        node = it->second;
      }
      trie[node].declared = true;
    }
    std::vector<std::string> names(trie.size());
    for (std::size_t i = 0; i < trie.size(); ++i) names[i] = reserve_rule(pointer, fmt::format("-extra-key-{}", i));
    for (std::size_t i = 0; i < trie.size(); ++i) {
      std::vector<std::string> options;
      if (!trie[i].declared) options.push_back("\"\\\"\"");
      std::string others = "[^\"\\\\\\x00-\\x1F";
      for (const auto& [c, child] : trie[i].children) {
        options.push_back(fmt::format("[{}] {}", json_schema::gbnf_char(c), names[child]));
        others += json_schema::gbnf_char(c);
      }
      options.push_back(others + "] json-key-char* \"\\\"\"");
      define(names[i], joined(options, " | "));
    }
    return "\"\\\"\" " + names[0];
  }

  std::string array(const ordered_json& schema, const std::string& pointer, int depth) {
    std::vector<std::string> prefix;
    const ordered_json* rest = nullptr;  // the schema of items after the prefix; nullptr: none
    std::string rest_pointer;
    const auto add_prefix = [&](const ordered_json& list, const std::string& at) {
      if (!list.is_array()) fail(at, "must be an array of schemas");
      for (std::size_t i = 0; i < list.size(); ++i) prefix.push_back(expression(list[i], fmt::format("{}/{}", at, i), depth + 1));
    };
    if (schema.contains("prefixItems")) add_prefix(schema["prefixItems"], pointer + "/prefixItems");
    if (schema.contains("items") && schema["items"].is_array()) {
      add_prefix(schema["items"], pointer + "/items");  // drafts before 2020-12: a list is the prefix
      if (schema.contains("additionalItems")) rest = &schema["additionalItems"], rest_pointer = pointer + "/additionalItems";
    } else if (schema.contains("items")) {
      rest = &schema["items"], rest_pointer = pointer + "/items";
    } else if (prefix.empty()) {
      rest = &kAnyValue, rest_pointer = pointer;
    }
    if (rest != nullptr && rest->is_boolean() && !rest->get<bool>()) rest = nullptr;
    const std::size_t min_items = count(schema, "minItems", pointer).value_or(0);
    std::optional<std::size_t> max_items = count(schema, "maxItems", pointer);
    if (max_items && *max_items < min_items) fail(pointer, "maxItems is below minItems: no array fits");
    if (rest == nullptr) max_items = std::min(max_items.value_or(prefix.size()), prefix.size());
    if (min_items > max_items.value_or(min_items)) {
      fail(pointer, fmt::format("minItems {} cannot be met: the array has {} items at most", min_items, *max_items));
    }
    if (max_items && prefix.size() > *max_items) prefix.resize(*max_items);
    const std::string item = rest ? expression(*rest, rest_pointer, depth + 1) : "";

    // Items after the prefix: between extra_min and extra_max of `item`, each after a comma.
    const std::size_t p = prefix.size();
    const std::size_t extra_min = min_items > p ? min_items - p : 0;
    const std::optional<std::size_t> extra_max = rest ? (max_items ? std::optional(*max_items - p) : std::nullopt) : std::optional<std::size_t>(0);
    std::string list;
    if (p == 0) {
      if (extra_max && *extra_max == 0) return "\"[\" ws \"]\"";
      const std::size_t more_min = extra_min > 0 ? extra_min - 1 : 0;
      const std::optional<std::size_t> more_max = extra_max ? std::optional(*extra_max - 1) : std::nullopt;
      list = item + " ws";
      if (!more_max || *more_max > 0) list += " (\",\" ws " + item + " ws)" + repetition(more_min, more_max);
      if (extra_min == 0) list = "(" + list + ")?";
    } else {
      std::string tail;
      if (!extra_max || *extra_max > 0) tail = "(\",\" ws " + item + " ws)" + repetition(extra_min, extra_max);
      list = tail;
      for (std::size_t i = p; i-- > 0;) {
        std::string part = (i == 0 ? "" : "\",\" ws ") + prefix[i] + " ws" + (list.empty() ? "" : " " + list);
        if (i >= min_items) part = "(" + part + ")?";
        list = part;
      }
    }
    return rule(pointer, "-array", "\"[\" ws " + list + " \"]\"");
  }

  static const ordered_json kAnyValue;
  const ordered_json& document_;
  bool compact_;
  std::vector<std::pair<std::string, std::string>> rules_;
  std::set<std::string> names_ = {"root", "ws", "json-char", "json-key-char", "json-string", "json-integer",
                                  "json-number", "json-boolean", "json-null", "json-value", "json-object", "json-array"};
  std::map<std::string, std::string> ref_rules_;  // $ref target pointer -> its rule
};

const ordered_json SchemaCompiler::kAnyValue = true;

// The GBNF text with `prefix` before every rule name: every word that starts with a letter outside literals
// ("..."), character classes ([...]) and repetition counts ({m,n}, digits only) is a rule name.
std::string prefix_rule_names(std::string_view gbnf, std::string_view prefix) {
  std::string out;
  out.reserve(gbnf.size() * 5 / 4);
  for (std::size_t i = 0; i < gbnf.size();) {
    const char c = gbnf[i];
    if (c == '"' || c == '[') {
      const char close = c == '"' ? '"' : ']';
      std::size_t j = i + 1;
      while (j < gbnf.size() && gbnf[j] != close) j += gbnf[j] == '\\' ? 2 : 1;
      j = std::min(j + 1, gbnf.size());
      out.append(gbnf.substr(i, j - i));
      i = j;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      std::size_t j = i;
      while (j < gbnf.size() && (std::isalnum(static_cast<unsigned char>(gbnf[j])) || gbnf[j] == '-')) ++j;
      out.append(prefix).append(gbnf.substr(i, j - i));
      i = j;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

}  // namespace

JsonSchemaError::JsonSchemaError(std::string pointer, const std::string& message)
    : GrammarError(fmt::format("JSON Schema #{}: {}", pointer, message)), pointer_(std::move(pointer)) {}

std::string json_schema_to_gbnf(std::string_view schema_json, const JsonSchemaOptions& options) {
  ordered_json schema;
  try {
    schema = ordered_json::parse(schema_json);
  } catch (const ordered_json::exception& e) {
    throw JsonSchemaError("", fmt::format("the schema is not JSON: {}", e.what()));
  }
  std::string gbnf;
  try {
    gbnf = SchemaCompiler(schema, options).compile();
  } catch (const ordered_json::exception& e) {
    // A keyword whose value has a type the compiler does not expect (each known one is checked; this is the net).
    throw JsonSchemaError("", fmt::format("a keyword has a value of the wrong type: {}", e.what()));
  }
  return options.rule_prefix.empty() ? gbnf : prefix_rule_names(gbnf, options.rule_prefix);
}

Grammar json_schema_grammar(std::string_view schema_json, const JsonSchemaOptions& options) {
  const std::string gbnf = json_schema_to_gbnf(schema_json, options);
  try {
    return Grammar::parse(gbnf);
  } catch (const JsonSchemaError&) {
    throw;
  } catch (const GrammarError& e) {
    // What the walk cannot see: a $ref cycle that consumes nothing (left recursion), a grammar too large.
    throw JsonSchemaError("", fmt::format("the schema's grammar is refused: {}", e.what()));
  }
}

Grammar json_object_grammar(const JsonSchemaOptions& options) {
  return json_schema_grammar(R"({"type": "object"})", options);
}

}  // namespace hearth::grammar
