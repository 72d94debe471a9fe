// Where commands that run a model find one when no -m is given.
#pragma once

#include <filesystem>

namespace hearth::cli {

// $HEARTH_MODELS or ~/.cache/hearth/models: default.gguf (what scripts/setup links), else the demo model itself.
// Throws std::runtime_error saying where it looked when neither exists.
std::filesystem::path default_model();

}  // namespace hearth::cli
