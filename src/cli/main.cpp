// The `hearth` command-line tool: a thin surface over the library.
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "cli/model_file_fault.h"

int main(int argc, char** argv) {
  hearth::cli::install_model_file_fault_handler();
  CLI::App app{"Hearth: run large language models locally from GGUF files"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hearth 0.1.0");
  int exit_code = 0;

  hearth::cli::register_info(app, exit_code);
  hearth::cli::register_template(app, exit_code);
  hearth::cli::register_tokenize(app, exit_code);
  hearth::cli::register_quantize(app, exit_code);
  hearth::cli::register_synth(app, exit_code);
  hearth::cli::register_run(app, exit_code);
  hearth::cli::register_perplexity(app, exit_code);
  hearth::cli::register_chat(app, exit_code);
  hearth::cli::register_bench(app, exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hearth: error: %s\n", e.what());
    return 1;
  }
  return exit_code;
}
