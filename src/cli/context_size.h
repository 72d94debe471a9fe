// One check for every command that takes -c/--ctx-size: a context longer than the model was trained for runs, but
// positions past the trained length give unreliable output (llama.cpp warns too), so the user is told.
#pragma once

#include <cstdint>

#include "hearth/model.h"

namespace hearth::cli {

// Prints "hearth COMMAND: warning: ..." on stderr when n_ctx exceeds the model's trained context length.
void warn_if_beyond_trained_context(const char* command, const Model& model, int64_t n_ctx);

}  // namespace hearth::cli
