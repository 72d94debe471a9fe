// The global functions every template sees: jinja2's range, dict, namespace, cycler and joiner, and HF
// transformers' raise_exception and strftime_now.
#include <fmt/format.h>

#include <ctime>
#include <functional>

#include "chat/jinja_builtins.h"
#include "chat/jinja_interpreter.h"
#include "chat/jinja_text.h"

namespace hearth::chat::jinja {
namespace {

class NativeFunction final : public Object {
 public:
  using Body = std::function<Value(Interpreter&, Arguments)>;
  NativeFunction(std::string repr, Body body) : repr_(std::move(repr)), body_(std::move(body)) {}
  std::string_view type_name() const override { return "builtin_function_or_method"; }
  std::string repr() const override { return repr_; }
  bool callable() const override { return true; }
  Value call(Interpreter& interpreter, Arguments args) override { return body_(interpreter, std::move(args)); }

 private:
  std::string repr_;
  Body body_;
};

Value function(std::string repr, NativeFunction::Body body) {
  return Value::object(std::make_shared<NativeFunction>(std::move(repr), std::move(body)));
}

// Python's dict(mapping_or_pairs, **kwargs) into `target`.
void fill_dict(Interpreter& in, Dict& target, Arguments args, std::string_view what) {
  if (args.positional.size() > 1) fail(fmt::format("{} expected at most 1 argument, got {}", what, args.positional.size()));
  if (!args.positional.empty()) {
    const Value& source = args.positional.front();
    if (source.is_dict()) {
      for (const auto& [key, value] : source.as_dict().entries()) target.set(key, value);
    } else {
      const std::vector<Value> pairs = in.iterate(source);
      in.count_iterations(pairs.size());
      for (size_t i = 0; i < pairs.size(); ++i) {
        const std::vector<Value> kv = in.iterate(pairs[i]);
        if (kv.size() != 2) {
          fail(fmt::format("dictionary update sequence element #{} has length {}; 2 is required", i, kv.size()));
        }
        target.set(kv[0], kv[1]);
      }
    }
  }
  for (auto& [key, value] : args.keyword) target.set(key, std::move(value));
}

Value range_function(Interpreter& in, Arguments args) {
  if (!args.keyword.empty()) fail("range() takes no keyword arguments");
  const size_t n = args.positional.size();
  if (n == 0) fail("range expected at least 1 argument, got 0");
  if (n > 3) fail(fmt::format("range expected at most 3 arguments, got {}", n));
  const auto integer = [](const Value& v) {
    if (v.is_int() || v.is_bool()) return v.as_integer();
    if (v.is_undefined()) v.fail_undefined();
    fail(fmt::format("'{}' object cannot be interpreted as an integer", v.type_name()));
  };
  const int64_t start = n == 1 ? 0 : integer(args.positional[0]);
  const int64_t stop = integer(args.positional[n == 1 ? 0 : 1]);
  const int64_t step = n == 3 ? integer(args.positional[2]) : 1;
  if (step == 0) fail("range() arg 3 must not be zero");
  // Computed in floating point so that extreme bounds cannot overflow.
  const double span = step > 0 ? static_cast<double>(stop) - static_cast<double>(start)
                               : static_cast<double>(start) - static_cast<double>(stop);
  const double count = span <= 0 ? 0 : std::ceil(span / std::fabs(static_cast<double>(step)));
  if (count > static_cast<double>(in.limits().max_loop_iterations)) {
    fail(fmt::format("range() of {} items exceeds the template's limit of {} loop iterations", count,
                     in.limits().max_loop_iterations));
  }
  std::vector<Value> items;
  items.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) items.push_back(Value::integer(start + i * step));
  return Value::list(std::move(items));
}

// cycler(*items): .next() walks the items round and round; .current and .reset().
class Cycler final : public Object {
 public:
  explicit Cycler(std::vector<Value> items) : items_(std::move(items)) {}
  std::string_view type_name() const override { return "Cycler"; }
  std::string qualified_type_name() const override { return "jinja2.utils.Cycler"; }
  std::string repr() const override { return "<jinja2.utils.Cycler object>"; }
  std::optional<Value> attribute(std::string_view name) const override {
    auto self = std::static_pointer_cast<Cycler>(std::const_pointer_cast<Object>(shared_from_this()));
    if (name == "current") return items_[position_];
    if (name == "next") {
      return function("<bound method Cycler.next>", [self](Interpreter&, Arguments args) {
        ArgumentBinder("next", std::move(args), {});
        Value current = self->items_[self->position_];
        self->position_ = (self->position_ + 1) % self->items_.size();
        return current;
      });
    }
    if (name == "reset") {
      return function("<bound method Cycler.reset>", [self](Interpreter&, Arguments args) {
        ArgumentBinder("reset", std::move(args), {});
        self->position_ = 0;
        return Value::none();
      });
    }
    return std::nullopt;
  }
  void release_references() override { release_values(items_); }

 private:
  std::vector<Value> items_;
  size_t position_ = 0;
};

// joiner(sep): returns "" the first time it is called and `sep` afterwards.
class Joiner final : public Object {
 public:
  explicit Joiner(Value separator) : separator_(std::move(separator)) {}
  std::string_view type_name() const override { return "Joiner"; }
  std::string qualified_type_name() const override { return "jinja2.utils.Joiner"; }
  std::string repr() const override { return "<jinja2.utils.Joiner object>"; }
  bool callable() const override { return true; }
  Value call(Interpreter&, Arguments args) override {
    ArgumentBinder("joiner", std::move(args), {});
    if (!used_) {
      used_ = true;
      return Value::string("");
    }
    return separator_;
  }

 private:
  Value separator_;
  bool used_ = false;
};

}  // namespace

void add_global_functions(Frame& globals) {
  globals.set("range", function("<class 'range'>", range_function));
  globals.set("dict", function("<class 'dict'>", [](Interpreter& in, Arguments args) {
    auto dict = std::make_shared<Dict>();
    fill_dict(in, *dict, std::move(args), "dict");
    return Value::dict(std::move(dict));
  }));
  globals.set("namespace", function("<class 'jinja2.utils.Namespace'>", [](Interpreter& in, Arguments args) {
    auto ns = std::make_shared<Namespace>();
    fill_dict(in, ns->attributes(), std::move(args), "Namespace");
    Value value = Value::object(std::move(ns));
    in.track(value);
    return value;
  }));
  globals.set("cycler", function("<class 'jinja2.utils.Cycler'>", [](Interpreter& in, Arguments args) {
    if (!args.keyword.empty()) fail("Cycler() takes no keyword arguments");
    if (args.positional.empty()) fail("at least one item has to be provided");
    Value value = Value::object(std::make_shared<Cycler>(std::move(args.positional)));
    in.track(value);
    return value;
  }));
  globals.set("joiner", function("<class 'jinja2.utils.Joiner'>", [](Interpreter&, Arguments args) {
    ArgumentBinder a("joiner", std::move(args), {"sep"});
    return Value::object(std::make_shared<Joiner>(a.get_or(0, Value::string(", "))));
  }));
  globals.set("raise_exception", function("<function raise_exception>", [](Interpreter&, Arguments args) -> Value {
    ArgumentBinder a("raise_exception", std::move(args), {"message"}, 1);
    fail(a[0]->str());
  }));
  globals.set("strftime_now", function("<function strftime_now>", [](Interpreter& in, Arguments args) {
    ArgumentBinder a("strftime_now", std::move(args), {"format"}, 1);
    if (!a[0]->is_string()) fail(fmt::format("strftime() argument 1 must be str, not {}", a[0]->type_name()));
    const std::string& format = a[0]->as_string();
    if (format.empty()) return Value::string("");
    in.check_size(format.size() * 64);
    std::string out(format.size() * 64 + 64, '\0');
    const size_t n = std::strftime(out.data(), out.size(), format.c_str(), &in.now());
    out.resize(n);
    return Value::string(std::move(out));
  }));
}

}  // namespace hearth::chat::jinja
