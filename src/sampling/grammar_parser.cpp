// GBNF text to compiled rules. A recursive-descent parser over the text (positions kept for line:column errors),
// then a compilation step: groups and repetitions become generated rules, references are resolved, and left
// recursion (which a top-down recognizer could not finish) is refused naming the rule.
#include <algorithm>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "hearth/grammar.h"
#include "sampling/grammar_rules.h"

namespace hearth::grammar {
namespace {

// One element of a sequence while parsing: a character set or a rule named (resolved once every rule is known).
struct ParsedElement {
  Element element;
  std::string rule_name;  // kind == rule: the rule, possibly not defined yet
  std::size_t offset = 0; // where it was written, for "undefined rule" errors
};
using Sequence = std::vector<ParsedElement>;
using Alternatives = std::vector<Sequence>;

bool valid_utf8(std::string_view text, std::size_t& bad_offset) {
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
    if (length == 0 || i + length > text.size()) {
      bad_offset = i;
      return false;
    }
    for (std::size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) {
        bad_offset = i;
        return false;
      }
    }
    i += length;
  }
  return true;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  CompiledRules parse() {
    if (std::size_t bad = 0; !valid_utf8(text_, bad)) fail_at(bad, "invalid UTF-8 in the grammar text");
    skip_space(true);
    while (pos_ < text_.size()) {
      parse_rule();
      skip_space(true);
    }
    if (rules_.empty()) fail_at(pos_, "the grammar is empty (it defines no rule)");
    return compile();
  }

 private:
  [[noreturn]] void fail_at(std::size_t offset, std::string_view message) const {
    std::size_t line = 1;
    std::size_t column = 1;
    for (std::size_t i = 0; i < offset && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) {
        ++column;  // columns count characters, not bytes
      }
    }
    throw GrammarError(fmt::format("grammar: line {}, column {}: {}", line, column, message));
  }
  [[noreturn]] void fail(std::string_view message) const { fail_at(pos_, message); }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek(std::size_t ahead = 0) const { return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0'; }

  // Spaces, tabs and comments; newlines too where a rule continues (inside parentheses, after ::= and |).
  void skip_space(bool newlines) {
    while (!at_end()) {
      const char c = peek();
      if (c == '#') {
        while (!at_end() && peek() != '\n') ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\r' || (newlines && c == '\n')) {
        ++pos_;
      } else {
        return;
      }
    }
  }

  static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  }

  std::string parse_name() {
    const std::size_t start = pos_;
    while (!at_end() && name_char(peek())) ++pos_;
    if (pos_ == start) fail("expected a rule name");
    return std::string(text_.substr(start, pos_ - start));
  }

  void parse_rule() {
    const std::size_t start = pos_;
    std::string name = parse_name();
    skip_space(false);
    if (text_.substr(pos_, 3) != "::=") fail(fmt::format("expected '::=' after rule name '{}'", name));
    pos_ += 3;
    skip_space(true);
    Alternatives alternatives = parse_alternatives(0);
    if (!at_end() && peek() != '\n') fail(fmt::format("unexpected '{}' in rule '{}'", peek(), name));
    if (rule_index_.count(name) > 0 && defined_[rule_index_[name]]) fail_at(start, fmt::format("rule '{}' is defined twice", name));
    const std::uint32_t index = rule_id(name);
    rules_[index] = std::move(alternatives);
    defined_[index] = true;
  }

  std::uint32_t rule_id(const std::string& name) {
    const auto [it, inserted] = rule_index_.emplace(name, static_cast<std::uint32_t>(rules_.size()));
    if (inserted) {
      rules_.emplace_back();
      names_.push_back(name);
      defined_.push_back(false);
    }
    return it->second;
  }

  std::uint32_t generated_rule(std::string_view base, Alternatives alternatives) {
    const std::uint32_t index = rule_id(fmt::format("{}-{}", base, rules_.size()));
    rules_[index] = std::move(alternatives);
    defined_[index] = true;
    return index;
  }

  Alternatives parse_alternatives(std::size_t depth) {
    if (depth > kMaxNesting) fail(fmt::format("groups nested deeper than {}", kMaxNesting));
    Alternatives alternatives;
    alternatives.push_back(parse_sequence(depth));
    while (peek() == '|') {
      ++pos_;
      skip_space(true);
      alternatives.push_back(parse_sequence(depth));
    }
    return alternatives;
  }

  void count_elements(std::size_t n) {
    expanded_ += n;
    if (expanded_ > kMaxExpandedElements) {
      fail(fmt::format("the grammar expands to more than {} elements (repetition counts too large?)",
                       kMaxExpandedElements));
    }
  }

  ParsedElement reference(std::uint32_t rule) const {
    ParsedElement element;
    element.element.kind = Element::Kind::rule;
    element.element.rule = rule;
    element.rule_name = names_[rule];
    return element;
  }

  Sequence parse_sequence(std::size_t depth) {
    const bool nested = depth > 0;
    Sequence sequence;
    std::size_t last_start = 0;  // where the last item of `sequence` begins (a postfix operator repeats it)
    while (!at_end()) {
      const char c = peek();
      const std::size_t item_offset = pos_;
      if (c == '"') {
        last_start = sequence.size();
        parse_literal(sequence);
      } else if (c == '[') {
        last_start = sequence.size();
        sequence.push_back(parse_class());
      } else if (c == '.') {
        ++pos_;
        last_start = sequence.size();
        ParsedElement any;
        any.element.kind = Element::Kind::characters;
        any.element.negated = true;
        sequence.push_back(std::move(any));
        count_elements(1);
      } else if (c == '(') {
        ++pos_;
        skip_space(true);
        Alternatives inner = parse_alternatives(depth + 1);
        if (peek() != ')') fail("expected ')'");
        ++pos_;
        last_start = sequence.size();
        sequence.push_back(reference(generated_rule("group", std::move(inner))));
        count_elements(1);
      } else if (name_char(c)) {
        last_start = sequence.size();
        ParsedElement element;
        element.element.kind = Element::Kind::rule;
        element.offset = item_offset;
        element.rule_name = parse_name();
        sequence.push_back(std::move(element));
        count_elements(1);
      } else if (c == '<') {
        fail("token references (<[id]>) are not supported");
      } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        if (sequence.empty()) fail(fmt::format("'{}' has nothing before it to repeat", c));
        apply_repetition(sequence, last_start);
      } else {
        break;
      }
      skip_space(nested);
    }
    return sequence;
  }

  // Repeats sequence[last_start, end) per the operator at pos_: x* -> R ::= x R | (empty); x+ -> x x*;
  // x? -> R ::= x | (empty); x{m,n} -> m copies of x, then n - m nested optional copies.
  void apply_repetition(Sequence& sequence, std::size_t last_start) {
    Sequence item(sequence.begin() + static_cast<std::ptrdiff_t>(last_start), sequence.end());
    sequence.resize(last_start);
    std::size_t min_count = 0;
    std::optional<std::size_t> max_count;
    const char op = peek();
    ++pos_;
    if (op == '*') {
    } else if (op == '+') {
      min_count = 1;
    } else if (op == '?') {
      max_count = 1;
    } else {
      skip_space(false);
      min_count = parse_count();
      skip_space(false);
      if (peek() == ',') {
        ++pos_;
        skip_space(false);
        if (peek() != '}') max_count = parse_count();
      } else {
        max_count = min_count;
      }
      skip_space(false);
      if (peek() != '}') fail("expected '}' closing a repetition count");
      ++pos_;
      if (max_count && *max_count < min_count) fail("repetition maximum is below its minimum");
    }
    const std::size_t copies = max_count ? *max_count : min_count + 1;
    count_elements(copies * item.size());  // bounds the expansion before anything is built
    for (std::size_t i = 0; i < min_count; ++i) sequence.insert(sequence.end(), item.begin(), item.end());
    if (!max_count) {
      const std::uint32_t star = rule_id(fmt::format("repeat-{}", rules_.size()));
      Sequence again = item;
      again.push_back(reference(star));
      rules_[star] = Alternatives{std::move(again), Sequence{}};
      defined_[star] = true;
      sequence.push_back(reference(star));
      return;
    }
    // The optional tail, built from the innermost copy outwards: T1 ::= x | (), Tk ::= x T(k-1) | ().
    std::optional<std::uint32_t> tail;
    for (std::size_t i = min_count; i < *max_count; ++i) {
      Sequence more = item;
      if (tail) more.push_back(reference(*tail));
      tail = generated_rule("optional", Alternatives{std::move(more), Sequence{}});
    }
    if (tail) sequence.push_back(reference(*tail));
  }

  std::size_t parse_count() {
    const std::size_t start = pos_;
    std::size_t value = 0;
    while (peek() >= '0' && peek() <= '9') {
      value = value * 10 + static_cast<std::size_t>(peek() - '0');
      if (value > kMaxExpandedElements) fail(fmt::format("repetition count above {}", kMaxExpandedElements));
      ++pos_;
    }
    if (pos_ == start) fail("expected a repetition count");
    return value;
  }

  // One character of a literal or class: an escape or a UTF-8 character.
  char32_t parse_char() {
    if (at_end()) fail("unexpected end of the grammar");
    const auto lead = static_cast<unsigned char>(peek());
    if (lead == '\\') {
      ++pos_;
      const char escape = peek();
      ++pos_;
      switch (escape) {
        case 'n': return U'\n';
        case 't': return U'\t';
        case 'r': return U'\r';
        case '\\': return U'\\';
        case '"': return U'"';
        case '[': return U'[';
        case ']': return U']';
        case '-': return U'-';
        case '^': return U'^';
        case 'x': return parse_hex(2);
        case 'u': return parse_hex(4);
        case 'U': return parse_hex(8);
        default: --pos_; fail(fmt::format("unknown escape '\\{}'", escape == '\0' ? ' ' : escape));
      }
    }
    // The text is valid UTF-8 (checked up front).
    const std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : 4;
    char32_t code_point = length == 1 ? lead : lead & (0x7F >> length);
    for (std::size_t k = 1; k < length; ++k) code_point = (code_point << 6) | (static_cast<unsigned char>(text_[pos_ + k]) & 0x3F);
    pos_ += length;
    return code_point;
  }

  char32_t parse_hex(std::size_t digits) {
    char32_t value = 0;
    for (std::size_t i = 0; i < digits; ++i) {
      const char c = peek();
      const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (digit < 0) fail(fmt::format("expected {} hexadecimal digits", digits));
      value = value * 16 + static_cast<char32_t>(digit);
      ++pos_;
    }
    if (value > 0x10FFFF) fail("code point above U+10FFFF");
    return value;
  }

  void parse_literal(Sequence& sequence) {
    ++pos_;  // the opening quote
    while (peek() != '"') {
      if (at_end() || peek() == '\n') fail("unterminated string literal");
      const char32_t c = parse_char();
      ParsedElement element;
      element.element.kind = Element::Kind::characters;
      element.element.ranges.push_back({c, c});
      sequence.push_back(std::move(element));
      count_elements(1);
    }
    ++pos_;
  }

  ParsedElement parse_class() {
    ++pos_;  // the opening bracket
    ParsedElement element;
    element.element.kind = Element::Kind::characters;
    if (peek() == '^') {
      element.element.negated = true;
      ++pos_;
    }
    while (peek() != ']') {
      if (at_end() || peek() == '\n') fail("unterminated character class");
      const char32_t first = parse_char();
      char32_t last = first;
      if (peek() == '-' && peek(1) != ']' && pos_ + 1 < text_.size()) {
        ++pos_;
        last = parse_char();
        if (last < first) fail("character range is reversed");
      }
      element.element.ranges.push_back({first, last});
    }
    ++pos_;
    count_elements(1);
    return element;
  }

  CompiledRules compile() {
    const auto root = rule_index_.find("root");
    if (root == rule_index_.end() || !defined_[root->second]) fail_at(0, "the grammar has no 'root' rule");
    for (const Alternatives& alternatives : rules_) {
      for (const Sequence& sequence : alternatives) {
        for (const ParsedElement& element : sequence) {
          if (element.element.kind != Element::Kind::rule) continue;
          const auto it = rule_index_.find(element.rule_name);
          if (it == rule_index_.end() || !defined_[it->second]) {
            fail_at(element.offset, fmt::format("undefined rule '{}'", element.rule_name));
          }
        }
      }
    }
    CompiledRules compiled;
    compiled.root = root->second;
    compiled.names = names_;
    compiled.alternatives.resize(rules_.size());
    for (std::size_t rule = 0; rule < rules_.size(); ++rule) {
      for (const Sequence& sequence : rules_[rule]) {
        compiled.alternatives[rule].push_back(static_cast<std::uint32_t>(compiled.elements.size()));
        for (const ParsedElement& parsed : sequence) {
          Element element = parsed.element;
          if (element.kind == Element::Kind::rule) element.rule = rule_index_.at(parsed.rule_name);
          compiled.elements.push_back(std::move(element));
        }
        compiled.elements.push_back(Element{});  // end_of_alternative
      }
    }
    refuse_left_recursion(compiled);
    return compiled;
  }

  // A rule that can reach itself without consuming a character would send a top-down recognizer into an endless
  // expansion: find such a cycle over "may start with" edges (through nullable prefixes) and name the rule.
  static void refuse_left_recursion(const CompiledRules& compiled) {
    const std::size_t n = compiled.alternatives.size();
    std::vector<bool> nullable(n, false);
    for (bool changed = true; changed;) {
      changed = false;
      for (std::size_t rule = 0; rule < n; ++rule) {
        if (nullable[rule]) continue;
        for (std::uint32_t position : compiled.alternatives[rule]) {
          bool all_nullable = true;
          for (; compiled.elements[position].kind != Element::Kind::end_of_alternative; ++position) {
            const Element& element = compiled.elements[position];
            if (element.kind != Element::Kind::rule || !nullable[element.rule]) {
              all_nullable = false;
              break;
            }
          }
          if (all_nullable) {
            nullable[rule] = true;
            changed = true;
            break;
          }
        }
      }
    }
    std::vector<std::vector<std::uint32_t>> starts_with(n);
    for (std::size_t rule = 0; rule < n; ++rule) {
      for (std::uint32_t position : compiled.alternatives[rule]) {
        for (; compiled.elements[position].kind == Element::Kind::rule; ++position) {
          const std::uint32_t callee = compiled.elements[position].rule;
          starts_with[rule].push_back(callee);
          if (!nullable[callee]) break;
        }
      }
    }
    enum class Mark : std::uint8_t { unvisited, active, done };
    std::vector<Mark> marks(n, Mark::unvisited);
    // Iterative depth-first search, so a long chain of rules cannot exhaust the call stack.
    for (std::size_t start = 0; start < n; ++start) {
      if (marks[start] != Mark::unvisited) continue;
      std::vector<std::pair<std::uint32_t, std::size_t>> path{{static_cast<std::uint32_t>(start), 0}};
      marks[start] = Mark::active;
      while (!path.empty()) {
        auto& [rule, next] = path.back();
        if (next == starts_with[rule].size()) {
          marks[rule] = Mark::done;
          path.pop_back();
          continue;
        }
        const std::uint32_t callee = starts_with[rule][next++];
        if (marks[callee] == Mark::active) {
          throw GrammarError(fmt::format("grammar: rule '{}' is left-recursive", compiled.names[callee]));
        }
        if (marks[callee] == Mark::unvisited) {
          marks[callee] = Mark::active;
          path.emplace_back(callee, 0);
        }
      }
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t expanded_ = 0;
  std::vector<Alternatives> rules_;
  std::vector<std::string> names_;
  std::vector<bool> defined_;
  std::map<std::string, std::uint32_t> rule_index_;
};

}  // namespace

void index_characters(CompiledRules& rules) {
  // The code points a lead byte can begin, the shortest forms first: as Matcher::step bounds a character begun.
  constexpr char32_t kSmallest[] = {0, 0x80, 0x800, 0x10000};
  rules.starting_bytes.assign(rules.elements.size(), {});
  rules.code_points.assign(rules.elements.size(), {});
  for (std::size_t position = 0; position < rules.elements.size(); ++position) {
    const Element& element = rules.elements[position];
    if (element.kind != Element::Kind::characters) continue;
    std::vector<CodePointRange> ranges = element.ranges;
    std::sort(ranges.begin(), ranges.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<CodePointRange> merged;
    for (const CodePointRange& range : ranges) {
      if (!merged.empty() && range.first <= merged.back().last + 1) {
        merged.back().last = std::max(merged.back().last, range.last);
      } else {
        merged.push_back(range);
      }
    }
    if (element.negated) {
      std::vector<CodePointRange> complement;
      char32_t next = 0;
      for (const CodePointRange& range : merged) {
        if (range.first > next) complement.push_back({next, range.first - 1});
        next = range.last + 1;
      }
      if (next <= 0x10FFFF) complement.push_back({next, 0x10FFFF});
      merged = std::move(complement);
    }
    rules.code_points[position] = std::move(merged);
    for (unsigned byte = 0; byte < 256; ++byte) {
      const unsigned length = byte < 0x80 ? 1 : (byte >> 5) == 0x6 ? 2 : (byte >> 4) == 0xE ? 3 : (byte >> 3) == 0x1E ? 4 : 0;
      if (length == 0) continue;
      if (length == 1) {
        rules.starting_bytes[position][byte] = element.matches(byte);
        continue;
      }
      const char32_t value = byte & (0x7F >> length);
      if ((length == 2 && value < 2) || (length == 4 && value > 4)) continue;  // overlong, or above U+10FFFF
      const unsigned shift = 6 * (length - 1);
      const char32_t first = std::max<char32_t>(value << shift, kSmallest[length - 1]);
      const char32_t last = (value << shift) | ((char32_t{1} << shift) - 1);
      rules.starting_bytes[position][byte] = element.matches_any(first, last);
    }
  }
}

Grammar Grammar::parse(std::string_view text) {
  CompiledRules rules = Parser(text).parse();
  index_characters(rules);
  return Grammar(std::make_shared<const CompiledRules>(std::move(rules)));
}

}  // namespace hearth::grammar
