// The dynamic value type of the Jinja engine. Templates are written against Python objects (jinja2 runs on
// Python), so a Value behaves like one: None/bool/int/float/str, lists and tuples, insertion-ordered dicts, and
// objects (namespaces, macros, loop contexts, functions). Lists, dicts and objects have reference semantics, as in
// Python: `ns.items.append(x)` changes the list every holder sees. Strings are immutable and shared.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "hearth/chat.h"

namespace hearth::chat::jinja {

class Value;
class Dict;
class Object;
class Interpreter;

// Errors raised while rendering: the message is what jinja2 (or Python) would say; the interpreter attaches
// the template line on the way out.
[[noreturn]] void fail(std::string message);

// What a sequence value is in Python terms. jinja2 hands templates lists and tuples, and its map/select-style
// filters return one-shot generators, which cannot be measured or indexed; dict views print differently.
enum class SequenceKind : uint8_t { List, Tuple, Generator, DictKeys, DictValues, DictItems };

struct ListData {
  ListData() = default;
  ListData(const ListData&) = delete;
  ListData& operator=(const ListData&) = delete;
  ~ListData();

  std::vector<Value> items;
  SequenceKind kind = SequenceKind::List;
  // A (grouper, list) tuple from the groupby filter, which also answers .grouper and .list.
  bool is_group = false;
  // How many items of a generator have been consumed: like Python's, a generator iterates only once.
  size_t consumed = 0;
  // A generator whose body has not run yet. jinja2's map/select-style filters are Python generator functions:
  // their work, and their errors, happen only when something iterates the result.
  std::function<std::vector<Value>()> pending;
  // Python's type name for this kind of iterator when it is not a plain generator ("list_reverseiterator").
  const char* iterator_type = nullptr;
  // The jinja2 function a generator comes from, which Python shows in its repr ("sync_do_map").
  const char* generator_function = nullptr;

  // Runs a pending generator body (once).
  void materialize();
};

// Destroys values without recursion, so that a template-built list nested a million deep cannot overflow the
// stack when it is freed.
void release_values(std::vector<Value>& values);

// How deep printing, comparing and serializing may descend into nested containers (Python's recursion limit).
inline constexpr size_t kMaxValueDepth = 500;

// Call arguments as the template wrote them: positional, then keyword.
struct Arguments {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

class Value {
 public:
  enum class Type : uint8_t { Undefined, None, Bool, Int, Float, String, List, Dict, Object };

  // An undefined value whose use (beyond printing, testing and iterating) fails with `error_message`,
  // e.g. "'foo' is undefined" or "'dict object' has no attribute 'bar'".
  static Value undefined(std::string error_message);
  static Value none() { return Value(Storage(std::in_place_index<1>, nullptr)); }
  static Value boolean(bool b) { return Value(Storage(std::in_place_index<2>, b)); }
  static Value integer(int64_t i) { return Value(Storage(std::in_place_index<3>, i)); }
  static Value floating(double d) { return Value(Storage(std::in_place_index<4>, d)); }
  static Value string(std::string s, bool markup = false);
  static Value string(std::shared_ptr<const std::string> s, bool markup = false);
  static Value list(std::vector<Value> items, SequenceKind kind = SequenceKind::List);
  static Value list(std::shared_ptr<ListData> data);
  static Value dict(std::shared_ptr<Dict> d);
  static Value dict();
  static Value object(std::shared_ptr<Object> o);

  Value();

  Type type() const { return static_cast<Type>(data_.index()); }
  bool is_undefined() const { return type() == Type::Undefined; }
  bool is_none() const { return type() == Type::None; }
  bool is_bool() const { return type() == Type::Bool; }
  bool is_int() const { return type() == Type::Int; }
  bool is_float() const { return type() == Type::Float; }
  bool is_number() const { return is_bool() || is_int() || is_float(); }  // Python: bool is an int
  bool is_string() const { return type() == Type::String; }
  bool is_list() const { return type() == Type::List; }
  bool is_dict() const { return type() == Type::Dict; }
  bool is_object() const { return type() == Type::Object; }
  bool is_markup() const { return is_string() && std::get<Str>(data_).markup; }

  bool as_bool() const { return std::get<bool>(data_); }
  int64_t as_int() const { return std::get<int64_t>(data_); }
  double as_float() const { return std::get<double>(data_); }
  // Integer view of bool/int (Python's int(True) == 1).
  int64_t as_integer() const { return is_bool() ? (as_bool() ? 1 : 0) : as_int(); }
  double as_double() const { return is_float() ? as_float() : static_cast<double>(as_integer()); }
  const std::string& as_string() const { return *std::get<Str>(data_).text; }
  const std::shared_ptr<const std::string>& string_ptr() const { return std::get<Str>(data_).text; }
  ListData& as_list() const { return *std::get<std::shared_ptr<ListData>>(data_); }
  const std::shared_ptr<ListData>& list_ptr() const { return std::get<std::shared_ptr<ListData>>(data_); }
  Dict& as_dict() const { return *std::get<std::shared_ptr<Dict>>(data_); }
  const std::shared_ptr<Dict>& dict_ptr() const { return std::get<std::shared_ptr<Dict>>(data_); }
  Object& as_object() const { return *std::get<std::shared_ptr<Object>>(data_); }
  const std::shared_ptr<Object>& object_ptr() const { return std::get<std::shared_ptr<Object>>(data_); }
  const std::string& undefined_message() const { return *std::get<Undef>(data_).message; }
  // A list of a given kind (tuples and generators are lists underneath).
  bool is_sequence_kind(SequenceKind kind) const { return is_list() && as_list().kind == kind; }

  // Raises the UndefinedError this undefined value stands for.
  [[noreturn]] void fail_undefined() const { fail(undefined_message()); }

  bool truthy() const;                // Python bool()
  std::string str() const;            // Python str(), undefined prints as ""
  std::string repr() const;           // Python repr()
  std::string_view type_name() const;  // Python type(x).__name__: 'int', 'str', 'NoneType', 'Undefined'...
  // jinja2's object_type_repr: "dict object", "jinja2.utils.Namespace object", "None".
  std::string object_type_repr() const;
  bool callable() const;

 private:
  struct Undef {
    std::shared_ptr<const std::string> message;
  };
  struct Str {
    std::shared_ptr<const std::string> text;
    bool markup;  // a markupsafe.Markup (from |safe): concatenating plain strings to it HTML-escapes them
  };
  using Storage = std::variant<Undef, std::nullptr_t, bool, int64_t, double, Str, std::shared_ptr<ListData>,
                               std::shared_ptr<Dict>, std::shared_ptr<Object>>;
  explicit Value(Storage data) : data_(std::move(data)) {}

  Storage data_;
};

// Python ==, and the ordering used by <, sorted(), min() and max() (throws TypeError-like errors for
// unorderable pairs and UndefinedError for undefined operands).
bool equals(const Value& a, const Value& b);
enum class Ordering : uint8_t { Less, LessEqual, Greater, GreaterEqual };
bool compare_order(Ordering order, const Value& a, const Value& b);
bool less_than(const Value& a, const Value& b);  // compare_order(Less, ...): what sorted() uses
// Python hash() for the hashable values (None, bool, numbers, strings, tuples); fails for lists and dicts.
size_t hash_value(const Value& v);

// Python repr() of a float: the shortest string that round-trips ("1.0", "0.1", "1e-05", "1e+16", "inf").
std::string format_float(double d);

// Insertion-ordered dict with Python key semantics (1 == 1.0 == True).
class Dict {
 public:
  using Entry = std::pair<Value, Value>;

  Dict() = default;
  Dict(const Dict&) = delete;
  Dict& operator=(const Dict&) = delete;
  ~Dict();

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const std::vector<Entry>& entries() const { return entries_; }
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);
  void set(std::string_view key, Value value) { set(Value::string(std::string(key)), std::move(value)); }
  bool erase(const Value& key);
  void clear();

 private:
  std::optional<size_t> index_of(const Value& key) const;
  std::optional<size_t> index_of(std::string_view key) const;
  void rebuild_index() const;

  std::vector<Entry> entries_;
  // Built once the dict grows past a few entries: hash -> entry positions.
  mutable std::vector<std::vector<size_t>> buckets_;
};

// Objects that are not plain data: namespaces, macros, loop contexts, functions.
class Object : public std::enable_shared_from_this<Object> {
 public:
  virtual ~Object() = default;
  virtual std::string_view type_name() const = 0;
  // The module-qualified name jinja2 prints in "'X object' has no attribute" messages.
  virtual std::string qualified_type_name() const { return std::string(type_name()); }
  virtual std::string repr() const = 0;
  // The attribute, or nullopt when the object has none of that name.
  virtual std::optional<Value> attribute(std::string_view name) const;
  // Assigns an attribute (`{% set ns.x = ... %}`); false when the object does not allow it.
  virtual bool set_attribute(std::string_view name, Value value);
  virtual bool callable() const { return false; }
  virtual Value call(Interpreter& interpreter, Arguments args);
  // Python's len() and iter() support: a length for objects that have one, and whether iter() accepts it.
  virtual std::optional<size_t> length() const { return std::nullopt; }
  virtual bool iterable() const { return false; }
  // Drops the references this object holds, to break a reference cycle once a render is over.
  virtual void release_references() {}
};

// namespace(...): the one mutable attribute bag templates can assign into from inner scopes.
class Namespace final : public Object {
 public:
  std::string_view type_name() const override { return "Namespace"; }
  std::string qualified_type_name() const override { return "jinja2.utils.Namespace"; }
  std::string repr() const override;
  std::optional<Value> attribute(std::string_view name) const override;
  bool set_attribute(std::string_view name, Value value) override;
  void release_references() override { attributes_.clear(); }
  Dict& attributes() { return attributes_; }

 private:
  Dict attributes_;
};

}  // namespace hearth::chat::jinja
