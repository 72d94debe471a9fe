// Turns the SIGBUS of reading a mapped model file that shrank (truncated, or rewritten in place by a download or
// a copy) into one clear line on stderr and exit code 1, instead of a silent death by signal.
#pragma once

namespace hearth::cli {

// Installs the process-wide SIGBUS handler. A fault outside every mapped GGUF file keeps the default action.
void install_model_file_fault_handler();

}  // namespace hearth::cli
