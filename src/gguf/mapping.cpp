#include "gguf/mapping.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

namespace hearth::gguf {
namespace {

// Closes a descriptor on every path out of map_file.
struct FileDescriptor {
  int fd;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

std::runtime_error system_error(const std::filesystem::path& path, const char* what) {
  return std::runtime_error(path.string() + ": " + what + ": " + std::strerror(errno));
}

// Every live file mapping, for mapped_file_containing(). A fixed table rather than a container because a signal
// handler reads it; a slot is claimed (kFree -> kWriting), filled, then published (kReady) with release order.
// Processes mapping more files than this simply go unnamed in the handler's message.
constexpr int kRegistrySlots = 64;
constexpr size_t kMaxRegisteredPath = 1024;
enum SlotState : int { kFree, kWriting, kReady };

struct RegistrySlot {
  std::atomic<int> state{kFree};
  std::atomic<uintptr_t> begin{0};
  std::atomic<size_t> size{0};
  std::array<char, kMaxRegisteredPath> path{};
};

std::array<RegistrySlot, kRegistrySlots> registry;

int register_mapping(const std::byte* data, size_t size, const std::filesystem::path& path) {
  for (int i = 0; i < kRegistrySlots; ++i) {
    int expected = kFree;
    RegistrySlot& slot = registry[static_cast<size_t>(i)];
    if (!slot.state.compare_exchange_strong(expected, kWriting, std::memory_order_acquire)) continue;
    const std::string& text = path.native();
    const size_t length = std::min(text.size(), kMaxRegisteredPath - 1);
    std::memcpy(slot.path.data(), text.data(), length);
    slot.path[length] = '\0';
    slot.begin.store(reinterpret_cast<uintptr_t>(data), std::memory_order_relaxed);
    slot.size.store(size, std::memory_order_relaxed);
    slot.state.store(kReady, std::memory_order_release);
    return i;
  }
  return -1;
}

}  // namespace

const char* mapped_file_containing(const void* address) noexcept {
  const auto where = reinterpret_cast<uintptr_t>(address);
  for (RegistrySlot& slot : registry) {
    if (slot.state.load(std::memory_order_acquire) != kReady) continue;
    const uintptr_t begin = slot.begin.load(std::memory_order_relaxed);
    if (where >= begin && where - begin < slot.size.load(std::memory_order_relaxed)) return slot.path.data();
  }
  return nullptr;
}

std::unique_ptr<Mapping> Mapping::map_file(const std::filesystem::path& path) {
  if (path.empty()) throw std::runtime_error("the file path is empty");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw system_error(path, "cannot open");
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(path.string() + ": not a regular file");
  // O_NONBLOCK: should the path become a FIFO between the stat and the open, the open returns instead of
  // waiting for a writer (and the fstat below refuses it); it changes nothing for a regular file.
  FileDescriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (file.fd < 0) throw system_error(path, "cannot open");
  if (::fstat(file.fd, &st) != 0) throw system_error(path, "cannot stat");
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(path.string() + ": not a regular file");
  std::unique_ptr<Mapping> mapping(new Mapping());
  if (st.st_size == 0) return mapping;  // nothing to map; the parser reports the missing header

  void* address = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, file.fd, 0);
  if (address == MAP_FAILED) throw system_error(path, "cannot map");
  mapping->data_ = static_cast<const std::byte*>(address);
  mapping->size_ = static_cast<size_t>(st.st_size);
  mapping->mapped_ = true;
  mapping->registry_slot_ = register_mapping(mapping->data_, mapping->size_, path);
  return mapping;
}

std::unique_ptr<Mapping> Mapping::copy_bytes(std::span<const std::byte> bytes) {
  std::unique_ptr<Mapping> mapping(new Mapping());
  mapping->owned_.assign(bytes.begin(), bytes.end());
  mapping->data_ = mapping->owned_.data();
  mapping->size_ = mapping->owned_.size();
  return mapping;
}

Mapping::~Mapping() {
  // Unpublished before munmap, so the handler never names a file for an address that is no longer its own.
  if (registry_slot_ >= 0) registry[static_cast<size_t>(registry_slot_)].state.store(kFree, std::memory_order_release);
  if (mapped_) ::munmap(const_cast<std::byte*>(data_), size_);
}

}  // namespace hearth::gguf
