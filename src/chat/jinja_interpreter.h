// Walks the syntax tree and renders it, with jinja2's runtime semantics: its scoping (loop bodies and macros get
// their own frames, if-blocks do not), undefined handling, attribute/item lookup rules and macro calling
// convention. Enforces the sandbox limits of TemplateLimits.
#pragma once

#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_value.h"
#include "hearth/chat.h"

namespace hearth::chat::jinja {

// A scope: names bound in a loop iteration, macro call, or the template's top level. Frames are shared because
// macros keep the frame they were defined in (and see later assignments there, as jinja2's do).
struct Frame {
  explicit Frame(std::shared_ptr<Frame> p) : parent(std::move(p)) {}
  const Value* find(std::string_view name) const;
  void set(std::string_view name, Value value);

  std::shared_ptr<Frame> parent;
  std::vector<std::pair<std::string, Value>> names;
};

class Interpreter {
 public:
  // `globals` holds the built-in functions overlaid with the render context's variables.
  Interpreter(const TemplateOptions& options, std::shared_ptr<Frame> globals);
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  std::string render(const Body& body);

  // ---- services for filters, tests, methods and functions ----
  const TemplateLimits& limits() const { return options_.limits; }
  const std::tm& now() const { return now_; }
  // Counts loop iterations and elements processed by filters; throws once the render exceeds its budget.
  void count_iterations(uint64_t n);
  // Counts the string bytes an operation takes in (its operands, receiver and arguments); throws once the render
  // exceeds its work budget.
  void count_work(const Value& v);
  void count_work(const Arguments& args);
  // Throws when a string of `bytes` would exceed the output limit.
  void check_size(size_t bytes) const;
  // Python iteration: list items, dict keys, string characters; undefined iterates as empty.
  std::vector<Value> iterate(const Value& v);
  // jinja2's environment.getattr(obj, name) and environment.getitem(obj, key).
  Value get_attribute(const Value& object, std::string_view name);
  Value get_item(const Value& object, const Value& key);
  Value call(const Value& callee, Arguments args);
  // Applies a filter or test by name, as map('upper') and select('odd') do.
  Value apply_filter(std::string_view name, Value operand, Arguments args);
  bool apply_test(std::string_view name, const Value& operand, Arguments args);

  // Calls a macro defined in `closure` the way jinja2's Macro.__call__ binds arguments; returns its output.
  Value call_macro(const MacroDefinition& macro, const std::shared_ptr<Frame>& closure, Arguments args);
  // Runs `render_fn` with output going to `buffer`.
  void capture_into(std::string& buffer, const std::function<void()>& render_fn);
  // Remembers a container that may end up in a reference cycle (it received a container through mutation, or it is
  // a macro holding its frame), so that the cycle can be cut when the render ends.
  void track(const Value& container);

  // Enter/leave a nested call (macro, recursive loop); throws past max_call_depth.
  class CallGuard {
   public:
    explicit CallGuard(Interpreter& interpreter);
    ~CallGuard();
    CallGuard(const CallGuard&) = delete;
    CallGuard& operator=(const CallGuard&) = delete;

   private:
    Interpreter& interpreter_;
  };

  // Evaluates a constant expression as jinja2's optimizer does (Expr.as_const); nullopt when that fails.
  std::optional<Value> evaluate_constant(const Expr& expr);

  // Renders one iteration sequence of a for loop (called again by `loop(...)` in recursive loops).
  void run_loop(const ForStmt& loop, const Value& iterable, uint32_t depth);

 private:
  enum class Flow { Normal, Break, Continue };

  Flow render_body(const Body& body);
  Flow render_stmt(const Stmt& stmt);
  Flow render_if(const IfStmt& stmt);
  void render_for(const ForStmt& stmt);
  void render_set_block(const SetBlockStmt& stmt);
  void render_call_block(const CallBlockStmt& stmt);
  void render_filter_block(const FilterBlockStmt& stmt);
  Flow render_with(const WithStmt& stmt);
  // Renders `body` into a fresh buffer inside a new frame, returning the text.
  std::string capture(const Body& body);

  void assign(const Target& target, Value value);
  void write(std::string_view text);

  Value eval(const Expr& expr);
  Value eval_inner(const Expr& expr);
  Value eval_name(const NameExpr& expr);
  Value eval_call(const CallExpr& expr, const Value* caller);
  Value eval_filter(const FilterExpr& expr);
  Value eval_test(const TestExpr& expr);
  Value eval_binary(const BinaryExpr& expr);
  Value eval_compare(const CompareExpr& expr);
  Value eval_get_item(const GetItemExpr& expr);
  Arguments eval_arguments(const CallArguments& args);

  TemplateOptions options_;
  std::tm now_{};
  std::shared_ptr<Frame> frame_;
  std::string* out_ = nullptr;
  Value block_text_;  // the body text a {% filter %} / {% set x | f %} chain applies to
  uint64_t iterations_ = 0;
  uint64_t work_bytes_ = 0;
  uint32_t call_depth_ = 0;
  uint32_t eval_depth_ = 0;
  bool constant_folding_ = false;  // evaluating for the optimizer: slices go through getitem's rules
  std::vector<std::weak_ptr<Object>> tracked_;
  std::vector<std::weak_ptr<ListData>> tracked_lists_;
  std::vector<std::weak_ptr<Dict>> tracked_dicts_;
};

}  // namespace hearth::chat::jinja
