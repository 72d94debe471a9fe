#include "chat/jinja_parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>
#include <set>

#include "chat/jinja_builtins.h"
#include "chat/jinja_text.h"
#include "hearth/chat.h"

namespace hearth::chat::jinja {
namespace {

// What the parser is waiting for: a token type, or a name token with given text ("name:endfor" in jinja2).
struct Expected {
  TokenType type;
  std::string_view name;  // only for TokenType::Name; empty = any name

  bool matches(const Token& t) const { return t.type == type && (name.empty() || t.text == name); }
  std::string describe() const { return name.empty() ? describe_token_type(type) : std::string(name); }
};

Expected name_token(std::string_view name) { return Expected{TokenType::Name, name}; }

uint32_t depth_of(const ExprPtr& e) { return e ? e->depth : 0; }

uint32_t depth_of(const CallArguments& args) {
  uint32_t d = std::max(depth_of(args.star_args), depth_of(args.star_kwargs));
  for (const auto& e : args.positional) d = std::max(d, depth_of(e));
  for (const auto& [name, e] : args.keyword) d = std::max(d, depth_of(e));
  return d;
}

// The height of the deepest direct child of `e`.
uint32_t children_depth(const Expr& e) {
  switch (e.kind) {
    case ExprKind::Literal:
    case ExprKind::Name:
      return 0;
    case ExprKind::List:
    case ExprKind::Tuple: {
      uint32_t d = 0;
      for (const auto& item : static_cast<const SequenceExpr&>(e).items) d = std::max(d, depth_of(item));
      return d;
    }
    case ExprKind::Dict: {
      uint32_t d = 0;
      for (const auto& [key, value] : static_cast<const DictExpr&>(e).items) d = std::max({d, depth_of(key), depth_of(value)});
      return d;
    }
    case ExprKind::GetAttr:
      return depth_of(static_cast<const GetAttrExpr&>(e).object);
    case ExprKind::GetItem: {
      const auto& g = static_cast<const GetItemExpr&>(e);
      return std::max(depth_of(g.object), depth_of(g.index));
    }
    case ExprKind::Slice: {
      const auto& s = static_cast<const SliceExpr&>(e);
      return std::max({depth_of(s.start), depth_of(s.stop), depth_of(s.step)});
    }
    case ExprKind::Call: {
      const auto& c = static_cast<const CallExpr&>(e);
      return std::max(depth_of(c.callee), depth_of(c.args));
    }
    case ExprKind::Filter: {
      const auto& f = static_cast<const FilterExpr&>(e);
      return std::max(depth_of(f.operand), depth_of(f.args));
    }
    case ExprKind::Test: {
      const auto& t = static_cast<const TestExpr&>(e);
      return std::max(depth_of(t.operand), depth_of(t.args));
    }
    case ExprKind::Not:
    case ExprKind::Neg:
    case ExprKind::Pos:
      return depth_of(static_cast<const UnaryExpr&>(e).operand);
    case ExprKind::Binary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      return std::max(depth_of(b.left), depth_of(b.right));
    }
    case ExprKind::Concat: {
      uint32_t d = 0;
      for (const auto& item : static_cast<const ConcatExpr&>(e).items) d = std::max(d, depth_of(item));
      return d;
    }
    case ExprKind::Compare: {
      const auto& c = static_cast<const CompareExpr&>(e);
      uint32_t d = depth_of(c.first);
      for (const auto& [op, operand] : c.rest) d = std::max(d, depth_of(operand));
      return d;
    }
    case ExprKind::Condition: {
      const auto& c = static_cast<const ConditionExpr&>(e);
      return std::max({depth_of(c.test), depth_of(c.then), depth_of(c.otherwise)});
    }
  }
  return 0;
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, uint32_t max_depth) : tokens_(std::move(tokens)), max_depth_(max_depth) {}

  Body parse() {
    return subparse({});
  }

 private:
  // ---- token stream -----------------------------------------------------------------------------------
  const Token& current() const { return tokens_[pos_]; }
  const Token& look() const { return tokens_[std::min(pos_ + 1, tokens_.size() - 1)]; }
  const Token& next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool at_name(std::string_view name) const { return current().type == TokenType::Name && current().text == name; }
  bool skip_if(TokenType type) {
    if (current().type != type) return false;
    next();
    return true;
  }
  bool skip_if_name(std::string_view name) {
    if (!at_name(name)) return false;
    next();
    return true;
  }

  [[noreturn]] void fail(std::string message, int line = 0) const {
    throw TemplateError(std::move(message), line > 0 ? line : current().line);
  }

  const Token& expect(Expected expected) {
    if (!expected.matches(current())) {
      if (current().type == TokenType::Eof) {
        fail(fmt::format("unexpected end of template, expected {}.", text::repr(expected.describe())));
      }
      fail(fmt::format("expected token {}, got {}", text::repr(expected.describe()), text::repr(describe_token(current()))));
    }
    return next();
  }
  const Token& expect(TokenType type) { return expect(Expected{type, {}}); }

  // Bounds recursion so that deeply nested input fails cleanly instead of exhausting the stack.
  class DepthGuard {
   public:
    explicit DepthGuard(Parser& p) : parser_(p) {
      if (++parser_.depth_ > parser_.max_depth_) parser_.fail("template nesting is too deep");
    }
    ~DepthGuard() { --parser_.depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    Parser& parser_;
  };

  // Records a finished expression node's height, failing for trees deeper than the evaluator may recurse
  // (long operator chains like a + b + c + ... nest as deeply as parentheses do).
  template <typename Node>
  std::unique_ptr<Node> checked(std::unique_ptr<Node> node) {
    node->depth = children_depth(*node) + 1;
    if (node->depth > max_depth_ * 4) fail("template nesting is too deep", node->line);
    return node;
  }

  // ---- statements ---------------------------------------------------------------------------------------
  bool at_end_token(const std::vector<Expected>& end_tokens) const {
    return std::any_of(end_tokens.begin(), end_tokens.end(), [&](const Expected& e) { return e.matches(current()); });
  }

  Body subparse(const std::vector<Expected>& end_tokens) {
    Body body;
    if (!end_tokens.empty()) end_token_stack_.push_back(end_tokens);
    while (current().type != TokenType::Eof) {
      const Token& token = current();
      if (token.type == TokenType::Data) {
        body.push_back(std::make_unique<TextStmt>(token.line, token.text));
        next();
      } else if (token.type == TokenType::VariableBegin) {
        next();
        const int line = current().line;
        body.push_back(std::make_unique<PrintStmt>(line, parse_tuple(false, true, {}, false)));
        expect(TokenType::VariableEnd);
      } else if (token.type == TokenType::BlockBegin) {
        next();
        if (!end_tokens.empty() && at_end_token(end_tokens)) {
          end_token_stack_.pop_back();
          return body;
        }
        parse_statement(body);
        expect(TokenType::BlockEnd);
      } else {
        fail("internal parsing error");
      }
    }
    if (!end_tokens.empty()) end_token_stack_.pop_back();
    return body;
  }

  Body parse_statements(const std::vector<Expected>& end_tokens, bool drop_needle) {
    skip_if(TokenType::Colon);
    expect(TokenType::BlockEnd);
    Body body = subparse(end_tokens);
    if (current().type == TokenType::Eof) fail_eof(&end_tokens);
    if (drop_needle) next();
    return body;
  }

  [[noreturn]] void fail_unknown_tag_or_eof(const std::string* tag_name, const std::vector<std::vector<Expected>>& stack,
                                            int line) const {
    std::set<std::string> expected;
    for (const auto& group : stack) {
      for (const auto& e : group) expected.insert(e.describe());
    }
    std::string currently_looking;
    if (!stack.empty()) {
      for (const auto& e : stack.back()) {
        if (!currently_looking.empty()) currently_looking += " or ";
        currently_looking += text::repr(e.describe());
      }
    }
    std::string message =
        tag_name == nullptr ? "Unexpected end of template." : fmt::format("Encountered unknown tag {}.", text::repr(*tag_name));
    if (!currently_looking.empty()) {
      if (tag_name != nullptr && expected.count(*tag_name) > 0) {
        message += fmt::format(
            " You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for {}.",
            currently_looking);
      } else {
        message += fmt::format(" Jinja was looking for the following tags: {}.", currently_looking);
      }
    }
    if (!tag_stack_.empty()) {
      message += fmt::format(" The innermost block that needs to be closed is {}.", text::repr(tag_stack_.back()));
    }
    fail(message, line);
  }

  [[noreturn]] void fail_eof(const std::vector<Expected>* end_tokens) const {
    auto stack = end_token_stack_;
    if (end_tokens != nullptr) stack.push_back(*end_tokens);
    fail_unknown_tag_or_eof(nullptr, stack, current().line);
  }

  void parse_statement(Body& body) {
    DepthGuard guard(*this);
    const Token& token = current();
    if (token.type != TokenType::Name) fail("tag name expected");
    const std::string tag = token.text;
    tag_stack_.push_back(tag);
    if (tag == "for") {
      body.push_back(parse_for());
    } else if (tag == "if") {
      body.push_back(parse_if());
    } else if (tag == "set") {
      body.push_back(parse_set());
    } else if (tag == "macro") {
      body.push_back(parse_macro());
    } else if (tag == "call") {
      body.push_back(parse_call_block());
    } else if (tag == "filter") {
      body.push_back(parse_filter_block());
    } else if (tag == "with") {
      body.push_back(parse_with());
    } else if (tag == "print") {
      parse_print(body);
    } else if (tag == "generation") {
      body.push_back(parse_generation());
    } else if (tag == "break" || tag == "continue") {
      const int line = next().line;
      if (loop_depth_ == 0) fail(fmt::format("'{}' outside loop", tag), line);
      body.push_back(std::make_unique<LoopControlStmt>(tag == "break" ? StmtKind::Break : StmtKind::Continue, line));
    } else if (tag == "block" || tag == "extends" || tag == "include" || tag == "import" || tag == "from" ||
               tag == "autoescape") {
      fail(fmt::format("the '{}' tag is not supported: chat templates are rendered on their own", tag));
    } else {
      tag_stack_.pop_back();
      fail_unknown_tag_or_eof(&tag, end_token_stack_, token.line);
    }
    tag_stack_.pop_back();
  }

  StmtPtr parse_for() {
    auto node = std::make_unique<ForStmt>(expect(name_token("for")).line);
    node->target = parse_assign_target(true, false, {name_token("in")}, false);
    expect(name_token("in"));
    node->iterable = parse_tuple(false, false, {name_token("recursive")}, false);
    if (skip_if_name("if")) node->filter = parse_expression(true);
    node->recursive = skip_if_name("recursive");
    ++loop_depth_;
    node->body = parse_statements({name_token("endfor"), name_token("else")}, false);
    --loop_depth_;
    if (next().text != "endfor") node->otherwise = parse_statements({name_token("endfor")}, true);
    return node;
  }

  StmtPtr parse_if() {
    auto node = std::make_unique<IfStmt>(expect(name_token("if")).line);
    while (true) {
      ExprPtr test = parse_tuple(false, false, {}, false);
      Body body = parse_statements({name_token("elif"), name_token("else"), name_token("endif")}, false);
      node->branches.emplace_back(std::move(test), std::move(body));
      const Token& token = next();
      if (token.text == "elif") continue;
      if (token.text == "else") node->otherwise = parse_statements({name_token("endif")}, true);
      break;
    }
    return node;
  }

  StmtPtr parse_set() {
    const int line = next().line;
    Target target = parse_assign_target(true, false, {}, true);
    if (skip_if(TokenType::Assign)) return std::make_unique<SetStmt>(line, std::move(target), parse_tuple(false, true, {}, false));
    auto node = std::make_unique<SetBlockStmt>(line);
    node->target = std::move(target);
    node->filter = parse_filter(nullptr, false);
    node->body = parse_statements({name_token("endset")}, true);
    return node;
  }

  void parse_signature(MacroDefinition& macro) {
    expect(TokenType::LParen);
    while (current().type != TokenType::RParen) {
      if (!macro.parameters.empty()) expect(TokenType::Comma);
      macro.parameters.push_back(expect(TokenType::Name).text);
      if (skip_if(TokenType::Assign)) {
        macro.defaults.push_back(parse_expression(true));
      } else if (!macro.defaults.empty()) {
        fail("non-default argument follows default argument");
      }
    }
    expect(TokenType::RParen);
  }

  // Parses a macro-like body (macro, call block caller) and notes which special names it uses.
  void parse_macro_body(MacroDefinition& macro, std::string_view end_tag) {
    const size_t names_start = names_seen_.size();
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    macro.body = parse_statements({name_token(end_tag)}, true);
    loop_depth_ = saved_loop_depth;
    for (size_t i = names_start; i < names_seen_.size(); ++i) {
      macro.uses_varargs |= names_seen_[i] == "varargs";
      macro.uses_kwargs |= names_seen_[i] == "kwargs";
      macro.uses_caller |= names_seen_[i] == "caller";
    }
  }

  StmtPtr parse_macro() {
    auto node = std::make_unique<MacroStmt>(next().line);
    node->macro.line = node->line;
    node->macro.name = expect(TokenType::Name).text;
    parse_signature(node->macro);
    parse_macro_body(node->macro, "endmacro");
    return node;
  }

  StmtPtr parse_call_block() {
    auto node = std::make_unique<CallBlockStmt>(next().line);
    node->caller.name = "caller";
    node->caller.line = node->line;
    if (current().type == TokenType::LParen) parse_signature(node->caller);
    node->call = parse_expression(true);
    if (node->call->kind != ExprKind::Call) fail("expected call", node->line);
    parse_macro_body(node->caller, "endcall");
    return node;
  }

  StmtPtr parse_filter_block() {
    auto node = std::make_unique<FilterBlockStmt>(next().line);
    node->filter = parse_filter(nullptr, true);
    node->body = parse_statements({name_token("endfilter")}, true);
    return node;
  }

  StmtPtr parse_with() {
    auto node = std::make_unique<WithStmt>(next().line);
    while (current().type != TokenType::BlockEnd) {
      if (!node->assignments.empty()) expect(TokenType::Comma);
      Target target = parse_assign_target(true, false, {}, false);
      expect(TokenType::Assign);
      node->assignments.emplace_back(std::move(target), parse_expression(true));
    }
    node->body = parse_statements({name_token("endwith")}, true);
    return node;
  }

  void parse_print(Body& body) {
    const int line = next().line;
    bool first = true;
    while (current().type != TokenType::BlockEnd) {
      if (!first) expect(TokenType::Comma);
      first = false;
      body.push_back(std::make_unique<PrintStmt>(line, parse_expression(true)));
    }
  }

  StmtPtr parse_generation() {
    auto node = std::make_unique<GenerationStmt>(next().line);
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    node->body = parse_statements({name_token("endgeneration")}, true);
    loop_depth_ = saved_loop_depth;
    return node;
  }

  // ---- assignment targets --------------------------------------------------------------------------------
  Target to_target(const Expr& expr) {
    Target target;
    target.line = expr.line;
    if (expr.kind == ExprKind::Name) {
      target.name = static_cast<const NameExpr&>(expr).name;
      return target;
    }
    if (expr.kind == ExprKind::Tuple) {
      target.kind = Target::Kind::Tuple;
      for (const auto& item : static_cast<const SequenceExpr&>(expr).items) target.items.push_back(to_target(*item));
      return target;
    }
    fail(fmt::format("can't assign to {}", text::repr(node_kind_name(expr))), expr.line);
  }

  static std::string node_kind_name(const Expr& expr) {
    switch (expr.kind) {
      case ExprKind::Literal: return "const";
      case ExprKind::List: return "list";
      case ExprKind::Dict: return "dict";
      case ExprKind::GetAttr: return "getattr";
      case ExprKind::GetItem: return "getitem";
      case ExprKind::Call: return "call";
      case ExprKind::Filter: return "filter";
      case ExprKind::Test: return "test";
      case ExprKind::Concat: return "concat";
      case ExprKind::Compare: return "compare";
      case ExprKind::Condition: return "condexpr";
      default: return "expr";
    }
  }

  Target parse_assign_target(bool with_tuple, bool name_only, const std::vector<Expected>& extra_end_rules,
                             bool with_namespace) {
    if (with_namespace && look().type == TokenType::Dot) {
      Target target;
      target.kind = Target::Kind::NamespaceAttribute;
      target.line = current().line;
      target.name = expect(TokenType::Name).text;
      next();
      target.attribute = expect(TokenType::Name).text;
      return target;
    }
    if (name_only) {
      Target target;
      target.line = current().line;
      target.name = expect(TokenType::Name).text;
      return target;
    }
    ExprPtr expr = with_tuple ? parse_tuple(true, true, extra_end_rules, false) : parse_primary();
    return to_target(*expr);
  }

  // ---- expressions -----------------------------------------------------------------------------------------
  bool is_tuple_end(const std::vector<Expected>& extra_end_rules) const {
    const TokenType t = current().type;
    if (t == TokenType::VariableEnd || t == TokenType::BlockEnd || t == TokenType::RParen) return true;
    return at_end_token(extra_end_rules);
  }

  ExprPtr parse_tuple(bool simplified, bool with_condexpr, const std::vector<Expected>& extra_end_rules,
                      bool explicit_parentheses) {
    int line = current().line;
    std::vector<ExprPtr> args;
    bool is_tuple = false;
    while (true) {
      if (!args.empty()) expect(TokenType::Comma);
      if (is_tuple_end(extra_end_rules)) break;
      args.push_back(simplified ? parse_primary() : parse_expression(with_condexpr));
      if (current().type == TokenType::Comma) {
        is_tuple = true;
      } else {
        break;
      }
      line = current().line;
    }
    if (!is_tuple) {
      if (!args.empty()) return std::move(args.front());
      if (!explicit_parentheses) fail(fmt::format("Expected an expression, got {}", text::repr(describe_token(current()))));
    }
    auto tuple = std::make_unique<SequenceExpr>(ExprKind::Tuple, line);
    tuple->items = std::move(args);
    return checked(std::move(tuple));
  }

  ExprPtr parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }

  ExprPtr parse_condexpr() {
    int line = current().line;
    ExprPtr expr = parse_or();
    while (skip_if_name("if")) {
      ExprPtr test = parse_or();
      ExprPtr otherwise = skip_if_name("else") ? parse_condexpr() : nullptr;
      expr = checked(std::make_unique<ConditionExpr>(line, std::move(test), std::move(expr), std::move(otherwise)));
      line = current().line;
    }
    return expr;
  }

  ExprPtr parse_or() {
    int line = current().line;
    ExprPtr left = parse_and();
    while (skip_if_name("or")) {
      left = checked(std::make_unique<BinaryExpr>(line, BinaryOp::Or, std::move(left), parse_and()));
      line = current().line;
    }
    return left;
  }

  ExprPtr parse_and() {
    int line = current().line;
    ExprPtr left = parse_not();
    while (skip_if_name("and")) {
      left = checked(std::make_unique<BinaryExpr>(line, BinaryOp::And, std::move(left), parse_not()));
      line = current().line;
    }
    return left;
  }

  ExprPtr parse_not() {
    DepthGuard guard(*this);
    if (at_name("not")) {
      const int line = next().line;
      return checked(std::make_unique<UnaryExpr>(ExprKind::Not, line, parse_not()));
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    int line = current().line;
    ExprPtr first = parse_math1();
    std::vector<std::pair<CompareOp, ExprPtr>> rest;
    while (true) {
      std::optional<CompareOp> op;
      switch (current().type) {
        case TokenType::Eq: op = CompareOp::Eq; break;
        case TokenType::Ne: op = CompareOp::Ne; break;
        case TokenType::Lt: op = CompareOp::Lt; break;
        case TokenType::LtEq: op = CompareOp::LtEq; break;
        case TokenType::Gt: op = CompareOp::Gt; break;
        case TokenType::GtEq: op = CompareOp::GtEq; break;
        default: break;
      }
      if (op) {
        next();
      } else if (skip_if_name("in")) {
        op = CompareOp::In;
      } else if (at_name("not") && look().type == TokenType::Name && look().text == "in") {
        next();
        next();
        op = CompareOp::NotIn;
      } else {
        break;
      }
      rest.emplace_back(*op, parse_math1());
      line = current().line;
    }
    if (rest.empty()) return first;
    auto compare = std::make_unique<CompareExpr>(line, std::move(first));
    compare->rest = std::move(rest);
    return checked(std::move(compare));
  }

  ExprPtr parse_math1() {
    int line = current().line;
    ExprPtr left = parse_concat();
    while (current().type == TokenType::Add || current().type == TokenType::Sub) {
      const BinaryOp op = next().type == TokenType::Add ? BinaryOp::Add : BinaryOp::Sub;
      left = checked(std::make_unique<BinaryExpr>(line, op, std::move(left), parse_concat()));
      line = current().line;
    }
    return left;
  }

  ExprPtr parse_concat() {
    const int line = current().line;
    ExprPtr first = parse_math2();
    if (current().type != TokenType::Tilde) return first;
    auto concat = std::make_unique<ConcatExpr>(line);
    concat->items.push_back(std::move(first));
    while (skip_if(TokenType::Tilde)) concat->items.push_back(parse_math2());
    return checked(std::move(concat));
  }

  ExprPtr parse_math2() {
    int line = current().line;
    ExprPtr left = parse_pow();
    while (true) {
      BinaryOp op;
      switch (current().type) {
        case TokenType::Mul: op = BinaryOp::Mul; break;
        case TokenType::Div: op = BinaryOp::Div; break;
        case TokenType::FloorDiv: op = BinaryOp::FloorDiv; break;
        case TokenType::Mod: op = BinaryOp::Mod; break;
        default: return left;
      }
      next();
      left = checked(std::make_unique<BinaryExpr>(line, op, std::move(left), parse_pow()));
      line = current().line;
    }
  }

  ExprPtr parse_pow() {
    int line = current().line;
    ExprPtr left = parse_unary(true);
    while (skip_if(TokenType::Pow)) {
      left = checked(std::make_unique<BinaryExpr>(line, BinaryOp::Pow, std::move(left), parse_unary(true)));
      line = current().line;
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    const int line = current().line;
    ExprPtr node;
    if (skip_if(TokenType::Sub)) {
      node = checked(std::make_unique<UnaryExpr>(ExprKind::Neg, line, parse_unary(false)));
    } else if (skip_if(TokenType::Add)) {
      node = checked(std::make_unique<UnaryExpr>(ExprKind::Pos, line, parse_unary(false)));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& token = current();
    const int line = token.line;
    switch (token.type) {
      case TokenType::Name: {
        ExprPtr node;
        if (token.text == "true" || token.text == "True") {
          node = std::make_unique<LiteralExpr>(line, Value::boolean(true));
        } else if (token.text == "false" || token.text == "False") {
          node = std::make_unique<LiteralExpr>(line, Value::boolean(false));
        } else if (token.text == "none" || token.text == "None") {
          node = std::make_unique<LiteralExpr>(line, Value::none());
        } else {
          names_seen_.push_back(token.text);
          node = std::make_unique<NameExpr>(line, token.text);
        }
        next();
        return node;
      }
      case TokenType::String: {
        std::string joined;
        while (current().type == TokenType::String) joined += next().text;
        return std::make_unique<LiteralExpr>(line, Value::string(std::move(joined)));
      }
      case TokenType::Integer:
        next();
        return std::make_unique<LiteralExpr>(line, Value::integer(token.integer));
      case TokenType::Float:
        next();
        return std::make_unique<LiteralExpr>(line, Value::floating(token.floating));
      case TokenType::LParen: {
        next();
        ExprPtr node = parse_tuple(false, true, {}, true);
        expect(TokenType::RParen);
        return node;
      }
      case TokenType::LBracket:
        return parse_list();
      case TokenType::LBrace:
        return parse_dict();
      default:
        fail(fmt::format("unexpected {}", text::repr(describe_token(token))));
    }
  }

  ExprPtr parse_list() {
    auto node = std::make_unique<SequenceExpr>(ExprKind::List, expect(TokenType::LBracket).line);
    while (current().type != TokenType::RBracket) {
      if (!node->items.empty()) expect(TokenType::Comma);
      if (current().type == TokenType::RBracket) break;
      node->items.push_back(parse_expression(true));
    }
    expect(TokenType::RBracket);
    return checked(std::move(node));
  }

  ExprPtr parse_dict() {
    auto node = std::make_unique<DictExpr>(expect(TokenType::LBrace).line);
    while (current().type != TokenType::RBrace) {
      if (!node->items.empty()) expect(TokenType::Comma);
      if (current().type == TokenType::RBrace) break;
      ExprPtr key = parse_expression(true);
      expect(TokenType::Colon);
      node->items.emplace_back(std::move(key), parse_expression(true));
    }
    expect(TokenType::RBrace);
    return checked(std::move(node));
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      const TokenType t = current().type;
      if (t == TokenType::Dot || t == TokenType::LBracket) {
        node = parse_subscript(std::move(node));
      } else if (t == TokenType::LParen) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (current().type == TokenType::Pipe) {
        node = parse_filter(std::move(node), false);
      } else if (at_name("is")) {
        node = parse_test(std::move(node));
      } else if (current().type == TokenType::LParen) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr node) {
    const Token& token = next();
    const int line = token.line;
    if (token.type == TokenType::Dot) {
      const Token& attribute = next();
      if (attribute.type == TokenType::Name) return checked(std::make_unique<GetAttrExpr>(line, std::move(node), attribute.text));
      if (attribute.type != TokenType::Integer) fail("expected name or number", attribute.line);
      return checked(std::make_unique<GetItemExpr>(
          line, std::move(node), std::make_unique<LiteralExpr>(attribute.line, Value::integer(attribute.integer))));
    }
    std::vector<ExprPtr> args;
    while (current().type != TokenType::RBracket) {
      if (!args.empty()) expect(TokenType::Comma);
      args.push_back(parse_subscribed());
    }
    expect(TokenType::RBracket);
    if (args.size() == 1) return checked(std::make_unique<GetItemExpr>(line, std::move(node), std::move(args.front())));
    auto tuple = std::make_unique<SequenceExpr>(ExprKind::Tuple, line);
    tuple->items = std::move(args);
    return checked(std::make_unique<GetItemExpr>(line, std::move(node), checked(std::move(tuple))));
  }

  ExprPtr parse_subscribed() {
    const int line = current().line;
    ExprPtr start;
    if (!skip_if(TokenType::Colon)) {
      start = parse_expression(true);
      if (current().type != TokenType::Colon) return start;
      next();
    }
    auto slice = std::make_unique<SliceExpr>(line);
    slice->start = std::move(start);
    const auto ends_part = [&] {
      return current().type == TokenType::RBracket || current().type == TokenType::Comma;
    };
    if (current().type != TokenType::Colon && !ends_part()) slice->stop = parse_expression(true);
    if (skip_if(TokenType::Colon) && !ends_part()) slice->step = parse_expression(true);
    return checked(std::move(slice));
  }

  CallArguments parse_call_args() {
    const Token& open = expect(TokenType::LParen);
    const int line = open.line;
    CallArguments args;
    const auto ensure = [&](bool ok) {
      if (!ok) fail("invalid syntax for function call expression", line);
    };
    bool require_comma = false;
    while (current().type != TokenType::RParen) {
      if (require_comma) {
        expect(TokenType::Comma);
        if (current().type == TokenType::RParen) break;
      }
      if (skip_if(TokenType::Mul)) {
        ensure(!args.star_args && !args.star_kwargs);
        args.star_args = parse_expression(true);
      } else if (skip_if(TokenType::Pow)) {
        ensure(!args.star_kwargs);
        args.star_kwargs = parse_expression(true);
      } else if (current().type == TokenType::Name && look().type == TokenType::Assign) {
        ensure(!args.star_kwargs);
        std::string key = next().text;
        next();
        args.keyword.emplace_back(std::move(key), parse_expression(true));
      } else {
        ensure(!args.star_args && !args.star_kwargs && args.keyword.empty());
        args.positional.push_back(parse_expression(true));
      }
      require_comma = true;
    }
    expect(TokenType::RParen);
    return args;
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto call = std::make_unique<CallExpr>(current().line, std::move(callee));
    call->args = parse_call_args();
    return checked(std::move(call));
  }

  std::string parse_dotted_name() {
    std::string name = expect(TokenType::Name).text;
    while (skip_if(TokenType::Dot)) name += "." + expect(TokenType::Name).text;
    return name;
  }

  ExprPtr parse_filter(ExprPtr node, bool start_inline) {
    while (current().type == TokenType::Pipe || start_inline) {
      if (!start_inline) next();
      start_inline = false;
      const int line = current().line;
      auto filter = std::make_unique<FilterExpr>(line, std::move(node), parse_dotted_name());
      if (current().type == TokenType::LParen) filter->args = parse_call_args();
      filter->function = find_filter(filter->name);
      node = checked(std::move(filter));
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    const int line = next().line;
    const bool negated = skip_if_name("not");
    auto test = std::make_unique<TestExpr>(line, std::move(node), parse_dotted_name());
    const TokenType t = current().type;
    if (t == TokenType::LParen) {
      test->args = parse_call_args();
    } else if ((t == TokenType::Name || t == TokenType::String || t == TokenType::Integer || t == TokenType::Float ||
                t == TokenType::LParen || t == TokenType::LBracket || t == TokenType::LBrace) &&
               !at_name("else") && !at_name("or") && !at_name("and")) {
      if (at_name("is")) fail("You cannot chain multiple tests with is");
      test->args.positional.push_back(parse_postfix(parse_primary()));
    }
    test->function = find_test(test->name);
    if (negated) return checked(std::make_unique<UnaryExpr>(ExprKind::Not, line, checked(std::move(test))));
    return checked(std::move(test));
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  uint32_t max_depth_;
  uint32_t depth_ = 0;
  int loop_depth_ = 0;
  std::vector<std::vector<Expected>> end_token_stack_;
  std::vector<std::string> tag_stack_;
  std::vector<std::string> names_seen_;
};

}  // namespace

Body parse_template(std::string_view source, const LexerOptions& options, uint32_t max_depth) {
  return Parser(tokenize(source, options), max_depth).parse();
}

}  // namespace hearth::chat::jinja
