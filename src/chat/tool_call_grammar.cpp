// The grammar of a reply made only of tool calls: the syntax's call pattern with each placeholder made concrete
// per tool (its name as a literal, its parameter schema's grammar for the arguments).
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "chat/reply_pattern.h"
#include "hearth/json_schema.h"
#include "hearth/tool_calls.h"

namespace hearth::chat {
namespace {

using json = nlohmann::ordered_json;
using Kind = PatternPiece::Kind;

std::string quote(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += fmt::format("\\{}", c);
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else out += c;
  }
  return out + "\"";
}

// The schema's grammar with every rule under `prefix`; its start rule is PREFIX + "root".
std::string schema_rules(const json& schema, const std::string& prefix, std::string_view tool) {
  grammar::JsonSchemaOptions options;
  options.rule_prefix = prefix;
  try {
    return grammar::json_schema_to_gbnf(schema.dump(), options);
  } catch (const grammar::JsonSchemaError& e) {
    throw grammar::JsonSchemaError(e.pointer(), fmt::format("the parameters of tool '{}': {}", tool, e.what()));
  }
}

class CallGrammar {
 public:
  explicit CallGrammar(const ReplySyntax& syntax) : call_(parse_pattern(syntax.call)) {
    if (!syntax.parameter.empty()) parameter_ = parse_pattern(syntax.parameter);
  }

  // The rule for a call of tool number `index`; its helper rules go to rules(). `after_trigger`: without the
  // pattern's first literal (or a JSON call's opening brace), which the model has written already.
  std::string call_rule(std::size_t index, const json& function, bool after_trigger) {
    const std::string name = function.at("name").get<std::string>();
    const auto found = function.find("parameters");
    const json parameters = found != function.end() && found->is_object() ? *found : json{{"type", "object"}};
    const std::string prefix = fmt::format("tool{}-", index);
    std::string body;
    for (std::size_t i = 0; i < call_.size(); ++i) {
      const PatternPiece& piece = call_[i];
      const bool written = after_trigger && i == 0;
      if (written && piece.kind == Kind::literal) continue;
      if (!body.empty()) body += ' ';
      switch (piece.kind) {
        case Kind::literal: body += quote(piece.text); break;
        case Kind::ws: body += "call-ws"; break;
        case Kind::name: body += quote(name); break;
        case Kind::id: body += "[a-zA-Z0-9]{9}"; break;
        case Kind::skip: body += "[a-z0-9]{1,8}"; break;
        case Kind::args:
          rules_ += schema_rules(parameters, prefix, name);
          body += prefix + "root";
          break;
        case Kind::call:
          rules_ += schema_rules(parameters, prefix, name);
          body += fmt::format("{} call-ws {} call-ws \":\" call-ws {} call-ws \",\" call-ws {} call-ws \":\" call-ws {}root call-ws \"}}\"",
                              written ? "" : "\"{\"", quote(json(piece.text).dump()), quote(json(name).dump()),
                              quote(json(piece.args_key).dump()), prefix);
          break;
        case Kind::params: body += parameter_rules(parameters, prefix, name); break;
        case Kind::key: case Kind::value: throw std::logic_error("reply pattern: {key}/{value} outside a parameter");
      }
    }
    const std::string rule = fmt::format("call{}", index);
    rules_ += fmt::format("{} ::= {}\n", rule, body);
    return rule;
  }

  const std::string& rules() const { return rules_; }

 private:
  // Each declared parameter in the order written, the required ones always; a string's value is text, any other
  // value JSON under its own schema.
  std::string parameter_rules(const json& parameters, const std::string& prefix, const std::string& tool) {
    const auto properties = parameters.find("properties");
    if (properties == parameters.end() || !properties->is_object()) return "";
    const auto required_list = parameters.find("required");
    std::string out;
    std::size_t n = 0;
    for (const auto& [key, schema] : properties->items()) {
      const bool required = required_list != parameters.end() && required_list->is_array() &&
                            std::find(required_list->begin(), required_list->end(), key) != required_list->end();
      const bool is_string = schema.is_object() && schema.contains("type") && schema["type"] == "string" &&
                             !schema.contains("enum") && !schema.contains("const");
      std::string value = "call-text";
      if (!is_string) {
        const std::string value_prefix = fmt::format("{}p{}-", prefix, n);
        rules_ += schema_rules(schema, value_prefix, tool);
        value = value_prefix + "root";
      }
      std::string one;
      for (const PatternPiece& piece : parameter_) {
        if (!one.empty()) one += ' ';
        switch (piece.kind) {
          case Kind::literal: one += quote(piece.text); break;
          case Kind::ws: one += "call-ws"; break;
          case Kind::key: one += quote(key); break;
          case Kind::value: one += value; break;
          case Kind::skip: one += is_string ? "\"true\"" : "\"false\""; break;  // DeepSeek's string="true|false"
          default: throw std::logic_error("reply pattern: unexpected placeholder in a parameter");
        }
      }
      out += required ? fmt::format("({}) ", one) : fmt::format("({})? ", one);
      ++n;
    }
    return out;
  }

  std::vector<PatternPiece> call_;
  std::vector<PatternPiece> parameter_;
  std::string rules_;
};

// The calls' grammar; `after_trigger`: the text after what triggered_tool_call_grammar() watches for.
std::string calls_gbnf(const ReplySyntax& syntax, const json& tools, std::optional<std::string_view> function,
                       bool parallel, std::string_view opening, bool after_trigger) {
  if (!tools.is_array() || tools.empty()) throw std::invalid_argument("tool calls need at least one tool");
  CallGrammar grammar(syntax);
  // Without a section, a trigger opens one call (each call has its own).
  const bool one_call_after_trigger = after_trigger && syntax.section_open.empty();
  std::string alternatives;
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const auto found = tools[i].find("function");
    if (found == tools[i].end() || !found->is_object() || !found->contains("name") || !(*found)["name"].is_string()) {
      throw std::invalid_argument(fmt::format("tool {} has no function name", i));
    }
    if (function && (*found)["name"].get<std::string>() != *function) continue;
    alternatives += (alternatives.empty() ? "" : " | ") + grammar.call_rule(i, *found, one_call_after_trigger);
  }
  if (alternatives.empty()) throw std::invalid_argument(fmt::format("no tool is named '{}'", function.value_or("")));
  const std::string separator = syntax.json_list ? "call-ws \",\" call-ws" : "call-ws";
  // A bare-JSON syntax has one call per reply (Llama 3's templates refuse more).
  const bool many = parallel && !syntax.call_only_at_start && !one_call_after_trigger;
  std::string calls = many ? fmt::format("call ({} call)*", separator) : "call";
  if (syntax.json_list) calls = fmt::format("\"[\" {} \"]\"", calls);
  std::string root = calls;
  if (!syntax.section_open.empty() && !after_trigger) root = quote(syntax.section_open) + " " + root;
  if (!syntax.section_close.empty()) root += " " + quote(syntax.section_close);
  if (!opening.empty()) root = quote(opening) + " call-ws " + root;
  return fmt::format("root ::= {}\ncall ::= {}\n{}call-ws ::= [ \\n]{{0,2}}\ncall-text ::= [^<]*\n", root, alternatives,
                     grammar.rules());
}

}  // namespace

std::string tool_call_gbnf(const ReplySyntax& syntax, const json& tools, std::optional<std::string_view> function,
                           bool parallel, std::string_view opening) {
  return calls_gbnf(syntax, tools, function, parallel, opening, false);
}

TriggeredToolGrammar triggered_tool_call_grammar(const ReplySyntax& syntax, const json& tools, bool parallel) {
  TriggeredToolGrammar triggered;
  const std::vector<PatternPiece> call = parse_pattern(syntax.call);
  if (!syntax.section_open.empty()) triggered.trigger = syntax.section_open;
  else if (call.front().kind == Kind::literal) triggered.trigger = call.front().text;
  else triggered.trigger = "{";  // a bare JSON call
  triggered.at_start = syntax.call_only_at_start;
  triggered.grammar = grammar::Grammar::parse(calls_gbnf(syntax, tools, std::nullopt, parallel, {}, true));
  return triggered;
}

grammar::Grammar tool_call_grammar(const ReplySyntax& syntax, const json& tools, std::optional<std::string_view> function,
                                   bool parallel, std::string_view opening) {
  return grammar::Grammar::parse(tool_call_gbnf(syntax, tools, function, parallel, opening));
}

}  // namespace hearth::chat
