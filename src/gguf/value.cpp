#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "gguf/value_storage.h"

namespace hearth::gguf {

FormatError::FormatError(uint64_t offset, const std::string& detail, const std::string& context)
    : std::runtime_error(fmt::format("{}{}GGUF error at byte {}: {}", context, context.empty() ? "" : ": ", offset, detail)),
      offset_(offset),
      detail_(detail) {}

std::string_view value_type_name(ValueType type) {
  switch (type) {
    case ValueType::UINT8: return "uint8";
    case ValueType::INT8: return "int8";
    case ValueType::UINT16: return "uint16";
    case ValueType::INT16: return "int16";
    case ValueType::UINT32: return "uint32";
    case ValueType::INT32: return "int32";
    case ValueType::FLOAT32: return "float32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::UINT64: return "uint64";
    case ValueType::INT64: return "int64";
    case ValueType::FLOAT64: return "float64";
  }
  return "invalid";
}

size_t scalar_size(ValueType type) {
  switch (type) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
    case ValueType::UINT16: case ValueType::INT16: return 2;
    case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
    case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
    case ValueType::STRING: case ValueType::ARRAY: return 0;
  }
  return 0;
}

bool is_valid_value_type(uint32_t id) { return id <= static_cast<uint32_t>(ValueType::FLOAT64); }

Value Value::from_array(std::shared_ptr<const ArrayData> data) {
  Value value;
  value.type_ = ValueType::ARRAY;
  value.data_ = std::move(data);
  return value;
}

Value Value::packed_array(ValueType element_type, std::span<const std::byte> bytes, size_t count) {
  auto data = std::make_shared<ArrayData>();
  data->element_type = element_type;
  data->count = count;
  data->packed.assign(bytes.begin(), bytes.end());
  return from_array(std::move(data));
}

Value Value::string_array(std::vector<std::string> items) {
  auto data = std::make_shared<ArrayData>();
  data->element_type = ValueType::STRING;
  data->count = items.size();
  data->owned_strings = std::move(items);
  data->strings.assign(data->owned_strings.begin(), data->owned_strings.end());
  return from_array(std::move(data));
}

Value Value::nested_array(ValueType element_type, std::vector<Value> items) {
  for (const Value& item : items) {
    if (item.type() != element_type) {
      throw std::invalid_argument(fmt::format("array of {} given an element of type {}", value_type_name(element_type),
                                              value_type_name(item.type())));
    }
  }
  if (element_type != ValueType::ARRAY) {
    // Scalars given as Values are packed like any scalar array.
    auto data = std::make_shared<ArrayData>();
    data->element_type = element_type;
    data->count = items.size();
    for (const Value& item : items) {
      if (element_type == ValueType::STRING) {
        data->owned_strings.emplace_back(item.string());
      } else {
        std::visit(
            [&](const auto& scalar) {
              using T = std::decay_t<decltype(scalar)>;
              if constexpr (std::is_arithmetic_v<T>) {
                const auto* raw = reinterpret_cast<const std::byte*>(&scalar);
                data->packed.insert(data->packed.end(), raw, raw + sizeof(T));
              }
            },
            item.data_);
      }
    }
    data->strings.assign(data->owned_strings.begin(), data->owned_strings.end());
    return from_array(std::move(data));
  }
  auto data = std::make_shared<ArrayData>();
  data->element_type = ValueType::ARRAY;
  data->count = items.size();
  data->arrays = std::move(items);
  return from_array(std::move(data));
}

bool Value::is_integer() const {
  switch (type_) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::UINT16: case ValueType::INT16:
    case ValueType::UINT32: case ValueType::INT32: case ValueType::UINT64: case ValueType::INT64: return true;
    default: return false;
  }
}

void Value::check_type(ValueType expected) const {
  if (type_ != expected) throw KeyError(fmt::format("expected {}, found {}", value_type_name(expected), value_type_name(type_)));
}

std::string_view Value::string() const {
  check_type(ValueType::STRING);
  if (const auto* view = std::get_if<std::string_view>(&data_)) return *view;
  return *std::get<std::shared_ptr<const std::string>>(data_);
}

int64_t Value::as_int() const {
  return std::visit(
      [this](const auto& scalar) -> int64_t {
        using T = std::decay_t<decltype(scalar)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_same_v<T, uint64_t>) {
            if (scalar > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
              throw KeyError(fmt::format("value {} does not fit in int64", scalar));
            }
          }
          return static_cast<int64_t>(scalar);
        } else {
          throw KeyError(fmt::format("expected an integer, found {}", value_type_name(type_)));
        }
      },
      data_);
}

const Value::ArrayData& Value::array_data() const {
  check_type(ValueType::ARRAY);
  return *std::get<std::shared_ptr<const ArrayData>>(data_);
}

ValueType Value::element_type() const { return array_data().element_type; }
size_t Value::size() const { return array_data().count; }
std::span<const std::byte> Value::packed_bytes() const { return array_data().packed; }

void Value::expect_array_of(ValueType element_type) const {
  if (type_ != ValueType::ARRAY || array_data().element_type != element_type) {
    const std::string found = type_ == ValueType::ARRAY
                                  ? fmt::format("array of {}", value_type_name(array_data().element_type))
                                  : std::string(value_type_name(type_));
    throw KeyError(fmt::format("expected array of {}, found {}", value_type_name(element_type), found));
  }
}

std::vector<std::string_view> Value::strings() const {
  expect_array_of(ValueType::STRING);
  return array_data().strings;
}

Value Value::item(size_t index) const {
  const ArrayData& data = array_data();
  if (index >= data.count) throw std::out_of_range(fmt::format("array index {} out of range (size {})", index, data.count));
  switch (data.element_type) {
    case ValueType::STRING: return Value(data.strings[index]);
    case ValueType::ARRAY: return data.arrays[index];
    default: break;
  }
  const size_t width = scalar_size(data.element_type);
  const std::byte* raw = data.packed.data() + index * width;
  auto load = [raw]<typename T>(T) {
    T scalar;
    std::memcpy(&scalar, raw, sizeof(T));
    return Value(scalar);
  };
  switch (data.element_type) {
    case ValueType::UINT8: return load(uint8_t{});
    case ValueType::INT8: return load(int8_t{});
    case ValueType::UINT16: return load(uint16_t{});
    case ValueType::INT16: return load(int16_t{});
    case ValueType::UINT32: return load(uint32_t{});
    case ValueType::INT32: return load(int32_t{});
    case ValueType::FLOAT32: return load(float{});
    case ValueType::BOOL: return Value(static_cast<bool>(raw[0] != std::byte{0}));
    case ValueType::UINT64: return load(uint64_t{});
    case ValueType::INT64: return load(int64_t{});
    case ValueType::FLOAT64: return load(double{});
    default: break;
  }
  throw std::logic_error("unreachable array element type");
}

namespace {

std::string quoted(std::string_view text, size_t max_chars) {
  std::string out = "\"";
  size_t shown = 0;
  for (char c : text) {
    if (shown++ == max_chars) {
      out += "...";
      break;
    }
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        else out += c;
    }
  }
  return out + "\"";
}

}  // namespace

std::string Value::to_display(size_t max_items) const {
  if (type_ == ValueType::STRING) return quoted(string(), 200);
  if (type_ != ValueType::ARRAY) {
    return std::visit(
        [](const auto& scalar) -> std::string {
          using T = std::decay_t<decltype(scalar)>;
          if constexpr (std::is_same_v<T, bool>) return scalar ? "true" : "false";
          else if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t>) return fmt::format("{}", static_cast<int>(scalar));
          else if constexpr (std::is_arithmetic_v<T>) return fmt::format("{}", scalar);
          else return "";
        },
        data_);
  }
  const size_t n = size();
  std::string out = "[";
  for (size_t i = 0; i < n && i < max_items; ++i) {
    if (i) out += ", ";
    const Value element = item(i);
    out += element.type() == ValueType::STRING ? quoted(element.string(), 40) : element.to_display(max_items);
  }
  if (n > max_items) out += fmt::format(", ... ({} {} in all)", n, value_type_name(element_type()));
  return out + "]";
}

}  // namespace hearth::gguf
