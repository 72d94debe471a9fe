// The syntax tree the parser builds and the interpreter walks. Nodes are plain data; each carries the template
// line it came from, for error messages.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_value.h"

namespace hearth::chat::jinja {

class Interpreter;

// A filter or test implementation: the operand, then the arguments the template passed.
using FilterFunction = Value (*)(Interpreter&, Value operand, Arguments args);
using TestFunction = bool (*)(Interpreter&, const Value& operand, Arguments args);

enum class ExprKind : uint8_t {
  Literal, Name, List, Tuple, Dict, GetAttr, GetItem, Slice, Call, Filter, Test,
  Not, Neg, Pos, Binary, Concat, Compare, Condition,
};

struct Expr {
  Expr(ExprKind k, int l) : kind(k), line(l) {}
  virtual ~Expr() = default;
  ExprKind kind;
  int line;
  uint32_t depth = 1;  // height of the subtree; the parser bounds it so evaluation cannot exhaust the stack
};
using ExprPtr = std::unique_ptr<Expr>;

struct LiteralExpr final : Expr {
  LiteralExpr(int l, Value v) : Expr(ExprKind::Literal, l), value(std::move(v)) {}
  Value value;
};

struct NameExpr final : Expr {
  NameExpr(int l, std::string n) : Expr(ExprKind::Name, l), name(std::move(n)) {}
  std::string name;
};

// List and tuple literals.
struct SequenceExpr final : Expr {
  SequenceExpr(ExprKind k, int l) : Expr(k, l) {}
  std::vector<ExprPtr> items;
};

struct DictExpr final : Expr {
  explicit DictExpr(int l) : Expr(ExprKind::Dict, l) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

struct GetAttrExpr final : Expr {
  GetAttrExpr(int l, ExprPtr o, std::string n) : Expr(ExprKind::GetAttr, l), object(std::move(o)), name(std::move(n)) {}
  ExprPtr object;
  std::string name;
};

struct GetItemExpr final : Expr {
  GetItemExpr(int l, ExprPtr o, ExprPtr i) : Expr(ExprKind::GetItem, l), object(std::move(o)), index(std::move(i)) {}
  ExprPtr object;
  ExprPtr index;
};

// a[start:stop:step]; absent parts are null.
struct SliceExpr final : Expr {
  explicit SliceExpr(int l) : Expr(ExprKind::Slice, l) {}
  ExprPtr start, stop, step;
};

struct CallArguments {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
  ExprPtr star_args;    // *args
  ExprPtr star_kwargs;  // **kwargs
};

struct CallExpr final : Expr {
  CallExpr(int l, ExprPtr c) : Expr(ExprKind::Call, l), callee(std::move(c)) {}
  ExprPtr callee;
  CallArguments args;
};

// `operand | name(args)`. In {% filter %} blocks and {% set x | f %} the operand is null: the block's text.
// `function` is null for a filter jinja2 does not know, which fails only when reached (inside if-blocks and
// conditional expressions; elsewhere unknown filters are parse errors).
struct FilterExpr final : Expr {
  FilterExpr(int l, ExprPtr o, std::string n) : Expr(ExprKind::Filter, l), operand(std::move(o)), name(std::move(n)) {}
  ExprPtr operand;
  std::string name;
  CallArguments args;
  FilterFunction function = nullptr;
};

struct TestExpr final : Expr {
  TestExpr(int l, ExprPtr o, std::string n) : Expr(ExprKind::Test, l), operand(std::move(o)), name(std::move(n)) {}
  ExprPtr operand;
  std::string name;
  CallArguments args;
  TestFunction function = nullptr;
};

// not / unary minus / unary plus.
struct UnaryExpr final : Expr {
  UnaryExpr(ExprKind k, int l, ExprPtr o) : Expr(k, l), operand(std::move(o)) {}
  ExprPtr operand;
};

enum class BinaryOp : uint8_t { Add, Sub, Mul, Div, FloorDiv, Mod, Pow, And, Or };

struct BinaryExpr final : Expr {
  BinaryExpr(int l, BinaryOp o, ExprPtr a, ExprPtr b)
      : Expr(ExprKind::Binary, l), op(o), left(std::move(a)), right(std::move(b)) {}
  BinaryOp op;
  ExprPtr left, right;
};

// a ~ b ~ c
struct ConcatExpr final : Expr {
  explicit ConcatExpr(int l) : Expr(ExprKind::Concat, l) {}
  std::vector<ExprPtr> items;
};

enum class CompareOp : uint8_t { Eq, Ne, Lt, LtEq, Gt, GtEq, In, NotIn };

// a < b <= c: chained like Python.
struct CompareExpr final : Expr {
  CompareExpr(int l, ExprPtr f) : Expr(ExprKind::Compare, l), first(std::move(f)) {}
  ExprPtr first;
  std::vector<std::pair<CompareOp, ExprPtr>> rest;
};

// `then if test else otherwise`; otherwise may be null.
struct ConditionExpr final : Expr {
  ConditionExpr(int l, ExprPtr t, ExprPtr a, ExprPtr b)
      : Expr(ExprKind::Condition, l), test(std::move(t)), then(std::move(a)), otherwise(std::move(b)) {}
  ExprPtr test, then, otherwise;
};

// Where a value is stored: a name, a tuple of targets to unpack into, or `namespace.attribute`.
struct Target {
  enum class Kind : uint8_t { Name, Tuple, NamespaceAttribute } kind = Kind::Name;
  std::string name;
  std::string attribute;
  std::vector<Target> items;
  int line = 0;
};

enum class StmtKind : uint8_t {
  Text, Print, If, For, Set, SetBlock, Macro, CallBlock, FilterBlock, Break, Continue, With, Generation,
};

struct Stmt {
  Stmt(StmtKind k, int l) : kind(k), line(l) {}
  virtual ~Stmt() = default;
  StmtKind kind;
  int line;
};
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct TextStmt final : Stmt {
  TextStmt(int l, std::string t) : Stmt(StmtKind::Text, l), text(std::move(t)) {}
  std::string text;
};

struct PrintStmt final : Stmt {
  PrintStmt(int l, ExprPtr e) : Stmt(StmtKind::Print, l), expr(std::move(e)) {}
  ExprPtr expr;
};

struct IfStmt final : Stmt {
  explicit IfStmt(int l) : Stmt(StmtKind::If, l) {}
  std::vector<std::pair<ExprPtr, Body>> branches;  // if + elifs
  Body otherwise;
};

struct ForStmt final : Stmt {
  explicit ForStmt(int l) : Stmt(StmtKind::For, l) {}
  Target target;
  ExprPtr iterable;
  ExprPtr filter;  // `for x in xs if cond`, may be null
  Body body;
  Body otherwise;  // {% else %}: runs when no item was iterated
  bool recursive = false;
};

struct SetStmt final : Stmt {
  SetStmt(int l, Target t, ExprPtr v) : Stmt(StmtKind::Set, l), target(std::move(t)), value(std::move(v)) {}
  Target target;
  ExprPtr value;
};

// {% set x %}...{% endset %}, optionally {% set x | filter %}.
struct SetBlockStmt final : Stmt {
  explicit SetBlockStmt(int l) : Stmt(StmtKind::SetBlock, l) {}
  Target target;
  ExprPtr filter;  // a filter chain whose innermost operand is null (the block text); may be null
  Body body;
};

struct MacroDefinition {
  std::string name;
  std::vector<std::string> parameters;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() parameters
  Body body;
  // jinja2 lets a macro take extra arguments only when its body mentions varargs / kwargs, and passes
  // `caller` only to macros that mention it.
  bool uses_varargs = false;
  bool uses_kwargs = false;
  bool uses_caller = false;
  int line = 0;
};

struct MacroStmt final : Stmt {
  explicit MacroStmt(int l) : Stmt(StmtKind::Macro, l) {}
  MacroDefinition macro;
};

// {% call(params) macro(args) %}body{% endcall %}: the body becomes `caller`.
struct CallBlockStmt final : Stmt {
  explicit CallBlockStmt(int l) : Stmt(StmtKind::CallBlock, l) {}
  ExprPtr call;  // a CallExpr
  MacroDefinition caller;
};

struct FilterBlockStmt final : Stmt {
  explicit FilterBlockStmt(int l) : Stmt(StmtKind::FilterBlock, l) {}
  ExprPtr filter;  // chain with a null innermost operand
  Body body;
};

// {% break %} / {% continue %}
struct LoopControlStmt final : Stmt {
  LoopControlStmt(StmtKind k, int l) : Stmt(k, l) {}
};

struct WithStmt final : Stmt {
  explicit WithStmt(int l) : Stmt(StmtKind::With, l) {}
  std::vector<std::pair<Target, ExprPtr>> assignments;
  Body body;
};

// HF transformers' {% generation %}...{% endgeneration %}: a call block that renders its body unchanged.
struct GenerationStmt final : Stmt {
  explicit GenerationStmt(int l) : Stmt(StmtKind::Generation, l) {}
  Body body;
};

}  // namespace hearth::chat::jinja
