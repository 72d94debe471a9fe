#include "chat/reply_pattern.h"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>

namespace hearth::chat {
namespace {

using json = nlohmann::ordered_json;
using Kind = PatternPiece::Kind;

// complete: matched, ending where the scan stopped; incomplete: the text ended inside (more may make it match);
// invalid: it cannot match whatever follows.
enum class Outcome { complete, incomplete, invalid };

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }
bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.';
}

// Compact JSON text; bytes that are not UTF-8 (a parameter written as raw text may hold any) become U+FFFD.
std::string compact(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// What of `raw` is released: trimmed at both ends (a text that may still grow holds back its trailing whitespace,
// which may turn out to be the end).
std::string released(std::string_view raw) { return std::string(trim(raw)); }

// The longest suffix of `text` that is a proper prefix of `marker`.
std::size_t held_suffix(std::string_view text, std::string_view marker) {
  for (std::size_t n = std::min(text.size(), marker.size() - 1); n > 0; --n) {
    if (marker.starts_with(text.substr(text.size() - n))) return n;
  }
  return 0;
}

class ReplyScanner {
 public:
  ReplyScanner(const ReplySyntax& syntax, const json& tools, std::string_view text, bool final)
      : syntax_(syntax), tools_(tools), text_(text), final_(final), call_(parse_pattern(syntax.call)) {
    if (!syntax.parameter.empty()) parameter_ = parse_pattern(syntax.parameter);
    if (!tools.empty()) {
      if (!syntax.section_open.empty()) trigger_ = syntax.section_open;
      else if (call_.front().kind == Kind::literal) trigger_ = call_.front().text;
      else trigger_ = "{";  // a bare JSON call (only at the start of the reply)
    }
  }

  Reply scan(bool in_reasoning) {
    Reply reply;
    std::string content;
    std::string reasoning;
    std::size_t pos = 0;
    if (!syntax_.reasoning_open.empty()) {
      const std::size_t first = first_non_space(0);
      const std::string_view rest = text_.substr(first);
      if (!in_reasoning && rest.starts_with(syntax_.reasoning_open)) {
        in_reasoning = true;
        pos = first + syntax_.reasoning_open.size();
      } else if (!in_reasoning && !final_ && syntax_.reasoning_open.starts_with(rest)) {
        return reply;  // it may be the opening tag
      }
      if (in_reasoning) {
        const std::size_t close = text_.find(syntax_.reasoning_close, pos);
        if (close == std::string_view::npos) {
          std::string_view body = text_.substr(pos);
          if (!final_) body.remove_suffix(held_suffix(body, syntax_.reasoning_close));
          reply.reasoning = released(body);
          return reply;
        }
        reasoning = text_.substr(pos, close - pos);
        pos = close + syntax_.reasoning_close.size();
      }
    }
    while (pos < text_.size()) {
      const std::optional<std::size_t> start = next_trigger(pos, content, reply.calls.empty());
      if (!start) {
        std::string_view tail = text_.substr(pos);
        if (!final_ && !trigger_.empty()) tail.remove_suffix(held_suffix(tail, trigger_));
        content.append(tail);
        break;
      }
      content.append(text_.substr(pos, *start - pos));
      std::size_t end = *start;
      const Outcome outcome = calls_at(end, reply.calls);
      if (outcome == Outcome::incomplete) break;  // held back until the text goes on (only when not final)
      if (outcome == Outcome::complete) {
        pos = end;
      } else {
        content.append(trigger_);
        pos = *start + trigger_.size();
      }
    }
    reply.content = released(content);
    reply.reasoning = released(reasoning);
    return reply;
  }

 private:
  static bool only_space(std::string_view s) { return trim(s).empty(); }

  std::size_t first_non_space(std::size_t pos) const {
    while (pos < text_.size() && is_space(text_[pos])) ++pos;
    return pos;
  }

  std::optional<std::size_t> next_trigger(std::size_t pos, std::string_view content, bool no_calls_yet) const {
    if (trigger_.empty()) return std::nullopt;
    if (syntax_.call_only_at_start) {
      if (!no_calls_yet || !only_space(content)) return std::nullopt;
      const std::size_t first = first_non_space(pos);
      if (first < text_.size() && text_.substr(first).starts_with(trigger_)) return first;
      return std::nullopt;
    }
    const std::size_t found = text_.find(trigger_, pos);
    if (found == std::string_view::npos) return std::nullopt;
    return found;
  }

  // The calls starting at `pos`: one, or a section of them. Complete calls are added to `calls` even when the
  // section around them is incomplete (they are certain: a section ends at its last good call).
  Outcome calls_at(std::size_t& pos, std::vector<ToolCall>& calls) {
    if (syntax_.section_open.empty()) {
      std::size_t p = pos;
      ToolCall call;
      const Outcome outcome = one_call(p, call);
      if (outcome == Outcome::complete) {
        calls.push_back(std::move(call));
        pos = p;
      }
      return outcome;
    }
    std::size_t p = pos;
    if (const Outcome o = literal(p, syntax_.section_open); o != Outcome::complete) return o;
    p = first_non_space(p);
    if (p == text_.size()) return final_ ? Outcome::invalid : Outcome::incomplete;
    const bool list = text_[p] == '[';
    if (list) ++p;
    std::size_t found = 0;
    while (true) {
      p = first_non_space(p);
      std::size_t q = p;
      ToolCall call;
      const Outcome outcome = one_call(q, call);
      if (outcome == Outcome::incomplete) return Outcome::incomplete;
      if (outcome == Outcome::invalid) break;
      calls.push_back(std::move(call));
      ++found;
      p = first_non_space(q);
      pos = p;  // the section holds at least this much
      if (p == text_.size()) return final_ ? Outcome::complete : Outcome::incomplete;
      if (list && text_[p] == ',') ++p;
    }
    if (found == 0) return Outcome::invalid;
    if (list && p < text_.size() && text_[p] == ']') p = first_non_space(p + 1);
    if (!syntax_.section_close.empty()) {
      std::size_t q = p;
      const Outcome close = literal(q, syntax_.section_close);
      if (close == Outcome::incomplete) return Outcome::incomplete;
      if (close == Outcome::complete) p = q;
    }
    pos = p;
    return Outcome::complete;
  }

  Outcome one_call(std::size_t& pos, ToolCall& call) {
    json arguments = json::object();
    const Outcome outcome = match(call_, pos, call, arguments);
    if (outcome != Outcome::complete) return outcome;
    if (!arguments.empty() || call.arguments.empty()) call.arguments = compact(arguments);
    return known_tool(call.name) ? Outcome::complete : Outcome::invalid;
  }

  Outcome literal(std::size_t& pos, std::string_view text) const {
    const std::string_view rest = text_.substr(pos);
    if (rest.starts_with(text)) {
      pos += text.size();
      return Outcome::complete;
    }
    if (text.starts_with(rest)) return final_ ? Outcome::invalid : Outcome::incomplete;
    return Outcome::invalid;
  }

  Outcome ended() const { return final_ ? Outcome::invalid : Outcome::incomplete; }

  // Where the JSON value that starts at `pos` ends (after its closing brace).
  Outcome json_object_end(std::size_t pos, std::size_t& end) const {
    if (pos >= text_.size()) return ended();
    if (text_[pos] != '{') return Outcome::invalid;
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = pos; i < text_.size(); ++i) {
      const char c = text_[i];
      if (in_string) {
        if (c == '\\') ++i;
        else if (c == '"') in_string = false;
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) {
          end = i + 1;
          return Outcome::complete;
        }
      }
    }
    return ended();
  }

  static std::optional<json> object_from(std::string_view text) {
    json value = json::parse(text, nullptr, false);
    if (value.is_discarded() || !value.is_object()) return std::nullopt;
    return value;
  }

  // `arguments`: filled by {params}; {args} and {call} set call.arguments directly.
  Outcome match(const std::vector<PatternPiece>& pieces, std::size_t& pos, ToolCall& call, json& arguments) {
    std::string key;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      const PatternPiece& piece = pieces[i];
      switch (piece.kind) {
        case Kind::literal:
          if (const Outcome o = literal(pos, piece.text); o != Outcome::complete) return o;
          break;
        case Kind::ws:
          pos = first_non_space(pos);
          break;
        case Kind::name: {
          std::size_t end = pos;
          while (end < text_.size() && is_name_char(text_[end])) ++end;
          if (end == text_.size()) return ended();
          if (end == pos) return Outcome::invalid;
          call.name = text_.substr(pos, end - pos);
          pos = end;
          break;
        }
        case Kind::id: case Kind::skip: case Kind::key: case Kind::value: {
          const std::string_view until = pieces[i + 1].text;  // parse_pattern makes sure a literal follows
          const std::size_t end = text_.find(until, pos);
          if (end == std::string_view::npos) return ended();
          const std::string_view found = text_.substr(pos, end - pos);
          if (piece.kind == Kind::id) call.id = found;
          if (piece.kind == Kind::key) key = trim(found);
          if (piece.kind == Kind::value) arguments[key] = parameter_value(call.name, key, found);
          pos = end;
          break;
        }
        case Kind::args: case Kind::call: {
          const std::size_t start = first_non_space(pos);
          std::size_t end = 0;
          if (const Outcome o = json_object_end(start, end); o != Outcome::complete) return o;
          std::optional<json> object = object_from(text_.substr(start, end - start));
          if (!object) return Outcome::invalid;
          pos = end;
          if (piece.kind == Kind::args) {
            call.arguments = compact(*object);
            break;
          }
          const auto name = object->find(piece.text);
          const auto args = object->find(piece.args_key);
          if (name == object->end() || !name->is_string() || args == object->end()) return Outcome::invalid;
          call.name = name->get<std::string>();
          std::optional<json> args_object = args->is_string() ? object_from(args->get<std::string>())
                                                              : (args->is_object() ? std::optional(*args) : std::nullopt);
          if (!args_object) return Outcome::invalid;
          call.arguments = compact(*args_object);
          if (const auto id = object->find("id"); id != object->end() && id->is_string()) call.id = id->get<std::string>();
          break;
        }
        case Kind::params:
          while (true) {
            std::size_t p = pos;
            json one = json::object();
            const Outcome o = match(parameter_, p, call, one);
            if (o == Outcome::incomplete) return o;
            if (o == Outcome::invalid) break;
            for (auto& [k, v] : one.items()) arguments[k] = v;
            pos = p;
          }
          break;
      }
    }
    return Outcome::complete;
  }

  const json* tool_function(std::string_view name) const {
    for (const json& tool : tools_) {
      const auto function = tool.find("function");
      if (function == tool.end() || !function->is_object()) continue;
      const auto tool_name = function->find("name");
      if (tool_name != function->end() && tool_name->is_string() && tool_name->get<std::string>() == name) return &*function;
    }
    return nullptr;
  }

  bool known_tool(std::string_view name) const { return tool_function(name) != nullptr; }

  // A parameter written as text: JSON where the tool's schema says it is not a string, else the text itself (one
  // newline either side is layout, not value).
  json parameter_value(std::string_view function_name, const std::string& key, std::string_view text) const {
    if (text.starts_with('\n')) text.remove_prefix(1);
    if (text.ends_with('\n')) text.remove_suffix(1);
    bool is_string = true;
    if (const json* function = tool_function(function_name)) {
      const json* type = nullptr;
      if (const auto parameters = function->find("parameters"); parameters != function->end() && parameters->is_object()) {
        if (const auto properties = parameters->find("properties"); properties != parameters->end() && properties->is_object()) {
          if (const auto property = properties->find(key); property != properties->end() && property->is_object()) {
            if (const auto t = property->find("type"); t != property->end()) type = &*t;
          }
        }
      }
      if (type != nullptr) {
        is_string = type->is_string() ? type->get<std::string>() == "string"
                                      : (type->is_array() && std::find(type->begin(), type->end(), "string") != type->end());
      }
    }
    if (!is_string) {
      json value = json::parse(text, nullptr, false);
      if (!value.is_discarded()) return value;
      // Templates that print arguments with Python's str() teach models to write these.
      if (text == "True" || text == "False") return text == "True";
      if (text == "None") return nullptr;
    }
    return std::string(text);
  }

  const ReplySyntax& syntax_;
  const json& tools_;
  std::string_view text_;
  bool final_;
  std::vector<PatternPiece> call_;
  std::vector<PatternPiece> parameter_;
  std::string_view trigger_;  // where a call (or a section of calls) may begin; empty without tools
};

}  // namespace

std::vector<PatternPiece> parse_pattern(std::string_view pattern) {
  std::vector<PatternPiece> pieces;
  while (!pattern.empty()) {
    const std::size_t open = pattern.find('{');
    if (open != 0) {
      pieces.push_back({Kind::literal, pattern.substr(0, open), {}});
      if (open == std::string_view::npos) break;
      pattern.remove_prefix(open);
      continue;
    }
    const std::size_t close = pattern.find('}');
    if (close == std::string_view::npos) throw std::logic_error("reply pattern: unclosed placeholder");
    const std::string_view body = pattern.substr(1, close - 1);
    pattern.remove_prefix(close + 1);
    if (body.starts_with("call ")) {
      const std::string_view keys = body.substr(5);
      const std::size_t space = keys.find(' ');
      if (space == std::string_view::npos) throw std::logic_error("reply pattern: {call NAME_KEY ARGS_KEY}");
      pieces.push_back({Kind::call, keys.substr(0, space), keys.substr(space + 1)});
      continue;
    }
    static const std::pair<std::string_view, Kind> kNames[] = {
        {"ws", Kind::ws}, {"name", Kind::name}, {"args", Kind::args}, {"params", Kind::params},
        {"id", Kind::id}, {"skip", Kind::skip}, {"key", Kind::key},   {"value", Kind::value}};
    const auto* named = std::find_if(std::begin(kNames), std::end(kNames), [&](const auto& n) { return n.first == body; });
    if (named == std::end(kNames)) throw std::logic_error("reply pattern: unknown placeholder {" + std::string(body) + "}");
    pieces.push_back({named->second, {}, {}});
  }
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const Kind kind = pieces[i].kind;
    const bool runs_to_literal = kind == Kind::id || kind == Kind::skip || kind == Kind::key || kind == Kind::value;
    if (runs_to_literal && (i + 1 == pieces.size() || pieces[i + 1].kind != Kind::literal)) {
      throw std::logic_error("reply pattern: {id}, {skip}, {key} and {value} must be followed by literal text");
    }
  }
  return pieces;
}

Reply scan_reply(const ReplySyntax& syntax, const json& tools, std::string_view text, bool in_reasoning, bool final) {
  if (syntax.dropped.front().empty()) return ReplyScanner(syntax, tools, text, final).scan(in_reasoning);
  // The text without the dropped markers; a text that may grow holds back an end that may begin one. The reasoning
  // block's own markers are kept where they are dropped elsewhere (gpt-oss ends reasoning with "<|end|>").
  std::string kept;
  kept.reserve(text.size());
  // Only a reply that opens with reasoning (or whose prompt opened it) has a closing marker to keep.
  const std::string_view start = trim(text);
  const bool opens = !syntax.reasoning_open.empty() &&
                     (in_reasoning || start.starts_with(syntax.reasoning_open) || syntax.reasoning_open.starts_with(start));
  bool reasoning_closed = !opens;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t next = std::string_view::npos;
    std::string_view marker;
    for (const std::string_view dropped : syntax.dropped) {
      if (dropped.empty()) continue;
      if (!reasoning_closed && dropped == syntax.reasoning_close) continue;
      const std::size_t found = text.find(dropped, at);
      if (found < next) next = found, marker = dropped;
    }
    const std::size_t close = reasoning_closed ? std::string_view::npos : text.find(syntax.reasoning_close, at);
    if (close != std::string_view::npos && close <= next) {
      kept.append(text.substr(at, close + syntax.reasoning_close.size() - at));
      at = close + syntax.reasoning_close.size();
      reasoning_closed = true;
      continue;
    }
    if (next == std::string_view::npos) {
      std::string_view tail = text.substr(at);
      if (!final) {
        std::size_t held = 0;
        for (const std::string_view dropped : syntax.dropped) {
          if (!dropped.empty()) held = std::max(held, held_suffix(tail, dropped));
        }
        tail.remove_suffix(held);
      }
      kept.append(tail);
      break;
    }
    kept.append(text.substr(at, next - at));
    at = next + marker.size();
  }
  return ReplyScanner(syntax, tools, kept, final).scan(in_reasoning);
}

}  // namespace hearth::chat
