#include "chat/jinja_builtins.h"

#include <fmt/format.h>

#include <algorithm>

#include "chat/jinja_text.h"

namespace hearth::chat::jinja {

ArgumentBinder::ArgumentBinder(std::string_view function, Arguments args,
                               std::initializer_list<std::string_view> parameters, size_t required)
    : values_(parameters.size()) {
  const std::vector<std::string_view> names(parameters);
  if (args.positional.size() > names.size()) {
    fail(fmt::format("{}() takes at most {} argument(s) ({} given)", function, names.size(), args.positional.size()));
  }
  for (size_t i = 0; i < args.positional.size(); ++i) values_[i] = std::move(args.positional[i]);
  for (auto& [name, value] : args.keyword) {
    const auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) fail(fmt::format("{}() got an unexpected keyword argument {}", function, text::repr(name)));
    auto& slot = values_[static_cast<size_t>(it - names.begin())];
    if (slot) fail(fmt::format("{}() got multiple values for argument {}", function, text::repr(name)));
    slot = std::move(value);
  }
  for (size_t i = 0; i < required; ++i) {
    if (!values_[i]) fail(fmt::format("{}() missing required argument: {}", function, text::repr(names[i])));
  }
}

int64_t to_int_argument(const Value& v) {
  if (v.is_int() || v.is_bool()) return v.as_integer();
  if (v.is_undefined()) v.fail_undefined();
  fail(fmt::format("'{}' object cannot be interpreted as an integer", v.type_name()));
}

std::string_view to_string_argument(const Value& v, std::string_view what) {
  if (v.is_string()) return v.as_string();
  if (v.is_undefined()) v.fail_undefined();
  fail(fmt::format("{} must be str, not {}", what, v.type_name()));
}

}  // namespace hearth::chat::jinja
