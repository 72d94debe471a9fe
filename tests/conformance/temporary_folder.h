// A fresh folder under the system's temporary directory for one test process, removed with everything in it at
// the end unless HEARTH_CONFORMANCE_KEEP=1 (then its path is printed, for looking at what the suite made).
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace hearth::conformance {

class TemporaryFolder {
 public:
  explicit TemporaryFolder(std::string_view prefix) {
    const auto base = std::filesystem::temp_directory_path();
    for (int attempt = 0;; ++attempt) {
      path_ = base / fmt::format("{}-{}-{}", prefix, ::getpid(), attempt);
      if (std::filesystem::create_directory(path_)) break;
    }
  }
  ~TemporaryFolder() {
    const char* keep = std::getenv("HEARTH_CONFORMANCE_KEEP");
    if (keep != nullptr && std::string(keep) == "1") {
      std::cout << "kept " << path_.string() << "\n";
      return;
    }
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TemporaryFolder(const TemporaryFolder&) = delete;
  TemporaryFolder& operator=(const TemporaryFolder&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace hearth::conformance
