// The `hearth` command line as a whole: the subcommand table, argument parsing and the exit-code convention
// (README "Input limits and exit codes"):
//   0  success (and --help, --version)
//   1  the command ran and failed ("hearth CMD: message" on stderr)
//   2  usage error: the arguments were refused before anything ran, reported as exactly one line on stderr,
//      "hearth: error: MESSAGE; see 'hearth CMD --help'"
//   130 interrupted: Ctrl-C during quantize or synth, SIGINT to a chat reading a pipe
// It is a library (hearth_cli_commands) so that tests and the CLI-argument fuzzer parse argv in-process.
#pragma once

#include <ostream>
#include <string>

#include <CLI/CLI.hpp>

namespace hearth::cli {

inline constexpr int kExitRuntimeError = 1;
inline constexpr int kExitUsageError = 2;

// Whether parse_command_line runs the chosen command after a successful parse, or stops there (tests, the
// fuzzer): every check of the arguments has run by then, nothing of the command has.
enum class Execution { run, parse_only };

// The app with every subcommand registered; each subcommand's callback runs it and sets `exit_code`.
void register_commands(CLI::App& app, int& exit_code);

// Parses argv against the subcommand table and (with Execution::run) runs the command. --help and --version print
// to `out`; a usage error prints its one line to `err`. Returns the process exit code.
int parse_command_line(int argc, const char* const* argv, Execution execution, std::ostream& out, std::ostream& err);

}  // namespace hearth::cli
