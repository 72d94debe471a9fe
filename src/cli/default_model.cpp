#include "cli/default_model.h"

#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

namespace hearth::cli {

std::filesystem::path default_model() {
  std::filesystem::path dir;
  if (const char* env = std::getenv("HEARTH_MODELS"); env != nullptr && *env != '\0') {
    dir = env;
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    dir = std::filesystem::path(home) / ".cache" / "hearth" / "models";
  } else {
    throw std::runtime_error("no model given (-m FILE), and neither HEARTH_MODELS nor HOME is set");
  }
  for (const char* name : {"default.gguf", "hearth-demo-13m-q8_0.gguf"}) {
    if (std::filesystem::exists(dir / name)) return dir / name;
  }
  throw std::runtime_error(fmt::format(
      "no model given (-m FILE) and no default model in {} (default.gguf or hearth-demo-13m-q8_0.gguf); run "
      "scripts/setup or pass -m",
      dir.string()));
}

std::filesystem::path model_path(const std::optional<std::string>& given) {
  if (!given) return default_model();
  if (given->empty()) throw std::invalid_argument("the model path (-m) is empty");
  return *given;
}

}  // namespace hearth::cli
