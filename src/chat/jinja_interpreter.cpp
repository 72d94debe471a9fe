#include "chat/jinja_interpreter.h"

#include <fmt/format.h>

#include <algorithm>

#include "chat/jinja_builtins.h"
#include "chat/jinja_operators.h"
#include "chat/jinja_text.h"

namespace hearth::chat::jinja {

const Value* Frame::find(std::string_view name) const {
  for (const Frame* frame = this; frame != nullptr; frame = frame->parent.get()) {
    for (const auto& [key, value] : frame->names) {
      if (key == name) return &value;
    }
  }
  return nullptr;
}

void Frame::set(std::string_view name, Value value) {
  for (auto& [key, existing] : names) {
    if (key == name) {
      existing = std::move(value);
      return;
    }
  }
  names.emplace_back(std::string(name), std::move(value));
}

namespace {

// A macro (or a call block's `caller`) together with the frame it was defined in.
class Macro final : public Object {
 public:
  Macro(const MacroDefinition& definition, std::shared_ptr<Frame> closure)
      : definition_(definition), closure_(std::move(closure)) {}

  std::string_view type_name() const override { return "Macro"; }
  std::string qualified_type_name() const override { return "jinja2.runtime.Macro"; }
  std::string repr() const override { return fmt::format("<Macro {}>", text::repr(definition_.name)); }
  bool callable() const override { return true; }
  Value call(Interpreter& interpreter, Arguments args) override;
  void release_references() override { closure_.reset(); }

 private:
  const MacroDefinition& definition_;
  std::shared_ptr<Frame> closure_;
};

// State shared by one for loop's iterations: jinja2's LoopContext.
class Loop final : public Object {
 public:
  Loop(const ForStmt& statement, std::vector<Value> items, uint32_t depth)
      : statement_(statement), items_(std::move(items)), depth_(depth) {}

  std::string_view type_name() const override { return "LoopContext"; }
  std::string qualified_type_name() const override { return "jinja2.runtime.LoopContext"; }
  std::string repr() const override { return fmt::format("<LoopContext {}/{}>", index_ + 1, items_.size()); }
  std::optional<Value> attribute(std::string_view name) const override;
  bool callable() const override { return true; }
  Value call(Interpreter& interpreter, Arguments args) override;
  std::optional<size_t> length() const override { return items_.size(); }
  bool iterable() const override { return true; }
  void release_references() override {
    release_values(items_);
    last_changed_.reset();
  }

  void set_index(size_t index) { index_ = index; }
  const std::vector<Value>& items() const { return items_; }
  Value cycle(Arguments args) const;
  bool changed(Arguments args);

 private:
  const ForStmt& statement_;
  std::vector<Value> items_;
  uint32_t depth_;
  size_t index_ = 0;
  std::optional<Value> last_changed_;
};

// loop.cycle / loop.changed as values.
class LoopMethod final : public Object {
 public:
  LoopMethod(std::shared_ptr<Loop> loop, bool is_cycle) : loop_(std::move(loop)), is_cycle_(is_cycle) {}
  std::string_view type_name() const override { return "method"; }
  std::string repr() const override {
    return fmt::format("<bound method LoopContext.{} of {}>", is_cycle_ ? "cycle" : "changed", loop_->repr());
  }
  bool callable() const override { return true; }
  Value call(Interpreter& interpreter, Arguments args) override {
    if (is_cycle_) return loop_->cycle(std::move(args));
    // loop.changed() keeps its arguments, which may hold the loop itself.
    interpreter.track(Value::object(loop_));
    return Value::boolean(loop_->changed(std::move(args)));
  }

 private:
  std::shared_ptr<Loop> loop_;
  bool is_cycle_;
};

std::optional<Value> Loop::attribute(std::string_view name) const {
  const auto length = static_cast<int64_t>(items_.size());
  const auto i = static_cast<int64_t>(index_);
  if (name == "index0") return Value::integer(i);
  if (name == "index") return Value::integer(i + 1);
  if (name == "revindex") return Value::integer(length - i);
  if (name == "revindex0") return Value::integer(length - i - 1);
  if (name == "first") return Value::boolean(i == 0);
  if (name == "last") return Value::boolean(i == length - 1);
  if (name == "length") return Value::integer(length);
  if (name == "depth") return Value::integer(depth_);
  if (name == "depth0") return Value::integer(depth_ - 1);
  if (name == "previtem") return i > 0 ? items_[index_ - 1] : Value::undefined("there is no previous item");
  if (name == "nextitem") return i + 1 < length ? items_[index_ + 1] : Value::undefined("there is no next item");
  if (name == "cycle" || name == "changed") {
    auto self = std::static_pointer_cast<Loop>(std::const_pointer_cast<Object>(shared_from_this()));
    return Value::object(std::make_shared<LoopMethod>(std::move(self), name == "cycle"));
  }
  return std::nullopt;
}

Value Loop::cycle(Arguments args) const {
  if (args.positional.empty()) fail("no items for cycling given");
  return args.positional[index_ % args.positional.size()];
}

bool Loop::changed(Arguments args) {
  Value current = Value::list(std::move(args.positional), SequenceKind::Tuple);
  if (last_changed_ && equals(*last_changed_, current)) return false;
  last_changed_ = std::move(current);
  return true;
}

Value Loop::call(Interpreter& interpreter, Arguments args) {
  if (!statement_.recursive) fail("The loop must have the 'recursive' marker to be called recursively.");
  if (args.positional.size() != 1 || !args.keyword.empty()) fail("loop() takes exactly one argument");
  Interpreter::CallGuard guard(interpreter);
  std::string output;
  interpreter.capture_into(output, [&] { interpreter.run_loop(statement_, args.positional[0], depth_ + 1); });
  return Value::string(std::move(output));
}

Value Macro::call(Interpreter& interpreter, Arguments args) {
  return interpreter.call_macro(definition_, closure_, std::move(args));
}

// Restores the interpreter's current frame when a scope ends, also on errors.
class FrameScope {
 public:
  FrameScope(std::shared_ptr<Frame>& slot, std::shared_ptr<Frame> frame) : slot_(slot), saved_(std::move(slot)) {
    slot_ = std::move(frame);
  }
  ~FrameScope() { slot_ = std::move(saved_); }
  FrameScope(const FrameScope&) = delete;
  FrameScope& operator=(const FrameScope&) = delete;

 private:
  std::shared_ptr<Frame>& slot_;
  std::shared_ptr<Frame> saved_;
};

int64_t slice_index(const Value& v) {
  if (v.is_bool() || v.is_int()) return v.as_integer();
  fail("slice indices must be integers or None or have an __index__ method");
}

// Python's slice.indices(): the positions a[start:stop:step] selects from a sequence of `length`.
std::vector<size_t> slice_positions(const Value& start_value, const Value& stop_value, const Value& step_value,
                                    size_t length) {
  const int64_t n = static_cast<int64_t>(length);
  const int64_t step = step_value.is_none() ? 1 : slice_index(step_value);
  if (step == 0) fail("slice step cannot be zero");
  const int64_t lower = step > 0 ? 0 : -1;
  const int64_t upper = step > 0 ? n : n - 1;
  const auto adjust = [&](const Value& v, int64_t fallback) {
    if (v.is_none()) return fallback;
    int64_t i = slice_index(v);
    if (i < 0) {
      i += n;
      if (i < lower) i = lower;
    } else if (i > upper) {
      i = upper;
    }
    return i;
  };
  const int64_t start = adjust(start_value, step > 0 ? lower : upper);
  const int64_t stop = adjust(stop_value, step > 0 ? upper : lower);
  std::vector<size_t> positions;
  if (step > 0) {
    for (int64_t i = start; i < stop; i += step) positions.push_back(static_cast<size_t>(i));
  } else {
    for (int64_t i = start; i > stop; i += step) positions.push_back(static_cast<size_t>(i));
  }
  return positions;
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

}  // namespace

Interpreter::CallGuard::CallGuard(Interpreter& interpreter) : interpreter_(interpreter) {
  if (++interpreter_.call_depth_ > interpreter_.options_.limits.max_call_depth) {
    --interpreter_.call_depth_;
    fail("maximum recursion depth exceeded while calling a Python object");
  }
}

Interpreter::CallGuard::~CallGuard() { --interpreter_.call_depth_; }

Interpreter::Interpreter(const TemplateOptions& options, std::shared_ptr<Frame> globals)
    : options_(options), frame_(std::move(globals)) {
  if (options_.fixed_now) {
    now_ = *options_.fixed_now;
  } else {
    const std::time_t t = std::time(nullptr);
    localtime_r(&t, &now_);
  }
}

Interpreter::~Interpreter() {
  frame_.reset();
  block_text_ = Value::none();
  // Whatever tracked object is still alive is only kept alive by a reference cycle (a macro in the frame it
  // closes over, a namespace holding itself); cut the cycles so the memory is returned.
  for (const auto& weak : tracked_) {
    if (auto object = weak.lock()) object->release_references();
  }
  for (const auto& weak : tracked_lists_) {
    if (auto list = weak.lock()) release_values(list->items);
  }
  for (const auto& weak : tracked_dicts_) {
    if (auto dict = weak.lock()) dict->clear();
  }
}

namespace {

// Appends to a list of weak references, dropping the expired ones whenever the list has doubled, so that a
// template creating many short-lived objects does not pile up their memory.
template <typename T>
void remember(std::vector<std::weak_ptr<T>>& tracked, const std::shared_ptr<T>& object) {
  if (tracked.size() >= 64 && (tracked.size() & (tracked.size() - 1)) == 0) {
    std::erase_if(tracked, [](const std::weak_ptr<T>& weak) { return weak.expired(); });
  }
  tracked.push_back(object);
}

}  // namespace

void Interpreter::track(const Value& container) {
  if (container.is_object()) {
    remember(tracked_, container.object_ptr());
  } else if (container.is_list()) {
    remember(tracked_lists_, container.list_ptr());
  } else if (container.is_dict()) {
    remember(tracked_dicts_, container.dict_ptr());
  }
}

std::string Interpreter::render(const Body& body) {
  std::string output;
  out_ = &output;
  FrameScope scope(frame_, std::make_shared<Frame>(frame_));
  render_body(body);
  out_ = nullptr;
  return output;
}

void Interpreter::count_iterations(uint64_t n) {
  iterations_ += n;
  if (iterations_ > options_.limits.max_loop_iterations) {
    fail(fmt::format("the template exceeded its limit of {} loop iterations", options_.limits.max_loop_iterations));
  }
}

void Interpreter::count_work(const Value& v) {
  if (!v.is_string()) return;
  work_bytes_ += v.as_string().size();
  if (work_bytes_ > options_.limits.max_work_bytes) {
    fail(fmt::format("the template exceeded its work limit of {} bytes of string data processed (does a loop keep "
                     "scanning a large string?)", options_.limits.max_work_bytes));
  }
}

void Interpreter::count_work(const Arguments& args) {
  for (const Value& v : args.positional) count_work(v);
  for (const auto& [name, v] : args.keyword) count_work(v);
}

void Interpreter::check_size(size_t bytes) const {
  if (bytes > options_.limits.max_output_bytes) {
    fail(fmt::format("the template exceeded its output limit of {} bytes", options_.limits.max_output_bytes));
  }
}

void Interpreter::write(std::string_view text) {
  check_size(out_->size() + text.size());
  out_->append(text);
}

void Interpreter::capture_into(std::string& buffer, const std::function<void()>& render_fn) {
  std::string* saved = out_;
  out_ = &buffer;
  try {
    render_fn();
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
}

std::string Interpreter::capture(const Body& body) {
  std::string buffer;
  FrameScope scope(frame_, std::make_shared<Frame>(frame_));
  capture_into(buffer, [&] { render_body(body); });
  return buffer;
}

// ---- statements --------------------------------------------------------------------------------------------

Interpreter::Flow Interpreter::render_body(const Body& body) {
  for (const StmtPtr& stmt : body) {
    const Flow flow = render_stmt(*stmt);
    if (flow != Flow::Normal) return flow;
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::render_stmt(const Stmt& stmt) {
  try {
    switch (stmt.kind) {
      case StmtKind::Text:
        write(static_cast<const TextStmt&>(stmt).text);
        break;
      case StmtKind::Print: {
        const Value v = eval(*static_cast<const PrintStmt&>(stmt).expr);
        if (v.is_string()) {
          write(v.as_string());
        } else {
          write(v.str());
        }
        break;
      }
      case StmtKind::If:
        return render_if(static_cast<const IfStmt&>(stmt));
      case StmtKind::For:
        render_for(static_cast<const ForStmt&>(stmt));
        break;
      case StmtKind::Set: {
        const auto& set = static_cast<const SetStmt&>(stmt);
        assign(set.target, eval(*set.value));
        break;
      }
      case StmtKind::SetBlock:
        render_set_block(static_cast<const SetBlockStmt&>(stmt));
        break;
      case StmtKind::Macro: {
        const auto& macro = static_cast<const MacroStmt&>(stmt);
        Value object = Value::object(std::make_shared<Macro>(macro.macro, frame_));
        track(object);
        frame_->set(macro.macro.name, std::move(object));
        break;
      }
      case StmtKind::CallBlock:
        render_call_block(static_cast<const CallBlockStmt&>(stmt));
        break;
      case StmtKind::FilterBlock:
        render_filter_block(static_cast<const FilterBlockStmt&>(stmt));
        break;
      case StmtKind::Break:
        return Flow::Break;
      case StmtKind::Continue:
        return Flow::Continue;
      case StmtKind::With:
        return render_with(static_cast<const WithStmt&>(stmt));
      case StmtKind::Generation: {
        CallGuard guard(*this);
        write(capture(static_cast<const GenerationStmt&>(stmt).body));
        break;
      }
    }
  } catch (const TemplateError& error) {
    if (error.line() == 0) throw TemplateError(error.message(), stmt.line);
    throw;
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::render_if(const IfStmt& stmt) {
  for (const auto& [test, body] : stmt.branches) {
    if (eval(*test).truthy()) return render_body(body);
  }
  return render_body(stmt.otherwise);
}

void Interpreter::render_for(const ForStmt& stmt) { run_loop(stmt, eval(*stmt.iterable), 1); }

void Interpreter::run_loop(const ForStmt& stmt, const Value& iterable, uint32_t depth) {
  std::vector<Value> items = iterate(iterable);
  const std::shared_ptr<Frame> outer = frame_;
  if (stmt.filter) {
    std::vector<Value> kept;
    for (Value& item : items) {
      count_iterations(1);
      FrameScope scope(frame_, std::make_shared<Frame>(outer));
      assign(stmt.target, item);
      if (eval(*stmt.filter).truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  // jinja2 runs the else block unless some iteration reached the end of the body: it clears its flag there, so a
  // loop whose every pass ended in break or continue still runs it.
  bool completed_an_iteration = false;
  if (!items.empty()) {
    auto loop = std::make_shared<Loop>(stmt, std::move(items), depth);
    const Value loop_value = Value::object(loop);
    for (size_t i = 0; i < loop->items().size(); ++i) {
      count_iterations(1);
      loop->set_index(i);
      FrameScope scope(frame_, std::make_shared<Frame>(outer));
      frame_->set("loop", loop_value);
      assign(stmt.target, loop->items()[i]);
      const Flow flow = render_body(stmt.body);
      if (flow == Flow::Normal) completed_an_iteration = true;
      if (flow == Flow::Break) break;
    }
  }
  if (!completed_an_iteration && !stmt.otherwise.empty()) {
    FrameScope scope(frame_, std::make_shared<Frame>(outer));
    render_body(stmt.otherwise);
  }
}

void Interpreter::render_set_block(const SetBlockStmt& stmt) {
  Value text = Value::string(capture(stmt.body));
  if (stmt.filter) {
    const Value saved = std::exchange(block_text_, std::move(text));
    text = eval(*stmt.filter);
    block_text_ = saved;
  }
  assign(stmt.target, std::move(text));
}

void Interpreter::render_filter_block(const FilterBlockStmt& stmt) {
  const Value saved = std::exchange(block_text_, Value::string(capture(stmt.body)));
  const Value result = eval(*stmt.filter);
  block_text_ = saved;
  write(result.str());
}

Interpreter::Flow Interpreter::render_with(const WithStmt& stmt) {
  std::vector<Value> values;
  for (const auto& assignment : stmt.assignments) values.push_back(eval(*assignment.second));
  FrameScope scope(frame_, std::make_shared<Frame>(frame_));
  for (size_t i = 0; i < values.size(); ++i) assign(stmt.assignments[i].first, std::move(values[i]));
  return render_body(stmt.body);
}

void Interpreter::render_call_block(const CallBlockStmt& stmt) {
  Value caller = Value::object(std::make_shared<Macro>(stmt.caller, frame_));
  track(caller);
  const Value result = eval_call(static_cast<const CallExpr&>(*stmt.call), &caller);
  write(result.str());
}

void Interpreter::assign(const Target& target, Value value) {
  switch (target.kind) {
    case Target::Kind::Name:
      frame_->set(target.name, std::move(value));
      return;
    case Target::Kind::Tuple: {
      if (!value.is_list() && !value.is_dict() && !value.is_string() && !value.is_undefined()) {
        fail(fmt::format("cannot unpack non-iterable {} object", value.type_name()));
      }
      std::vector<Value> items = iterate(value);
      const size_t expected = target.items.size();
      if (items.size() < expected) {
        fail(fmt::format("not enough values to unpack (expected {}, got {})", expected, items.size()));
      }
      if (items.size() > expected) fail(fmt::format("too many values to unpack (expected {})", expected));
      for (size_t i = 0; i < expected; ++i) assign(target.items[i], std::move(items[i]));
      return;
    }
    case Target::Kind::NamespaceAttribute: {
      const Value* holder = frame_->find(target.name);
      if (holder == nullptr || !holder->is_object() || dynamic_cast<Namespace*>(&holder->as_object()) == nullptr) {
        fail("cannot assign attribute on non-namespace object");
      }
      if (value.is_list() || value.is_dict() || value.is_object()) track(*holder);
      holder->as_object().set_attribute(target.attribute, std::move(value));
      return;
    }
  }
}

// ---- calls ---------------------------------------------------------------------------------------------------

Value Interpreter::call_macro(const MacroDefinition& macro, const std::shared_ptr<Frame>& closure, Arguments args) {
  CallGuard guard(*this);
  count_iterations(1);
  const size_t parameter_count = macro.parameters.size();
  std::vector<std::optional<Value>> bound(parameter_count);
  const size_t given = std::min(args.positional.size(), parameter_count);
  for (size_t i = 0; i < given; ++i) bound[i] = args.positional[i];
  const auto take_keyword = [&](std::string_view name) -> std::optional<Value> {
    for (auto it = args.keyword.begin(); it != args.keyword.end(); ++it) {
      if (it->first == name) {
        Value v = std::move(it->second);
        args.keyword.erase(it);
        return v;
      }
    }
    return std::nullopt;
  };
  bool found_caller = false;
  if (given != parameter_count) {
    for (size_t i = given; i < parameter_count; ++i) {
      bound[i] = take_keyword(macro.parameters[i]);
      found_caller |= macro.parameters[i] == "caller";
    }
  }
  std::optional<Value> caller;
  if (macro.uses_caller && !found_caller) {
    caller = take_keyword("caller");
    if (!caller) caller = Value::undefined("No caller defined");
  }
  std::optional<Value> kwargs;
  if (macro.uses_kwargs) {
    auto dict = std::make_shared<Dict>();
    for (auto& [name, value] : args.keyword) dict->set(name, std::move(value));
    kwargs = Value::dict(std::move(dict));
  } else if (!args.keyword.empty()) {
    for (const auto& [name, value] : args.keyword) {
      if (name == "caller") {
        fail(fmt::format("macro {} was invoked with two values for the special caller argument. This is most likely a bug.",
                         text::repr(macro.name)));
      }
    }
    fail(fmt::format("macro {} takes no keyword argument {}", text::repr(macro.name), text::repr(args.keyword.front().first)));
  }
  std::optional<Value> varargs;
  if (macro.uses_varargs) {
    std::vector<Value> extra;
    for (size_t i = parameter_count; i < args.positional.size(); ++i) extra.push_back(args.positional[i]);
    varargs = Value::list(std::move(extra), SequenceKind::Tuple);
  } else if (args.positional.size() > parameter_count) {
    fail(fmt::format("macro {} takes not more than {} argument(s)", text::repr(macro.name), parameter_count));
  }

  FrameScope scope(frame_, std::make_shared<Frame>(closure));
  const size_t first_default = parameter_count - macro.defaults.size();
  for (size_t i = 0; i < parameter_count; ++i) {
    Value value;
    if (bound[i]) {
      value = std::move(*bound[i]);
    } else if (i >= first_default) {
      value = eval(*macro.defaults[i - first_default]);
    } else {
      value = Value::undefined(fmt::format("parameter {} was not provided", text::repr(macro.parameters[i])));
    }
    frame_->set(macro.parameters[i], std::move(value));
  }
  if (caller) frame_->set("caller", std::move(*caller));
  if (kwargs) frame_->set("kwargs", std::move(*kwargs));
  if (varargs) frame_->set("varargs", std::move(*varargs));
  std::string output;
  capture_into(output, [&] { render_body(macro.body); });
  return Value::string(std::move(output));
}

Value Interpreter::call(const Value& callee, Arguments args) {
  if (callee.is_undefined()) callee.fail_undefined();
  if (!callee.callable()) fail(fmt::format("'{}' object is not callable", callee.type_name()));
  return callee.as_object().call(*this, std::move(args));
}

Arguments Interpreter::eval_arguments(const CallArguments& call_args) {
  Arguments args;
  args.positional.reserve(call_args.positional.size());
  for (const ExprPtr& e : call_args.positional) args.positional.push_back(eval(*e));
  for (const auto& [name, e] : call_args.keyword) args.keyword.emplace_back(name, eval(*e));
  if (call_args.star_args) {
    for (Value& v : iterate(eval(*call_args.star_args))) args.positional.push_back(std::move(v));
  }
  if (call_args.star_kwargs) {
    const Value mapping = eval(*call_args.star_kwargs);
    if (!mapping.is_dict()) fail(fmt::format("argument after ** must be a mapping, not {}", mapping.type_name()));
    for (const auto& [key, value] : mapping.as_dict().entries()) {
      if (!key.is_string()) fail("keywords must be strings");
      args.keyword.emplace_back(key.as_string(), value);
    }
  }
  return args;
}

Value Interpreter::eval_call(const CallExpr& expr, const Value* caller) {
  Value callee;
  if (expr.callee->kind == ExprKind::GetAttr) {
    const auto& getattr = static_cast<const GetAttrExpr&>(*expr.callee);
    Value object = eval(*getattr.object);
    if (object.is_string() || object.is_list() || object.is_dict()) {
      // Python methods win over dict keys of the same name, as in jinja2's getattr-first lookup.
      Arguments args = eval_arguments(expr.args);
      if (caller != nullptr) args.keyword.emplace_back("caller", *caller);
      count_work(object);
      count_work(args);
      if (auto result = call_method(*this, object, getattr.name, args)) return std::move(*result);
      return call(get_attribute(object, getattr.name), std::move(args));
    }
    callee = get_attribute(object, getattr.name);
  } else {
    callee = eval(*expr.callee);
  }
  Arguments args = eval_arguments(expr.args);
  if (caller != nullptr) args.keyword.emplace_back("caller", *caller);
  return call(callee, std::move(args));
}

Value Interpreter::apply_filter(std::string_view name, Value operand, Arguments args) {
  const FilterFunction function = find_filter(name);
  if (function == nullptr) fail(fmt::format("No filter named {}.", text::repr(name)));
  count_work(operand);
  count_work(args);
  return function(*this, std::move(operand), std::move(args));
}

bool Interpreter::apply_test(std::string_view name, const Value& operand, Arguments args) {
  const TestFunction function = find_test(name);
  if (function == nullptr) fail(fmt::format("No test named {}.", text::repr(name)));
  count_work(operand);
  count_work(args);
  return function(*this, operand, std::move(args));
}

// ---- lookups ---------------------------------------------------------------------------------------------------

std::vector<Value> Interpreter::iterate(const Value& v) {
  switch (v.type()) {
    case Value::Type::Undefined:
      return {};
    case Value::Type::List: {
      ListData& list = v.as_list();
      if (list.kind != SequenceKind::Generator) return list.items;
      list.materialize();
      std::vector<Value> rest(list.items.begin() + static_cast<std::ptrdiff_t>(list.consumed), list.items.end());
      list.consumed = list.items.size();
      return rest;
    }
    case Value::Type::Dict: {
      std::vector<Value> keys;
      keys.reserve(v.as_dict().size());
      for (const auto& entry : v.as_dict().entries()) keys.push_back(entry.first);
      return keys;
    }
    case Value::Type::String: {
      std::vector<Value> chars;
      const std::string& s = v.as_string();
      for (size_t pos = 0; pos < s.size();) {
        const size_t start = pos;
        text::decode_next(s, pos);
        chars.push_back(Value::string(s.substr(start, pos - start)));  // str.__iter__ yields plain str, even for Markup
      }
      return chars;
    }
    default:
      fail(fmt::format("'{}' object is not iterable", v.type_name()));
  }
}

Value Interpreter::get_attribute(const Value& object, std::string_view name) {
  if (object.is_undefined()) object.fail_undefined();
  if (!name.empty() && name.front() == '_') {
    // The sandbox: no reaching into Python internals (__class__, __globals__, ...).
    return Value::undefined(fmt::format("access to attribute {} of {} object is unsafe.", text::repr(name),
                                        text::repr(object.type_name())));
  }
  if (auto method = find_method(object, name)) return std::move(*method);
  if (object.is_object()) {
    if (auto attribute = object.as_object().attribute(name)) return std::move(*attribute);
  } else if (object.is_dict()) {
    if (const Value* value = object.as_dict().find(name)) return *value;
  } else if (object.is_list() && object.as_list().is_group && (name == "grouper" || name == "list")) {
    return object.as_list().items[name == "grouper" ? 0 : 1];
  }
  return Value::undefined(fmt::format("{} has no attribute {}", text::repr(object.object_type_repr()), text::repr(name)));
}

Value Interpreter::get_item(const Value& object, const Value& key) {
  if (object.is_undefined()) object.fail_undefined();
  switch (object.type()) {
    case Value::Type::Dict: {
      const bool hashable = !(key.is_list() && key.as_list().kind != SequenceKind::Tuple) && !key.is_dict();
      if (hashable) {
        if (const Value* value = object.as_dict().find(key)) return *value;
      }
      break;
    }
    case Value::Type::List: {
      const ListData& list = object.as_list();
      if ((list.kind == SequenceKind::List || list.kind == SequenceKind::Tuple) && (key.is_int() || key.is_bool())) {
        int64_t index = key.as_integer();
        const auto size = static_cast<int64_t>(list.items.size());
        if (index < 0) index += size;
        if (index >= 0 && index < size) return list.items[static_cast<size_t>(index)];
      }
      break;
    }
    case Value::Type::String:
      if (key.is_int() || key.is_bool()) {
        const std::string& s = object.as_string();
        int64_t index = key.as_integer();
        if (is_ascii(s)) {
          const auto size = static_cast<int64_t>(s.size());
          if (index < 0) index += size;
          if (index >= 0 && index < size) return Value::string(s.substr(static_cast<size_t>(index), 1), object.is_markup());
        } else {
          const std::u32string chars = text::to_u32(s);
          const auto size = static_cast<int64_t>(chars.size());
          if (index < 0) index += size;
          if (index >= 0 && index < size) {
            return Value::string(text::to_utf8(chars.substr(static_cast<size_t>(index), 1)), object.is_markup());
          }
        }
      }
      break;
    default:
      break;
  }
  if (key.is_string()) {
    const std::string& name = key.as_string();
    if (!name.empty() && name.front() != '_') {
      if (auto method = find_method(object, name)) return std::move(*method);
      if (object.is_object()) {
        if (auto attribute = object.as_object().attribute(name)) return std::move(*attribute);
      }
    }
    return Value::undefined(fmt::format("{} has no attribute {}", text::repr(object.object_type_repr()), text::repr(name)));
  }
  return Value::undefined(fmt::format("{} has no element {}", object.object_type_repr(), key.repr()));
}

// ---- expressions -----------------------------------------------------------------------------------------------

Value Interpreter::eval(const Expr& expr) {
  // Bounds the C++ recursion of nested expressions across macro calls.
  if (++eval_depth_ > options_.limits.max_nesting_depth * 8) {
    --eval_depth_;
    throw TemplateError("maximum recursion depth exceeded", expr.line);
  }
  try {
    Value result = eval_inner(expr);
    --eval_depth_;
    return result;
  } catch (const TemplateError& error) {
    --eval_depth_;
    if (error.line() == 0) throw TemplateError(error.message(), expr.line);
    throw;
  } catch (...) {
    --eval_depth_;
    throw;
  }
}

Value Interpreter::eval_name(const NameExpr& expr) {
  if (const Value* value = frame_->find(expr.name)) return *value;
  return Value::undefined(fmt::format("{} is undefined", text::repr(expr.name)));
}

Value Interpreter::eval_filter(const FilterExpr& expr) {
  Value operand = expr.operand ? eval(*expr.operand) : block_text_;
  Arguments args = eval_arguments(expr.args);
  if (expr.function == nullptr) fail(fmt::format("No filter named {} found.", text::repr(expr.name)));
  count_work(operand);
  count_work(args);
  return expr.function(*this, std::move(operand), std::move(args));
}

Value Interpreter::eval_test(const TestExpr& expr) {
  const Value operand = eval(*expr.operand);
  Arguments args = eval_arguments(expr.args);
  if (expr.function == nullptr) fail(fmt::format("No test named {} found.", text::repr(expr.name)));
  count_work(operand);
  count_work(args);
  return Value::boolean(expr.function(*this, operand, std::move(args)));
}

Value Interpreter::eval_binary(const BinaryExpr& expr) {
  if (expr.op == BinaryOp::And) {
    Value left = eval(*expr.left);
    return left.truthy() ? eval(*expr.right) : left;
  }
  if (expr.op == BinaryOp::Or) {
    Value left = eval(*expr.left);
    return left.truthy() ? left : eval(*expr.right);
  }
  const Value left = eval(*expr.left);
  const Value right = eval(*expr.right);
  count_work(left);
  count_work(right);
  return arithmetic(expr.op, left, right, *this);
}

Value Interpreter::eval_compare(const CompareExpr& expr) {
  Value left = eval(*expr.first);
  for (const auto& [op, operand] : expr.rest) {
    Value right = eval(*operand);
    count_work(left);
    count_work(right);
    if (!compare(op, left, right)) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Value Interpreter::eval_get_item(const GetItemExpr& expr) {
  const Value object = eval(*expr.object);
  if (expr.index->kind != ExprKind::Slice) return get_item(object, eval(*expr.index));
  const auto& slice = static_cast<const SliceExpr&>(*expr.index);
  const auto part = [&](const ExprPtr& e) { return e ? eval(*e) : Value::none(); };
  const Value start = part(slice.start);
  const Value stop = part(slice.stop);
  const Value step = part(slice.step);
  if (object.is_undefined()) object.fail_undefined();
  if (object.is_string()) {
    const std::string& s = object.as_string();
    std::string out;
    if (is_ascii(s)) {
      for (size_t i : slice_positions(start, stop, step, s.size())) out += s[i];
    } else {
      const std::u32string chars = text::to_u32(s);
      for (size_t i : slice_positions(start, stop, step, chars.size())) text::append_utf8(out, chars[i]);
    }
    return Value::string(std::move(out), object.is_markup());
  }
  if (object.is_list() && (object.as_list().kind == SequenceKind::List || object.as_list().kind == SequenceKind::Tuple)) {
    const auto& items = object.as_list().items;
    std::vector<Value> out;
    for (size_t i : slice_positions(start, stop, step, items.size())) out.push_back(items[i]);
    return Value::list(std::move(out), object.as_list().kind);
  }
  if (constant_folding_) {
    // The optimizer folds constant subscripts through environment.getitem, which turns failures into undefined.
    return Value::undefined(fmt::format("{} has no element slice({}, {}, {})", object.object_type_repr(), start.repr(),
                                        stop.repr(), step.repr()));
  }
  // jinja2 compiles slices to plain Python subscripts, so other types fail the way Python does.
  if (object.is_dict()) fail("unhashable type: 'slice'");
  fail(fmt::format("'{}' object is not subscriptable", object.type_name()));
}

namespace {

// A folded constant list or dict is a fresh object each time it is evaluated, like the literal it was.
Value fresh_copy(const Value& v) {
  if (v.is_list()) {
    std::vector<Value> items;
    items.reserve(v.as_list().items.size());
    for (const Value& item : v.as_list().items) items.push_back(fresh_copy(item));
    return Value::list(std::move(items), v.as_list().kind);
  }
  if (v.is_dict()) {
    auto dict = std::make_shared<Dict>();
    for (const auto& [key, value] : v.as_dict().entries()) dict->set(key, fresh_copy(value));
    return Value::dict(std::move(dict));
  }
  return v;
}

}  // namespace

std::optional<Value> Interpreter::evaluate_constant(const Expr& expr) {
  constant_folding_ = true;
  try {
    Value value = eval(expr);
    constant_folding_ = false;
    return value;
  } catch (const TemplateError&) {
    constant_folding_ = false;
    return std::nullopt;
  }
}

Value Interpreter::eval_inner(const Expr& expr) {
  switch (expr.kind) {
    case ExprKind::Literal:
      return fresh_copy(static_cast<const LiteralExpr&>(expr).value);
    case ExprKind::Name:
      return eval_name(static_cast<const NameExpr&>(expr));
    case ExprKind::List:
    case ExprKind::Tuple: {
      const auto& sequence = static_cast<const SequenceExpr&>(expr);
      std::vector<Value> items;
      items.reserve(sequence.items.size());
      for (const ExprPtr& item : sequence.items) items.push_back(eval(*item));
      return Value::list(std::move(items), expr.kind == ExprKind::List ? SequenceKind::List : SequenceKind::Tuple);
    }
    case ExprKind::Dict: {
      auto dict = std::make_shared<Dict>();
      for (const auto& [key, value] : static_cast<const DictExpr&>(expr).items) {
        Value k = eval(*key);
        dict->set(std::move(k), eval(*value));
      }
      return Value::dict(std::move(dict));
    }
    case ExprKind::GetAttr: {
      const auto& getattr = static_cast<const GetAttrExpr&>(expr);
      return get_attribute(eval(*getattr.object), getattr.name);
    }
    case ExprKind::GetItem:
      return eval_get_item(static_cast<const GetItemExpr&>(expr));
    case ExprKind::Slice:
      fail("slice outside of a subscript");
    case ExprKind::Call:
      return eval_call(static_cast<const CallExpr&>(expr), nullptr);
    case ExprKind::Filter:
      return eval_filter(static_cast<const FilterExpr&>(expr));
    case ExprKind::Test:
      return eval_test(static_cast<const TestExpr&>(expr));
    case ExprKind::Not:
      return Value::boolean(!eval(*static_cast<const UnaryExpr&>(expr).operand).truthy());
    case ExprKind::Neg:
      return negate(eval(*static_cast<const UnaryExpr&>(expr).operand));
    case ExprKind::Pos:
      return unary_plus(eval(*static_cast<const UnaryExpr&>(expr).operand));
    case ExprKind::Binary:
      return eval_binary(static_cast<const BinaryExpr&>(expr));
    case ExprKind::Concat: {
      std::string out;
      for (const ExprPtr& item : static_cast<const ConcatExpr&>(expr).items) {
        const Value v = eval(*item);
        if (v.is_string()) {
          out += v.as_string();
        } else {
          out += v.str();
        }
        check_size(out.size());
      }
      return Value::string(std::move(out));
    }
    case ExprKind::Compare:
      return eval_compare(static_cast<const CompareExpr&>(expr));
    case ExprKind::Condition: {
      const auto& condition = static_cast<const ConditionExpr&>(expr);
      if (eval(*condition.test).truthy()) return eval(*condition.then);
      if (condition.otherwise) return eval(*condition.otherwise);
      return Value::undefined(fmt::format(
          "the inline if-expression on line {} evaluated to false and no else section was defined.", expr.line));
    }
  }
  fail("unknown expression");
}

}  // namespace hearth::chat::jinja
