// The bytes behind a gguf::File: a read-only memory map of a file, or an owned copy of bytes in memory.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

namespace hearth::gguf {

class Mapping {
 public:
  // Maps `path` read-only; throws std::runtime_error naming the path and the system error. Anything but a
  // regular file (a FIFO, a device, a directory) is refused before it is opened, since opening a FIFO blocks.
  static std::unique_ptr<Mapping> map_file(const std::filesystem::path& path);
  static std::unique_ptr<Mapping> copy_bytes(std::span<const std::byte> bytes);

  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  std::span<const std::byte> bytes() const { return {data_, size_}; }

 private:
  Mapping() = default;

  const std::byte* data_ = nullptr;
  size_t size_ = 0;
  int registry_slot_ = -1;           // slot in the mapped-file registry, -1 when not registered
  bool mapped_ = false;              // munmap on destruction
  std::vector<std::byte> owned_;     // used when not mapped
};

// The path of the mapped file whose bytes contain `address`, or nullptr. Async-signal-safe (atomic loads of a
// fixed table, no allocation), so a SIGBUS handler can name the file that shrank under the process.
const char* mapped_file_containing(const void* address) noexcept;

}  // namespace hearth::gguf
