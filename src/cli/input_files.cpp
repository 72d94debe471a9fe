#include "cli/input_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>

#include <fmt/format.h>

namespace hearth::cli {
namespace {

struct FileDescriptor {
  int fd;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

std::runtime_error too_large(std::string_view what, uint64_t limit) {
  return std::runtime_error(fmt::format("{} is larger than the limit of {} bytes (raise it with {}=BYTES)", what, limit,
                                        kInputLimitVariable));
}

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Reads `fd` to its end, refusing once more than `limit` bytes arrived (a file may grow after its size was read).
std::string read_to_end(int fd, std::string_view what, uint64_t limit) {
  std::string text;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(fmt::format("cannot read {}: {}", what, std::strerror(errno)));
    }
    if (n == 0) return text;
    if (text.size() + static_cast<uint64_t>(n) > limit) throw too_large(what, limit);
    text.append(buffer, static_cast<size_t>(n));
  }
}

}  // namespace

uint64_t input_byte_limit() {
  const char* value = std::getenv(kInputLimitVariable);
  if (value == nullptr || *value == '\0') return kDefaultInputByteLimit;
  const std::string_view text(value);
  uint64_t limit = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), limit);
  if (error != std::errc() || end != text.data() + text.size() || limit == 0) {
    throw std::runtime_error(fmt::format("{}='{}' is not a positive number of bytes", kInputLimitVariable, printable(text)));
  }
  return limit;
}

std::string read_text_file(const std::filesystem::path& path, std::string_view what, uint64_t limit) {
  const std::string named = fmt::format("{} '{}'", what, printable(path.native()));
  if (path.empty()) throw std::runtime_error(fmt::format("the {} path is empty", what));
  // stat before open: opening a FIFO would block until a writer appears.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw std::runtime_error(fmt::format("cannot read {}: {}", named, std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(fmt::format("{} is {}, not a regular file", named, kind_of(st.st_mode)));
  if (static_cast<uint64_t>(st.st_size) > limit) throw too_large(named, limit);
  // O_NONBLOCK keeps a FIFO swapped in after the stat from blocking the open; fstat then refuses it.
  FileDescriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (file.fd < 0) throw std::runtime_error(fmt::format("cannot read {}: {}", named, std::strerror(errno)));
  if (::fstat(file.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    throw std::runtime_error(fmt::format("{} is not a regular file", named));
  }
  return read_to_end(file.fd, named, limit);
}

std::string read_standard_input(std::string_view what, uint64_t limit) {
  return read_to_end(STDIN_FILENO, what, limit);
}

std::optional<std::string> read_standard_input_line(std::string_view what, uint64_t limit) {
  std::streambuf& in = *std::cin.rdbuf();
  std::string line;
  for (;;) {
    const int c = in.sbumpc();
    if (c == std::char_traits<char>::eof()) {
      if (line.empty()) return std::nullopt;
      return line;
    }
    if (c == '\n') return line;
    if (line.size() >= limit) throw too_large(fmt::format("a line of {}", what), limit);
    line.push_back(static_cast<char>(c));
  }
}

std::string printable(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c == '\\') out += "\\\\";
    else if (c < 0x20 || c == 0x7F) out += fmt::format("\\x{:02x}", c);
    else if (c < 0x80) out += static_cast<char>(c);
    else {
      // Copy a whole valid multi-byte character; escape bytes that do not form one.
      const size_t length = c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
      bool valid = length > 0 && i + length <= text.size() && c < 0xF8;
      for (size_t k = 1; valid && k < length; ++k) valid = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
      if (valid) {
        out.append(text.substr(i, length));
        i += length - 1;
      } else {
        out += fmt::format("\\x{:02x}", c);
      }
    }
  }
  return out;
}

}  // namespace hearth::cli
