// GGUF files: a validated, memory-mapped reader with zero-copy tensor views, and a writer.
//
// Nothing in a file is trusted until checked: every count, length and offset is validated against the bytes
// that are actually there before it is used, so a malformed or hostile file yields a gguf::FormatError naming
// the byte offset and the rule it broke.
#pragma once

#include <array>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "hearth/tensor_type.h"

namespace hearth::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian uint32
inline constexpr uint64_t kDefaultAlignment = 32;
inline constexpr int kMaxDims = 4;

// The file's bytes break a rule of the format.
class FormatError : public std::runtime_error {
 public:
  // `context` (e.g. the file's path) leads the message when given.
  FormatError(uint64_t offset, const std::string& detail, const std::string& context = "");
  uint64_t offset() const { return offset_; }
  const std::string& detail() const { return detail_; }

 private:
  uint64_t offset_;
  std::string detail_;
};

// A metadata key exists with another type than the caller asked for, or is missing.
class KeyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

std::string_view value_type_name(ValueType type);

// The value type that stores a C++ type: uint32_t -> UINT32, std::string_view -> STRING, ...
template <typename T>
constexpr ValueType value_type_of() {
  if constexpr (std::is_same_v<T, uint8_t>) return ValueType::UINT8;
  else if constexpr (std::is_same_v<T, int8_t>) return ValueType::INT8;
  else if constexpr (std::is_same_v<T, uint16_t>) return ValueType::UINT16;
  else if constexpr (std::is_same_v<T, int16_t>) return ValueType::INT16;
  else if constexpr (std::is_same_v<T, uint32_t>) return ValueType::UINT32;
  else if constexpr (std::is_same_v<T, int32_t>) return ValueType::INT32;
  else if constexpr (std::is_same_v<T, float>) return ValueType::FLOAT32;
  else if constexpr (std::is_same_v<T, bool>) return ValueType::BOOL;
  else if constexpr (std::is_same_v<T, std::string_view> || std::is_same_v<T, std::string>) return ValueType::STRING;
  else if constexpr (std::is_same_v<T, uint64_t>) return ValueType::UINT64;
  else if constexpr (std::is_same_v<T, int64_t>) return ValueType::INT64;
  else if constexpr (std::is_same_v<T, double>) return ValueType::FLOAT64;
  else static_assert(sizeof(T) == 0, "no GGUF value type stores this C++ type");
}

// One metadata value. Strings may view the mapped file (reader) or own their bytes (built for the writer).
// Arrays keep scalars packed as the file stores them, strings as views, nested arrays as Values.
class Value {
 public:
  Value() : Value(uint8_t{0}) {}
  template <typename T>
    requires(!std::is_same_v<std::decay_t<T>, Value> && !std::is_same_v<std::decay_t<T>, const char*>)
  explicit Value(T scalar) : type_(value_type_of<T>()) {
    if constexpr (std::is_same_v<T, std::string>) data_ = std::make_shared<const std::string>(std::move(scalar));
    else data_ = scalar;
  }
  explicit Value(const char* s) : Value(std::string(s)) {}

  // Arrays for writers: of scalars, of owned strings, or of arrays (all of one element type).
  template <typename T>
    requires(!std::is_same_v<T, std::string> && !std::is_same_v<T, std::string_view> && !std::is_same_v<T, Value>)
  static Value array_of(std::span<const T> items) {
    return packed_array(value_type_of<T>(), std::as_bytes(items), items.size());
  }
  template <typename T>
  static Value array_of(const std::vector<T>& items) {
    if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>) {
      return string_array(std::vector<std::string>(items.begin(), items.end()));
    } else {
      return array_of(std::span<const T>(items));
    }
  }
  static Value string_array(std::vector<std::string> items);
  static Value nested_array(ValueType element_type, std::vector<Value> items);

  ValueType type() const { return type_; }
  bool is_array() const { return type_ == ValueType::ARRAY; }
  bool is_integer() const;

  // The value as exactly type T (no conversions); throws KeyError naming both types on a mismatch.
  template <typename T>
  T as() const {
    check_type(value_type_of<T>());
    if constexpr (std::is_same_v<T, std::string_view>) return string();
    else if constexpr (std::is_same_v<T, std::string>) return std::string(string());
    else return std::get<T>(data_);
  }
  std::string_view string() const;
  // Any integer type widened to int64 (uint64 values above INT64_MAX throw).
  int64_t as_int() const;

  // Arrays (each throws KeyError unless this is an array).
  ValueType element_type() const;
  size_t size() const;
  Value item(size_t index) const;  // bounds-checked; a string item views this array's storage
  // Elements of an array of exactly T, copied out (strings as views into the file or this value).
  template <typename T>
  std::vector<T> as_vector() const {
    expect_array_of(value_type_of<T>());
    if constexpr (std::is_same_v<T, std::string_view>) {
      return strings();
    } else if constexpr (std::is_same_v<T, std::string>) {
      const auto views = strings();
      return std::vector<std::string>(views.begin(), views.end());
    } else {
      std::vector<T> out(size());
      const auto bytes = packed_bytes();
      std::memcpy(out.data(), bytes.data(), bytes.size());
      return out;
    }
  }
  std::vector<std::string_view> strings() const;

  // A short human-readable rendering: scalars in full, strings quoted, arrays summarized beyond `max_items`.
  std::string to_display(size_t max_items = 8) const;

 private:
  friend class Parser;
  friend class Writer;
  struct ArrayData;
  static Value packed_array(ValueType element_type, std::span<const std::byte> bytes, size_t count);
  static Value from_array(std::shared_ptr<const ArrayData> data);
  void check_type(ValueType expected) const;
  void expect_array_of(ValueType element_type) const;
  std::span<const std::byte> packed_bytes() const;
  const ArrayData& array_data() const;

  ValueType type_;
  std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool, std::string_view,
               std::shared_ptr<const std::string>, uint64_t, int64_t, double, std::shared_ptr<const ArrayData>>
      data_;
};

struct KeyValue {
  std::string key;
  Value value;
};

// A tensor as the file describes it; `data` views the mapped bytes (nullptr for a writer's description).
struct TensorInfo {
  std::string name;
  TensorType type = TensorType::F32;
  int n_dims = 1;
  std::array<int64_t, kMaxDims> ne{1, 1, 1, 1};  // ne[0] is the row length (fastest-varying)
  uint64_t offset = 0;                            // from the start of the data section
  uint64_t size = 0;                              // bytes
  const std::byte* data = nullptr;

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  std::span<const std::byte> bytes() const { return {data, size}; }
  std::string shape_string() const;  // e.g. "[4096, 32000]"
};

class Mapping;  // the bytes of an opened file: a memory map or an owned buffer

class File {
 public:
  // Maps the file read-only and validates its header, metadata and tensor table.
  static File open(const std::filesystem::path& path);
  // Parses bytes already in memory (fuzzing, tests); the bytes are copied into the File.
  static File from_bytes(std::span<const std::byte> bytes);

  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  ~File();

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t file_size() const;
  uint64_t data_offset() const { return data_offset_; }

  const std::vector<KeyValue>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  const Value& at(std::string_view key) const;  // throws KeyError naming the key when missing

  // Typed getters: `get<uint32_t>("llama.block_count")`; KeyError names the key and expected/actual type.
  template <typename T>
  T get(std::string_view key) const {
    const Value& value = at(key);
    try {
      return value.as<T>();
    } catch (const KeyError& e) {
      throw KeyError("metadata key '" + std::string(key) + "': " + e.what());
    }
  }
  template <typename T>
  T get_or(std::string_view key, T fallback) const {
    return contains(key) ? get<T>(key) : fallback;
  }
  template <typename T>
  std::vector<T> get_array(std::string_view key) const {
    const Value& value = at(key);
    try {
      return value.as_vector<T>();
    } catch (const KeyError& e) {
      throw KeyError("metadata key '" + std::string(key) + "': " + e.what());
    }
  }

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  const TensorInfo& tensor(std::string_view name) const;  // throws KeyError when missing

 private:
  File() = default;
  void parse();

  std::unique_ptr<Mapping> mapping_;
  uint32_t version_ = 0;
  uint64_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> metadata_;
  std::vector<TensorInfo> tensors_;
};

// Builds a GGUF v3 file: metadata in insertion order, tensors laid out aligned in insertion order.
class Writer {
 public:
  explicit Writer(uint64_t alignment = kDefaultAlignment) : alignment_(alignment) {}

  // Sets a key, replacing an earlier value of the same key (keeps its position).
  void set(std::string key, Value value);
  template <typename T>
  void set(std::string key, T scalar) { set(std::move(key), Value(scalar)); }
  void remove(std::string_view key);
  // Copies every key of a read file (except general.alignment, which the writer owns).
  void copy_metadata(const File& file);

  // Declares a tensor; its bytes come later from write()'s callback or from add_tensor_data().
  void add_tensor(std::string name, TensorType type, std::span<const int64_t> shape);
  // Declares a tensor together with its bytes (which must outlive write()).
  void add_tensor(std::string name, TensorType type, std::span<const int64_t> shape, std::span<const std::byte> data);

  // Writes the whole file. For tensors declared without data, `fill(index, out)` must write exactly the
  // tensor's bytes into `out`, which views the output file's mapping (fill may be called from one thread only;
  // callers that want parallelism split work inside fill). Writes `path` directly; callers wanting atomicity
  // write a temporary file and rename it.
  using FillTensor = std::function<void(size_t index, std::span<std::byte> out)>;
  void write(const std::filesystem::path& path, const FillTensor& fill = {}) const;
  // Serializes to memory (tests, small files).
  std::vector<std::byte> to_bytes(const FillTensor& fill = {}) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }

 private:
  std::vector<std::byte> header_bytes() const;
  uint64_t total_size(size_t header_size) const;
  void emit(std::span<std::byte> out, const std::vector<std::byte>& header, const FillTensor& fill) const;

  uint64_t alignment_;
  std::vector<KeyValue> metadata_;
  std::vector<TensorInfo> tensors_;
  std::vector<std::span<const std::byte>> tensor_data_;
  uint64_t data_size_ = 0;
};

}  // namespace hearth::gguf
