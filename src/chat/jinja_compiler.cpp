#include "chat/jinja_compiler.h"

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>

#include "chat/jinja_builtins.h"
#include "chat/jinja_interpreter.h"
#include "chat/jinja_text.h"

namespace hearth::chat::jinja {
namespace {

// jinja2 only folds values it can write back as Python literals.
bool has_safe_repr(const Value& v, size_t depth = 0) {
  if (depth > kMaxValueDepth) return false;
  switch (v.type()) {
    case Value::Type::None:
    case Value::Type::Bool:
    case Value::Type::Int:
    case Value::Type::Float:
    case Value::Type::String:
      return true;
    case Value::Type::List: {
      const ListData& list = v.as_list();
      if (list.kind != SequenceKind::List && list.kind != SequenceKind::Tuple) return false;
      for (const Value& item : list.items) {
        if (!has_safe_repr(item, depth + 1)) return false;
      }
      return true;
    }
    case Value::Type::Dict:
      for (const auto& [key, value] : v.as_dict().entries()) {
        if (!has_safe_repr(key, depth + 1) || !has_safe_repr(value, depth + 1)) return false;
      }
      return true;
    default:
      return false;
  }
}

// Whether all flags are set; every operand is evaluated (in order), unlike &&, so all children get folded.
bool all(std::initializer_list<bool> flags) {
  return std::all_of(flags.begin(), flags.end(), [](bool flag) { return flag; });
}

// Folds constant subexpressions bottom-up, like jinja2's Optimizer with Expr.as_const.
class ConstantFolder {
 public:
  explicit ConstantFolder(const TemplateOptions& options)
      : interpreter_(options, std::make_shared<Frame>(nullptr)) {}

  void fold_body(Body& body) {
    for (StmtPtr& stmt : body) fold_statement(stmt);
  }

 private:
  // Replaces `e` by a literal when it evaluates to a foldable constant; returns whether `e` is constant
  // (whether jinja2's as_const could succeed on it).
  bool fold(ExprPtr& e) {
    if (!e) return true;
    bool constant = true;
    switch (e->kind) {
      case ExprKind::Literal:
        return true;
      case ExprKind::Name:
        return false;
      case ExprKind::List:
      case ExprKind::Tuple:
        for (ExprPtr& item : static_cast<SequenceExpr&>(*e).items) constant &= fold(item);
        break;
      case ExprKind::Dict:
        for (auto& [key, value] : static_cast<DictExpr&>(*e).items) constant &= all({fold(key), fold(value)});
        break;
      case ExprKind::GetAttr:
        constant = fold(static_cast<GetAttrExpr&>(*e).object);
        break;
      case ExprKind::GetItem: {
        auto& getitem = static_cast<GetItemExpr&>(*e);
        constant = all({fold(getitem.object), fold(getitem.index)});
        break;
      }
      case ExprKind::Slice: {
        auto& slice = static_cast<SliceExpr&>(*e);
        return all({fold(slice.start), fold(slice.stop), fold(slice.step)});  // folded only with its subscript
      }
      case ExprKind::Call: {
        auto& call = static_cast<CallExpr&>(*e);
        fold(call.callee);
        fold_arguments(call.args);
        return false;
      }
      case ExprKind::Filter: {
        auto& filter = static_cast<FilterExpr&>(*e);
        constant = filter.operand != nullptr;
        constant &= fold(filter.operand);
        constant &= fold_arguments(filter.args);
        constant &= filter.function != nullptr && !filter_uses_context(filter.name);
        break;
      }
      case ExprKind::Test: {
        auto& test = static_cast<TestExpr&>(*e);
        constant = all({fold(test.operand), fold_arguments(test.args)});
        constant &= test.function != nullptr;
        break;
      }
      case ExprKind::Not:
      case ExprKind::Neg:
      case ExprKind::Pos:
        constant = fold(static_cast<UnaryExpr&>(*e).operand);
        break;
      case ExprKind::Binary: {
        auto& binary = static_cast<BinaryExpr&>(*e);
        const bool left = fold(binary.left);
        const bool right = fold(binary.right);
        if ((binary.op == BinaryOp::And || binary.op == BinaryOp::Or) && left && !right) {
          // `false and x` / `true or x` are decided by the constant left side alone.
          const auto value = interpreter_.evaluate_constant(*binary.left);
          if (!value || value->truthy() != (binary.op == BinaryOp::Or)) return false;
          replace_if_safe(e, *value);
          return true;
        }
        constant = left && right;
        break;
      }
      case ExprKind::Concat:
        for (ExprPtr& item : static_cast<ConcatExpr&>(*e).items) constant &= fold(item);
        break;
      case ExprKind::Compare: {
        auto& compare = static_cast<CompareExpr&>(*e);
        constant = fold(compare.first);
        for (auto& [op, operand] : compare.rest) constant &= fold(operand);
        break;
      }
      case ExprKind::Condition: {
        auto& condition = static_cast<ConditionExpr&>(*e);
        const bool test = fold(condition.test);
        const bool then = fold(condition.then);
        const bool otherwise = condition.otherwise != nullptr && fold(condition.otherwise);
        if (!test) return false;
        // Only the branch the constant test picks needs to be constant.
        const auto picked = interpreter_.evaluate_constant(*condition.test);
        if (!picked) return false;
        ExprPtr& branch = picked->truthy() ? condition.then : condition.otherwise;
        if (!branch || !(picked->truthy() ? then : otherwise)) return false;
        if (const auto value = interpreter_.evaluate_constant(*branch)) replace_if_safe(e, *value);
        return true;
      }
    }
    if (constant) {
      if (const auto value = interpreter_.evaluate_constant(*e)) replace_if_safe(e, *value);
    }
    return constant;
  }

  void replace_if_safe(ExprPtr& e, const Value& value) {
    if (has_safe_repr(value)) e = std::make_unique<LiteralExpr>(e->line, value);
  }

  bool fold_arguments(CallArguments& args) {
    bool constant = true;
    for (ExprPtr& arg : args.positional) constant &= fold(arg);
    for (auto& [name, arg] : args.keyword) constant &= fold(arg);
    constant &= all({fold(args.star_args), fold(args.star_kwargs)});
    return constant;
  }

  void fold_macro(MacroDefinition& macro) {
    for (ExprPtr& e : macro.defaults) fold(e);
    fold_body(macro.body);
  }

  void fold_statement(StmtPtr& stmt) {
    switch (stmt->kind) {
      case StmtKind::Print: {
        auto& print = static_cast<PrintStmt&>(*stmt);
        // jinja2 writes constant output straight into the compiled template, whatever its value.
        if (fold(print.expr)) {
          if (const auto value = interpreter_.evaluate_constant(*print.expr)) {
            stmt = std::make_unique<TextStmt>(stmt->line, value->str());
          }
        }
        break;
      }
      case StmtKind::If:
        for (auto& [test, body] : static_cast<IfStmt&>(*stmt).branches) {
          fold(test);
          fold_body(body);
        }
        fold_body(static_cast<IfStmt&>(*stmt).otherwise);
        break;
      case StmtKind::For: {
        auto& loop = static_cast<ForStmt&>(*stmt);
        fold(loop.iterable);
        fold(loop.filter);
        fold_body(loop.body);
        fold_body(loop.otherwise);
        break;
      }
      case StmtKind::Set:
        fold(static_cast<SetStmt&>(*stmt).value);
        break;
      case StmtKind::SetBlock:
        fold(static_cast<SetBlockStmt&>(*stmt).filter);
        fold_body(static_cast<SetBlockStmt&>(*stmt).body);
        break;
      case StmtKind::Macro:
        fold_macro(static_cast<MacroStmt&>(*stmt).macro);
        break;
      case StmtKind::CallBlock:
        fold(static_cast<CallBlockStmt&>(*stmt).call);
        fold_macro(static_cast<CallBlockStmt&>(*stmt).caller);
        break;
      case StmtKind::FilterBlock:
        fold(static_cast<FilterBlockStmt&>(*stmt).filter);
        fold_body(static_cast<FilterBlockStmt&>(*stmt).body);
        break;
      case StmtKind::With:
        for (auto& assignment : static_cast<WithStmt&>(*stmt).assignments) fold(assignment.second);
        fold_body(static_cast<WithStmt&>(*stmt).body);
        break;
      case StmtKind::Generation:
        fold_body(static_cast<GenerationStmt&>(*stmt).body);
        break;
      case StmtKind::Text:
      case StmtKind::Break:
      case StmtKind::Continue:
        break;
    }
  }

  Interpreter interpreter_;
};

// Walks the folded tree in the order jinja2 generates code, failing at the first unknown filter or test that is
// not in a soft frame (if-blocks and conditional expressions; loop bodies, macros and blocks open hard frames).
class CallableChecker {
 public:
  void check_body(const Body& body, bool soft) {
    for (const StmtPtr& stmt : body) check_statement(*stmt, soft);
  }

 private:
  void check(const ExprPtr& e, bool soft) {
    if (!e) return;
    switch (e->kind) {
      case ExprKind::Literal:
      case ExprKind::Name:
        return;
      case ExprKind::List:
      case ExprKind::Tuple:
        for (const ExprPtr& item : static_cast<const SequenceExpr&>(*e).items) check(item, soft);
        return;
      case ExprKind::Dict:
        for (const auto& [key, value] : static_cast<const DictExpr&>(*e).items) {
          check(key, soft);
          check(value, soft);
        }
        return;
      case ExprKind::GetAttr:
        check(static_cast<const GetAttrExpr&>(*e).object, soft);
        return;
      case ExprKind::GetItem:
        check(static_cast<const GetItemExpr&>(*e).object, soft);
        check(static_cast<const GetItemExpr&>(*e).index, soft);
        return;
      case ExprKind::Slice: {
        const auto& slice = static_cast<const SliceExpr&>(*e);
        check(slice.start, soft);
        check(slice.stop, soft);
        check(slice.step, soft);
        return;
      }
      case ExprKind::Call:
        check(static_cast<const CallExpr&>(*e).callee, soft);
        check_arguments(static_cast<const CallExpr&>(*e).args, soft);
        return;
      case ExprKind::Filter: {
        const auto& filter = static_cast<const FilterExpr&>(*e);
        // jinja2 looks the filter up before it compiles the operand.
        if (filter.function == nullptr && !soft) {
          throw TemplateError(fmt::format("No filter named {}.", text::repr(filter.name)), e->line);
        }
        check(filter.operand, soft);
        check_arguments(filter.args, soft);
        return;
      }
      case ExprKind::Test: {
        const auto& test = static_cast<const TestExpr&>(*e);
        if (test.function == nullptr && !soft) {
          throw TemplateError(fmt::format("No test named {}.", text::repr(test.name)), e->line);
        }
        check(test.operand, soft);
        check_arguments(test.args, soft);
        return;
      }
      case ExprKind::Not:
      case ExprKind::Neg:
      case ExprKind::Pos:
        check(static_cast<const UnaryExpr&>(*e).operand, soft);
        return;
      case ExprKind::Binary:
        check(static_cast<const BinaryExpr&>(*e).left, soft);
        check(static_cast<const BinaryExpr&>(*e).right, soft);
        return;
      case ExprKind::Concat:
        for (const ExprPtr& item : static_cast<const ConcatExpr&>(*e).items) check(item, soft);
        return;
      case ExprKind::Compare:
        check(static_cast<const CompareExpr&>(*e).first, soft);
        for (const auto& [op, operand] : static_cast<const CompareExpr&>(*e).rest) check(operand, soft);
        return;
      case ExprKind::Condition: {
        const auto& condition = static_cast<const ConditionExpr&>(*e);
        check(condition.then, true);
        check(condition.test, true);
        check(condition.otherwise, true);
        return;
      }
    }
  }

  void check_arguments(const CallArguments& args, bool soft) {
    for (const ExprPtr& arg : args.positional) check(arg, soft);
    for (const auto& [name, arg] : args.keyword) check(arg, soft);
    check(args.star_args, soft);
    check(args.star_kwargs, soft);
  }

  void check_macro(const MacroDefinition& macro) {
    for (const ExprPtr& e : macro.defaults) check(e, false);
    check_body(macro.body, false);
  }

  void check_statement(const Stmt& stmt, bool soft) {
    switch (stmt.kind) {
      case StmtKind::Print:
        check(static_cast<const PrintStmt&>(stmt).expr, soft);
        return;
      case StmtKind::If:
        for (const auto& [test, body] : static_cast<const IfStmt&>(stmt).branches) {
          check(test, true);
          check_body(body, true);
        }
        check_body(static_cast<const IfStmt&>(stmt).otherwise, true);
        return;
      case StmtKind::For: {
        const auto& loop = static_cast<const ForStmt&>(stmt);
        check(loop.filter, false);
        check(loop.iterable, soft);
        check_body(loop.body, false);
        check_body(loop.otherwise, false);
        return;
      }
      case StmtKind::Set:
        check(static_cast<const SetStmt&>(stmt).value, soft);
        return;
      case StmtKind::SetBlock:
        check_body(static_cast<const SetBlockStmt&>(stmt).body, false);
        check(static_cast<const SetBlockStmt&>(stmt).filter, false);
        return;
      case StmtKind::Macro:
        check_macro(static_cast<const MacroStmt&>(stmt).macro);
        return;
      case StmtKind::CallBlock:
        check_macro(static_cast<const CallBlockStmt&>(stmt).caller);
        check(static_cast<const CallBlockStmt&>(stmt).call, soft);
        return;
      case StmtKind::FilterBlock:
        check_body(static_cast<const FilterBlockStmt&>(stmt).body, false);
        check(static_cast<const FilterBlockStmt&>(stmt).filter, false);
        return;
      case StmtKind::With:
        for (const auto& assignment : static_cast<const WithStmt&>(stmt).assignments) check(assignment.second, soft);
        check_body(static_cast<const WithStmt&>(stmt).body, false);
        return;
      case StmtKind::Generation:
        check_body(static_cast<const GenerationStmt&>(stmt).body, false);
        return;
      case StmtKind::Text:
      case StmtKind::Break:
      case StmtKind::Continue:
        return;
    }
  }
};

}  // namespace

void compile(Body& body, const TemplateOptions& options) {
  ConstantFolder(options).fold_body(body);
  CallableChecker().check_body(body, false);
}

}  // namespace hearth::chat::jinja
