// Where tests find ../shared: $HEARTH_SHARED, else the path fixed at configure time (beside the checkout).
#pragma once

#include <cstdlib>
#include <filesystem>

namespace hearth::test {

inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("HEARTH_SHARED"); env != nullptr && *env != '\0') return env;
  return HEARTH_SHARED_DIR;
}

inline std::filesystem::path bin_dir() { return HEARTH_BIN_DIR; }

}  // namespace hearth::test
