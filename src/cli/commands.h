// Each `hearth` subcommand lives in its own cmd_NAME.cpp and registers itself here.
#pragma once

#include <CLI/CLI.hpp>

namespace hearth::cli {

// Adds the subcommand to `app`; its callback runs the command and sets `exit_code`.
void register_info(CLI::App& app, int& exit_code);
void register_template(CLI::App& app, int& exit_code);  // render a chat template
void register_tokenize(CLI::App& app, int& exit_code);  // tokenize and detokenize
void register_quantize(CLI::App& app, int& exit_code);
void register_synth(CLI::App& app, int& exit_code);
void register_run(CLI::App& app, int& exit_code);
void register_perplexity(CLI::App& app, int& exit_code);
void register_chat(CLI::App& app, int& exit_code);  // interactive chat

}  // namespace hearth::cli
