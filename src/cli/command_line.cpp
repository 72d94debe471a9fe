#include "cli/command_line.h"

#include <exception>
#include <vector>

#include "cli/commands.h"
#include "cli/input_files.h"

namespace hearth::cli {
namespace {

std::string command_names(CLI::App& app) {
  std::string names;
  for (const CLI::App* command : app.get_subcommands({})) names += (names.empty() ? "" : ", ") + command->get_name();
  return names;
}

// The one line a usage error prints. CLI11 checks required options before leftover arguments, so for
// `hearth bogus` it says "A subcommand is required" and for `hearth run --bogus` "--prompt is required"; a
// leftover argument is the actual mistake, so it is named first.
std::string usage_error_line(CLI::App& app, const CLI::ParseError& error) {
  const std::vector<CLI::App*> parsed = app.get_subcommands();
  const CLI::App* command = parsed.empty() ? nullptr : parsed.front();
  const std::vector<std::string> leftover = app.remaining(/*recurse=*/true);
  std::string message;
  if (!leftover.empty()) {
    const std::string& first = leftover.front();
    if (first.starts_with('-')) {
      message = "unknown option " + printable(first.substr(0, first.find('=')));
    } else if (command == nullptr) {
      message = "unknown command '" + printable(first) + "' (commands: " + command_names(app) + ")";
    } else {
      message = "unexpected argument '" + printable(first) + "'";
    }
  } else if (command == nullptr && dynamic_cast<const CLI::RequiredError*>(&error) != nullptr) {
    message = "no command given (commands: " + command_names(app) + ")";
  } else {
    message = printable(error.what());  // the one place a usage error's bytes are escaped: it stays one line
  }
  const std::string help = command == nullptr ? "hearth --help" : "hearth " + command->get_name() + " --help";
  return "hearth: error: " + message + "; see '" + help + "'";
}

// Thrown by the top-level app's parse-complete callback with Execution::parse_only: CLI11 calls it after every
// check and before the subcommand's callback. (The callbacks cannot simply be cleared: they own the options the
// parsed values are written to.)
struct ParsedWithoutRunning {};

}  // namespace

void register_commands(CLI::App& app, int& exit_code) {
  register_info(app, exit_code);
  register_template(app, exit_code);
  register_tokenize(app, exit_code);
  register_quantize(app, exit_code);
  register_synth(app, exit_code);
  register_run(app, exit_code);
  register_perplexity(app, exit_code);
  register_chat(app, exit_code);
  register_bench(app, exit_code);
  register_serve(app, exit_code);
}

int parse_command_line(int argc, const char* const* argv, Execution execution, std::ostream& out, std::ostream& err) {
  CLI::App app{"Hearth: run large language models locally from GGUF files"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hearth 0.1.0");
  // A flag takes no value: CLI11 would read `--flag=VALUE` as a count through std::stoll, whose out-of-range
  // exception is no usage error. Refused here as one.
  app.option_defaults()->disable_flag_override();
  int exit_code = 0;
  register_commands(app, exit_code);
  if (execution == Execution::parse_only) app.parse_complete_callback([] { throw ParsedWithoutRunning{}; });
  try {
    app.parse(argc, argv);
  } catch (const ParsedWithoutRunning&) {
    return 0;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e, out, err);  // --help, --version
    err << usage_error_line(app, e) << '\n';
    return kExitUsageError;
  } catch (const std::exception& e) {
    err << "hearth: error: " << printable(e.what()) << '\n';
    return kExitRuntimeError;
  }
  return exit_code;
}

}  // namespace hearth::cli
