// Each `hearth` subcommand lives in its own cmd_NAME.cpp and registers itself here.
#pragma once

#include <cstdio>
#include <exception>
#include <type_traits>

#include <CLI/CLI.hpp>

namespace hearth::cli {

// Makes `body` the callback of subcommand `cmd` named `name`: exit code 0 when it returns (or what it returns, if
// it returns an int), and when it throws, one "hearth NAME: message" line on stderr (after whatever it printed to
// stdout) and exit code 1.
template <typename Body>
void on_run(CLI::App& cmd, const char* name, int& exit_code, Body body) {
  cmd.callback([name, &exit_code, body] {
    try {
      if constexpr (std::is_same_v<decltype(body()), int>) {
        exit_code = body();
      } else {
        body();
        exit_code = 0;
      }
    } catch (const std::exception& e) {
      std::fflush(stdout);
      std::fprintf(stderr, "hearth %s: %s\n", name, e.what());
      exit_code = 1;
    }
  });
}

// Adds the subcommand to `app`; its callback runs the command and sets `exit_code`.
void register_info(CLI::App& app, int& exit_code);
void register_template(CLI::App& app, int& exit_code);  // render a chat template
void register_tokenize(CLI::App& app, int& exit_code);  // tokenize and detokenize
void register_quantize(CLI::App& app, int& exit_code);
void register_synth(CLI::App& app, int& exit_code);
void register_run(CLI::App& app, int& exit_code);
void register_perplexity(CLI::App& app, int& exit_code);
void register_chat(CLI::App& app, int& exit_code);  // interactive chat
void register_bench(CLI::App& app, int& exit_code);  // prompt and generation speed
void register_serve(CLI::App& app, int& exit_code);  // OpenAI-compatible HTTP server

}  // namespace hearth::cli
