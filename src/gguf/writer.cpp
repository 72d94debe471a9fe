// GGUF v3 writing: the header is serialized first, then the output (a mapped file or a buffer) is sized once
// and tensors are written straight into it.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>

#include "gguf/value_storage.h"

namespace hearth::gguf {
namespace {

uint64_t align_up(uint64_t offset, uint64_t alignment) { return (offset + alignment - 1) / alignment * alignment; }

class ByteSink {
 public:
  explicit ByteSink(std::vector<std::byte>& out) : out_(out) {}
  template <typename T>
  void put(T scalar) {
    const auto* raw = reinterpret_cast<const std::byte*>(&scalar);
    out_.insert(out_.end(), raw, raw + sizeof(T));
  }
  void put_string(std::string_view text) {
    put<uint64_t>(text.size());
    const auto* raw = reinterpret_cast<const std::byte*>(text.data());
    out_.insert(out_.end(), raw, raw + text.size());
  }
  void put_bytes(std::span<const std::byte> bytes) { out_.insert(out_.end(), bytes.begin(), bytes.end()); }

 private:
  std::vector<std::byte>& out_;
};

}  // namespace

void Writer::set(std::string key, Value value) {
  for (KeyValue& kv : metadata_) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  }
  metadata_.push_back({std::move(key), std::move(value)});
}

void Writer::remove(std::string_view key) {
  std::erase_if(metadata_, [&](const KeyValue& kv) { return kv.key == key; });
}

void Writer::copy_metadata(const File& file) {
  for (const KeyValue& kv : file.metadata()) {
    if (kv.key != "general.alignment") set(kv.key, kv.value);
  }
}

void Writer::add_tensor(std::string name, TensorType type, std::span<const int64_t> shape) {
  add_tensor(std::move(name), type, shape, {});
}

void Writer::add_tensor(std::string name, TensorType type, std::span<const int64_t> shape, std::span<const std::byte> data) {
  if (shape.empty() || shape.size() > static_cast<size_t>(kMaxDims)) {
    throw std::invalid_argument(fmt::format("tensor '{}': {} dimensions (1 to {} allowed)", name, shape.size(), kMaxDims));
  }
  for (const TensorInfo& existing : tensors_) {
    if (existing.name == name) throw std::invalid_argument(fmt::format("duplicate tensor name '{}'", name));
  }
  TensorInfo info;
  info.name = std::move(name);
  info.type = type;
  info.n_dims = static_cast<int>(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 1) throw std::invalid_argument(fmt::format("tensor '{}': dimension {} is {}", info.name, d, shape[d]));
    info.ne[d] = shape[d];
  }
  const auto row = row_bytes(type, info.ne[0]);
  if (!row) {
    throw std::invalid_argument(fmt::format("tensor '{}': row length {} is not a multiple of the {} block size", info.name,
                                            info.ne[0], type_name(type)));
  }
  info.size = *row * static_cast<uint64_t>(info.n_rows());
  if (!data.empty() && data.size() != info.size) {
    throw std::invalid_argument(fmt::format("tensor '{}': {} data bytes given, {} expected", info.name, data.size(), info.size));
  }
  info.offset = data_size_;
  data_size_ = align_up(data_size_ + info.size, alignment_);
  tensors_.push_back(std::move(info));
  tensor_data_.push_back(data);
}

namespace {

void put_value(ByteSink& sink, const Value& value);

void put_array(ByteSink& sink, const Value& value) {
  const ValueType element = value.element_type();
  sink.put<uint32_t>(static_cast<uint32_t>(element));
  sink.put<uint64_t>(value.size());
  if (element == ValueType::STRING) {
    for (std::string_view text : value.strings()) sink.put_string(text);
  } else if (element == ValueType::ARRAY) {
    for (size_t i = 0; i < value.size(); ++i) put_array(sink, value.item(i));
  } else {
    for (size_t i = 0; i < value.size(); ++i) put_value(sink, value.item(i));
  }
}

void put_value(ByteSink& sink, const Value& value) {
  switch (value.type()) {
    case ValueType::UINT8: sink.put(value.as<uint8_t>()); break;
    case ValueType::INT8: sink.put(value.as<int8_t>()); break;
    case ValueType::UINT16: sink.put(value.as<uint16_t>()); break;
    case ValueType::INT16: sink.put(value.as<int16_t>()); break;
    case ValueType::UINT32: sink.put(value.as<uint32_t>()); break;
    case ValueType::INT32: sink.put(value.as<int32_t>()); break;
    case ValueType::FLOAT32: sink.put(value.as<float>()); break;
    case ValueType::BOOL: sink.put<uint8_t>(value.as<bool>() ? 1 : 0); break;
    case ValueType::STRING: sink.put_string(value.string()); break;
    case ValueType::ARRAY: put_array(sink, value); break;
    case ValueType::UINT64: sink.put(value.as<uint64_t>()); break;
    case ValueType::INT64: sink.put(value.as<int64_t>()); break;
    case ValueType::FLOAT64: sink.put(value.as<double>()); break;
  }
}

}  // namespace

std::vector<std::byte> Writer::header_bytes() const {
  std::vector<std::byte> header;
  ByteSink sink(header);
  const bool custom_alignment = alignment_ != kDefaultAlignment;
  sink.put<uint32_t>(kMagic);
  sink.put<uint32_t>(3);
  sink.put<uint64_t>(tensors_.size());
  sink.put<uint64_t>(metadata_.size() + (custom_alignment ? 1 : 0));
  if (custom_alignment) {
    sink.put_string("general.alignment");
    sink.put<uint32_t>(static_cast<uint32_t>(ValueType::UINT32));
    sink.put<uint32_t>(static_cast<uint32_t>(alignment_));
  }
  for (const KeyValue& kv : metadata_) {
    sink.put_string(kv.key);
    sink.put<uint32_t>(static_cast<uint32_t>(kv.value.type()));
    put_value(sink, kv.value);
  }
  for (const TensorInfo& info : tensors_) {
    sink.put_string(info.name);
    sink.put<uint32_t>(static_cast<uint32_t>(info.n_dims));
    for (int d = 0; d < info.n_dims; ++d) sink.put<int64_t>(info.ne[d]);
    sink.put<uint32_t>(static_cast<uint32_t>(info.type));
    sink.put<uint64_t>(info.offset);
  }
  return header;
}

uint64_t Writer::total_size(size_t header_size) const { return align_up(header_size, alignment_) + data_size_; }

void Writer::emit(std::span<std::byte> out, const std::vector<std::byte>& header, const FillTensor& fill) const {
  std::memcpy(out.data(), header.data(), header.size());
  const uint64_t data_offset = align_up(header.size(), alignment_);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const TensorInfo& info = tensors_[i];
    std::span<std::byte> target = out.subspan(data_offset + info.offset, info.size);
    if (!tensor_data_[i].empty()) {
      std::memcpy(target.data(), tensor_data_[i].data(), info.size);
    } else if (fill) {
      fill(i, target);
    } else {
      throw std::invalid_argument(fmt::format("tensor '{}' has no data and no fill callback was given", info.name));
    }
  }
}

std::vector<std::byte> Writer::to_bytes(const FillTensor& fill) const {
  const std::vector<std::byte> header = header_bytes();
  std::vector<std::byte> out(total_size(header.size()));
  emit(out, header, fill);
  return out;
}

void Writer::write(const std::filesystem::path& path, const FillTensor& fill) const {
  const std::vector<std::byte> header = header_bytes();
  const uint64_t size = total_size(header.size());
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: cannot create: {}", path.string(), std::strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  // Reserve the blocks now so a full disk is an error here, not a fault while writing through the mapping.
  if (const int error = ::posix_fallocate(fd, 0, static_cast<off_t>(size)); error != 0) {
    throw std::runtime_error(fmt::format("{}: cannot reserve {} bytes: {}", path.string(), size, std::strerror(error)));
  }
  void* address = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (address == MAP_FAILED) throw std::runtime_error(fmt::format("{}: cannot map for writing: {}", path.string(), std::strerror(errno)));
  struct Unmapper {
    void* address;
    uint64_t size;
    ~Unmapper() { ::munmap(address, size); }
  } unmapper{address, size};
  // The magic goes in last: a write killed half-way (SIGKILL, power loss of the page cache) leaves a file that
  // starts with zeros, which no reader takes for a GGUF, instead of a valid header over missing tensors.
  std::vector<std::byte> header_without_magic = header;
  std::memset(header_without_magic.data(), 0, sizeof(kMagic));
  const std::span<std::byte> out{static_cast<std::byte*>(address), size};
  emit(out, header_without_magic, fill);
  std::memcpy(out.data(), &kMagic, sizeof(kMagic));
}

}  // namespace hearth::gguf
