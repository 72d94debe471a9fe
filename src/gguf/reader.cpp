// GGUF parsing. Every count, length and offset is checked against the bytes that remain before it is used,
// so allocations stay proportional to the file and no read leaves the buffer.
#include <algorithm>
#include <limits>
#include <unordered_set>

#include <fmt/format.h>

#include "gguf/mapping.h"
#include "gguf/value_storage.h"

namespace hearth::gguf {

namespace {

constexpr int kMaxArrayNesting = 8;
constexpr size_t kMaxTensorNameBytes = 63;  // what ggml can hold, so every reader of the file agrees
// The smallest encodings, used to bound counts by the bytes that remain.
constexpr uint64_t kMinKeyValueBytes = 8 + 1 + 4 + 1;         // key length, 1-byte key, type, uint8
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name length, name, n_dims, one dim, type, offset

std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b) {
  uint64_t product;
  if (__builtin_mul_overflow(a, b, &product)) return std::nullopt;
  return product;
}

}  // namespace

// Reads the file front to back; `position_` is the offset every error reports.
class Parser {
 public:
  explicit Parser(std::span<const std::byte> bytes) : bytes_(bytes) {}

  uint64_t position() const { return position_; }
  uint64_t remaining() const { return bytes_.size() - position_; }

  [[noreturn]] void fail(const std::string& what) const { throw FormatError(position_, what); }
  [[noreturn]] void fail_at(uint64_t offset, const std::string& what) const { throw FormatError(offset, what); }

  void need(uint64_t n, std::string_view what) const {
    if (n > remaining()) {
      fail(fmt::format("truncated: {} needs {} bytes but only {} remain", what, n, remaining()));
    }
  }

  template <typename T>
  T read(std::string_view what) {
    need(sizeof(T), what);
    T value;
    std::memcpy(&value, bytes_.data() + position_, sizeof(T));
    position_ += sizeof(T);
    return value;
  }

  std::string_view read_string(std::string_view what) {
    const uint64_t start = position_;
    const uint64_t length = read<uint64_t>(what);
    if (length > remaining()) {
      fail_at(start, fmt::format("{} has length {} but only {} bytes remain in the file", what, length, remaining()));
    }
    std::string_view text(reinterpret_cast<const char*>(bytes_.data() + position_), length);
    position_ += length;
    return text;
  }

  ValueType read_value_type(std::string_view what) {
    const uint64_t start = position_;
    const uint32_t id = read<uint32_t>(what);
    if (!is_valid_value_type(id)) fail_at(start, fmt::format("{} has invalid value type id {}", what, id));
    return static_cast<ValueType>(id);
  }

  Value read_value(ValueType type, int depth) {
    switch (type) {
      case ValueType::UINT8: return Value(read<uint8_t>("uint8 value"));
      case ValueType::INT8: return Value(read<int8_t>("int8 value"));
      case ValueType::UINT16: return Value(read<uint16_t>("uint16 value"));
      case ValueType::INT16: return Value(read<int16_t>("int16 value"));
      case ValueType::UINT32: return Value(read<uint32_t>("uint32 value"));
      case ValueType::INT32: return Value(read<int32_t>("int32 value"));
      case ValueType::FLOAT32: return Value(read<float>("float32 value"));
      case ValueType::UINT64: return Value(read<uint64_t>("uint64 value"));
      case ValueType::INT64: return Value(read<int64_t>("int64 value"));
      case ValueType::FLOAT64: return Value(read<double>("float64 value"));
      case ValueType::BOOL: {
        const uint64_t start = position_;
        const uint8_t raw = read<uint8_t>("bool value");
        if (raw > 1) fail_at(start, fmt::format("bool value is {}, not 0 or 1", raw));
        return Value(raw == 1);
      }
      case ValueType::STRING: return Value(read_string("string value"));
      case ValueType::ARRAY: return read_array(depth);
    }
    fail("invalid value type");
  }

  Value read_array(int depth) {
    const uint64_t start = position_;
    if (depth >= kMaxArrayNesting) fail(fmt::format("arrays nested deeper than {} levels", kMaxArrayNesting));
    const ValueType element_type = read_value_type("array element type");
    const uint64_t count = read<uint64_t>("array length");
    // Each element needs at least this many bytes, so a count the file cannot hold is caught before allocating.
    const uint64_t min_element_bytes = element_type == ValueType::STRING  ? 8
                                       : element_type == ValueType::ARRAY ? 12
                                                                          : scalar_size(element_type);
    const auto min_bytes = checked_mul(count, min_element_bytes);
    if (!min_bytes || *min_bytes > remaining()) {
      fail_at(start, fmt::format("array of {} {} elements cannot fit in the {} bytes that remain", count,
                                 value_type_name(element_type), remaining()));
    }
    auto data = std::make_shared<Value::ArrayData>();
    data->element_type = element_type;
    data->count = count;
    if (element_type == ValueType::STRING) {
      data->strings.reserve(count);
      for (uint64_t i = 0; i < count; ++i) data->strings.push_back(read_string("array string"));
    } else if (element_type == ValueType::ARRAY) {
      data->arrays.reserve(count);
      for (uint64_t i = 0; i < count; ++i) data->arrays.push_back(read_array(depth + 1));
    } else {
      if (element_type == ValueType::BOOL) {
        for (uint64_t i = 0; i < count; ++i) {
          if (std::to_integer<uint8_t>(bytes_[position_ + i]) > 1) fail_at(position_ + i, "bool array element is not 0 or 1");
        }
      }
      data->packed.assign(bytes_.begin() + position_, bytes_.begin() + position_ + *min_bytes);
      position_ += *min_bytes;
    }
    return Value::from_array(std::move(data));
  }

  void align_to(uint64_t alignment) {
    const uint64_t padding = (alignment - position_ % alignment) % alignment;
    position_ += padding;  // may pass the end of a file without tensor data; checked by the caller
  }

 private:
  std::span<const std::byte> bytes_;
  uint64_t position_ = 0;
};

File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

File File::open(const std::filesystem::path& path) {
  File file;
  file.mapping_ = Mapping::map_file(path);
  try {
    file.parse();
  } catch (const FormatError& e) {
    throw FormatError(e.offset(), e.detail(), path.string());
  }
  return file;
}

File File::from_bytes(std::span<const std::byte> bytes) {
  File file;
  file.mapping_ = Mapping::copy_bytes(bytes);
  file.parse();
  return file;
}

uint64_t File::file_size() const { return mapping_->bytes().size(); }

void File::parse() {
  const std::span<const std::byte> bytes = mapping_->bytes();
  Parser in(bytes);

  const uint32_t magic = in.read<uint32_t>("magic");
  if (magic != kMagic) in.fail_at(0, fmt::format("bad magic 0x{:08x}: not a GGUF file", magic));
  version_ = in.read<uint32_t>("version");
  if (version_ == 1) in.fail_at(4, "GGUF version 1 is not supported (only versions 2 and 3)");
  if (version_ != 2 && version_ != 3) in.fail_at(4, fmt::format("unsupported GGUF version {} (only 2 and 3)", version_));

  const uint64_t n_tensors = in.read<uint64_t>("tensor count");
  const uint64_t n_kv = in.read<uint64_t>("metadata count");
  if (n_tensors > in.remaining() / kMinTensorInfoBytes) {
    in.fail_at(8, fmt::format("tensor count {} cannot fit in a file of {} bytes", n_tensors, bytes.size()));
  }
  if (n_kv > in.remaining() / kMinKeyValueBytes) {
    in.fail_at(16, fmt::format("metadata count {} cannot fit in a file of {} bytes", n_kv, bytes.size()));
  }

  metadata_.reserve(n_kv);
  std::unordered_set<std::string_view> keys;
  for (uint64_t i = 0; i < n_kv; ++i) {
    const uint64_t key_offset = in.position();
    const std::string_view key = in.read_string("metadata key");
    if (key.empty()) in.fail_at(key_offset, "empty metadata key");
    if (!keys.insert(key).second) in.fail_at(key_offset, fmt::format("duplicate metadata key '{}'", key));
    const ValueType type = in.read_value_type(fmt::format("value of '{}'", key));
    metadata_.push_back({std::string(key), in.read_value(type, 0)});
  }

  if (const Value* alignment = find("general.alignment")) {
    if (alignment->type() != ValueType::UINT32) {
      in.fail(fmt::format("general.alignment must be uint32, found {}", value_type_name(alignment->type())));
    }
    const uint32_t value = alignment->as<uint32_t>();
    if (value == 0 || (value & (value - 1)) != 0) in.fail(fmt::format("general.alignment {} is not a power of two", value));
    alignment_ = value;
  }

  tensors_.reserve(n_tensors);
  std::unordered_set<std::string_view> names;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    const uint64_t info_offset = in.position();
    TensorInfo info;
    const std::string_view name = in.read_string("tensor name");
    if (name.empty()) in.fail_at(info_offset, "empty tensor name");
    if (name.size() > kMaxTensorNameBytes) {
      in.fail_at(info_offset, fmt::format("tensor name of {} bytes is longer than {}", name.size(), kMaxTensorNameBytes));
    }
    if (!names.insert(name).second) in.fail_at(info_offset, fmt::format("duplicate tensor name '{}'", name));
    info.name = std::string(name);

    const uint64_t dims_offset = in.position();
    const uint32_t n_dims = in.read<uint32_t>("tensor dimension count");
    if (n_dims < 1 || n_dims > kMaxDims) {
      in.fail_at(dims_offset, fmt::format("tensor '{}' has {} dimensions (1 to {} allowed)", name, n_dims, kMaxDims));
    }
    info.n_dims = static_cast<int>(n_dims);
    int64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim_offset = in.position();
      const int64_t extent = in.read<int64_t>("tensor dimension");
      if (extent < 1) in.fail_at(dim_offset, fmt::format("tensor '{}' dimension {} is {} (must be >= 1)", name, d, extent));
      if (__builtin_mul_overflow(n_elements, extent, &n_elements)) {
        in.fail_at(dim_offset, fmt::format("tensor '{}' element count overflows int64", name));
      }
      info.ne[d] = extent;
    }

    const uint64_t type_offset = in.position();
    const uint32_t type_id = in.read<uint32_t>("tensor type");
    const TypeTraits* traits = find_type_traits(type_id);
    if (traits == nullptr) in.fail_at(type_offset, fmt::format("tensor '{}' has unknown or removed type id {}", name, type_id));
    info.type = traits->type;
    if (info.ne[0] % traits->block_size != 0) {
      in.fail_at(dims_offset, fmt::format("tensor '{}' row length {} is not a multiple of the {} block size {}", name,
                                          info.ne[0], traits->name, traits->block_size));
    }
    const auto row = row_bytes(info.type, info.ne[0]);
    const auto size = row ? checked_mul(*row, static_cast<uint64_t>(info.n_rows())) : std::nullopt;
    if (!size) in.fail_at(dims_offset, fmt::format("tensor '{}' byte size overflows", name));
    info.size = *size;

    const uint64_t offset_offset = in.position();
    info.offset = in.read<uint64_t>("tensor data offset");
    if (info.offset % alignment_ != 0) {
      in.fail_at(offset_offset, fmt::format("tensor '{}' offset {} is not a multiple of the alignment {}", name,
                                            info.offset, alignment_));
    }
    tensors_.push_back(std::move(info));
  }

  in.align_to(alignment_);
  data_offset_ = in.position();
  if (!tensors_.empty() && data_offset_ > bytes.size()) {
    in.fail_at(bytes.size(), fmt::format("truncated: the tensor data section would start at byte {}, past the end", data_offset_));
  }
  const uint64_t data_bytes = data_offset_ <= bytes.size() ? bytes.size() - data_offset_ : 0;

  // Tensors must lie inside the data section and not overlap; check in offset order.
  std::vector<const TensorInfo*> by_offset;
  by_offset.reserve(tensors_.size());
  for (const TensorInfo& info : tensors_) {
    if (info.offset > data_bytes || info.size > data_bytes - info.offset) {
      in.fail_at(bytes.size(), fmt::format("tensor '{}' data [{}, +{}) runs past the end of the file (data section holds {} bytes)",
                                           info.name, info.offset, info.size, data_bytes));
    }
    by_offset.push_back(&info);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& previous = *by_offset[i - 1];
    const TensorInfo& current = *by_offset[i];
    if (current.offset < previous.offset + previous.size) {
      in.fail_at(data_offset_ + current.offset, fmt::format("tensor '{}' overlaps tensor '{}'", current.name, previous.name));
    }
  }
  for (TensorInfo& info : tensors_) info.data = bytes.data() + data_offset_ + info.offset;
}

const Value* File::find(std::string_view key) const {
  for (const KeyValue& kv : metadata_) {
    if (kv.key == key) return &kv.value;
  }
  return nullptr;
}

const Value& File::at(std::string_view key) const {
  const Value* value = find(key);
  if (value == nullptr) throw KeyError(fmt::format("metadata key '{}' is missing", key));
  return *value;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  for (const TensorInfo& info : tensors_) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

const TensorInfo& File::tensor(std::string_view name) const {
  const TensorInfo* info = find_tensor(name);
  if (info == nullptr) throw KeyError(fmt::format("tensor '{}' is missing", name));
  return *info;
}

std::string TensorInfo::shape_string() const {
  std::string out = "[";
  for (int d = 0; d < n_dims; ++d) out += fmt::format("{}{}", d ? ", " : "", ne[d]);
  return out + "]";
}

}  // namespace hearth::gguf
