#include "gguf/mapping.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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

}  // namespace

std::unique_ptr<Mapping> Mapping::map_file(const std::filesystem::path& path) {
  FileDescriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) throw system_error(path, "cannot open");
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) throw system_error(path, "cannot stat");
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(path.string() + ": not a regular file");
  std::unique_ptr<Mapping> mapping(new Mapping());
  if (st.st_size == 0) return mapping;  // nothing to map; the parser reports the missing header

  void* address = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, file.fd, 0);
  if (address == MAP_FAILED) throw system_error(path, "cannot map");
  mapping->data_ = static_cast<const std::byte*>(address);
  mapping->size_ = static_cast<size_t>(st.st_size);
  mapping->mapped_ = true;
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
  if (mapped_) ::munmap(const_cast<std::byte*>(data_), size_);
}

}  // namespace hearth::gguf
