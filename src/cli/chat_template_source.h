// Which chat template a command renders conversations with, shared by `hearth chat` and `hearth serve` so that
// both pick the same one for the same flags and model.
#pragma once

#include <string>

#include "hearth/model.h"

namespace hearth::cli {

// The template's Jinja source: `template_file` when given, else the built-in `template_name` when given, else
// the model's own (GGUF tokenizer.chat_template), else the built-in fallback for its architecture (announced on
// stderr as "hearth COMMAND: the model has no chat template; ..."). Throws for an unreadable file or unknown name.
std::string chat_template_source(const char* command, const std::string& template_name,
                                 const std::string& template_file, const Model& model);

}  // namespace hearth::cli
