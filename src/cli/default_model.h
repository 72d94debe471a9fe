// Where commands that run a model find one when no -m is given.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace hearth::cli {

// $HEARTH_MODELS or ~/.cache/hearth/models: default.gguf (what scripts/setup links), else the demo model itself.
// Throws std::runtime_error saying where it looked when neither exists.
std::filesystem::path default_model();

// The model a command runs: `given` (-m), else default_model(). An empty -m is refused rather than read as
// "not given", so a script with an unset variable (-m "$MODEL") fails instead of silently running another model.
std::filesystem::path model_path(const std::optional<std::string>& given);

}  // namespace hearth::cli
