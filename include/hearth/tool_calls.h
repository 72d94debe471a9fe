// Tool calls and reasoning in a model's reply: which syntax a model family writes them in (detected from its chat
// template), parsing a reply into content, reasoning and calls (whole, or as it streams), and the grammar that makes
// a model write a call.
//
//   const auto& syntax = hearth::chat::detect_reply_syntax(template_source);
//   hearth::chat::ReplyParser parser(syntax, tools);
//   for (each piece of generated text) send(parser.push(piece));   // content, reasoning and finished calls so far
//   send(parser.finish());                                        // a call left open becomes content
//
// A call's syntax is a pattern: literal text and placeholders:
//   {name}        the function's name            {args}   its arguments, a JSON object
//   {call NK AK}  a JSON object with the name under key NK and the arguments (an object, or a string holding one)
//                 under AK; an "id" member, when present, is the call's id
//   {params}      the arguments as a run of `parameter` patterns, each with {key} and {value}: the value is taken
//                 as JSON where the tool's schema says the parameter is not a string, else as text
//   {id}          the call's id                   {skip}   text that carries nothing (an index, an attribute)
//   {ws}          optional whitespace
// A placeholder other than {args}/{call}/{ws} runs to the next literal. Calls may sit in a section (an opening and a
// closing marker around all of them); inside a section a JSON list ("[", calls separated by ",", "]") is accepted.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "hearth/grammar.h"

namespace hearth::chat {

struct ReplySyntax {
  std::string_view name = {};               // "hermes", "llama-3-json", ...: shown in logs and errors
  std::string_view marker = {};             // text of the chat template that identifies the family ("" for the default)
  std::string_view section_open = {};       // around all calls, or empty
  std::string_view section_close = {};
  std::string_view call = {};               // one call (the pattern language above)
  std::string_view parameter = {};          // one parameter for {params}, or empty
  std::string_view reasoning_open = {};     // reasoning text, e.g. "<think>" ... "</think>"; empty: none
  std::string_view reasoning_close = {};
  bool call_only_at_start = false;     // a call is recognised only at the start of the reply (bare-JSON syntaxes)
  bool json_list = false;              // the section holds a JSON list of calls ("[" call "," call "]")
  // Markers that carry nothing for the reader, removed wherever they are (gpt-oss's "<|start|>assistant", Llama's
  // "<|python_tag|>" before a JSON call).
  std::array<std::string_view, 4> dropped = {};
};

// Every syntax Hearth knows, in the order detection tries their markers.
const std::vector<ReplySyntax>& reply_syntaxes();
// The syntax of the family whose template this is: the first whose marker the template contains (families that
// mark reasoning with <think> get those tags); the default where no marker matches.
ReplySyntax detect_reply_syntax(std::string_view template_source);

struct ToolCall {
  std::string id;         // from the reply where the syntax carries one, else empty (the caller names it)
  std::string name;
  std::string arguments;  // a JSON object, compact, in the order written
  bool operator==(const ToolCall&) const = default;
};

struct Reply {
  std::string content;    // the text outside calls and reasoning, whitespace trimmed at both ends
  std::string reasoning;  // the reasoning text, trimmed
  std::vector<ToolCall> calls;
};

// What became certain since the last push: text to append to content and reasoning, and calls now complete.
struct ReplyDelta {
  std::string content;
  std::string reasoning;
  std::vector<ToolCall> calls;
  bool empty() const { return content.empty() && reasoning.empty() && calls.empty(); }
};

class ReplyParser {
 public:
  // `tools`: the request's OpenAI tools ([{"type": "function", "function": {"name", "parameters"}}]); a call of a
  // function not among them (when there are any) is not a call but content. `in_reasoning`: the prompt already
  // opened the reasoning block (a template whose generation prompt ends with "<think>").
  ReplyParser(ReplySyntax syntax, const nlohmann::ordered_json& tools, bool in_reasoning = false);

  ReplyDelta push(std::string_view text);
  // The end of the reply: what was held back (a possible marker, an unfinished call) is released as content.
  ReplyDelta finish();
  const Reply& reply() const { return reply_; }

 private:
  ReplyDelta update(bool final);

  ReplySyntax syntax_;
  nlohmann::ordered_json tools_;
  bool in_reasoning_;
  std::string text_;
  Reply reply_;  // what has been released so far
};

// The whole reply at once (as push(text) then finish()).
Reply parse_reply(const ReplySyntax& syntax, std::string_view text, const nlohmann::ordered_json& tools,
                  bool in_reasoning = false);

// The grammar of a reply that is nothing but calls in `syntax`, each of a function among `tools` with arguments
// that follow its parameter schema (the JSON Schema grammar). `function`: only that one (a named tool_choice);
// `parallel`: one call or more, else exactly one (always one for a call_only_at_start syntax). Throws std::invalid_argument (no such function, no tools) and
// grammar::JsonSchemaError (a parameter schema it cannot follow, naming the tool).
// `opening`: literal text before the calls (e.g. "</think>" where the prompt opened a reasoning block).
std::string tool_call_gbnf(const ReplySyntax& syntax, const nlohmann::ordered_json& tools,
                           std::optional<std::string_view> function, bool parallel, std::string_view opening = {});
grammar::Grammar tool_call_grammar(const ReplySyntax& syntax, const nlohmann::ordered_json& tools,
                                   std::optional<std::string_view> function, bool parallel,
                                   std::string_view opening = {});

// For tool_choice "auto": the text a call (or a section of calls) opens with, and the grammar of what follows it,
// ending where the call (or section) does; `at_start`: only as the reply's first text. Throws as tool_call_gbnf.
struct TriggeredToolGrammar {
  std::string trigger;
  grammar::Grammar grammar = grammar::Grammar::parse("root ::= \"\"");
  bool at_start = false;
};
TriggeredToolGrammar triggered_tool_call_grammar(const ReplySyntax& syntax, const nlohmann::ordered_json& tools,
                                                 bool parallel);

}  // namespace hearth::chat
