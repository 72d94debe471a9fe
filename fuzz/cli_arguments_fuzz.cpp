// Fuzzes the `hearth` command line in-process: argv is built from the real flag table (the subcommands and their
// option names, read from the CLI11 app that command_line.cpp registers) with hostile values, and parsed without
// running the command. Every input must end in success (exit 0) or a usage error (exit 2) that is exactly one line
// on stderr; anything else (a crash, a sanitizer report, exit 1 from an exception the parser let through, a
// multi-line error) is a finding.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command_line.h"

namespace {

struct Command {
  std::string name;
  std::vector<std::string> options;  // "-t", "--threads", ...
};

const std::vector<Command>& flag_table() {
  static const std::vector<Command> table = [] {
    CLI::App app;
    int exit_code = 0;
    hearth::cli::register_commands(app, exit_code);
    std::vector<Command> commands;
    for (CLI::App* sub : app.get_subcommands({})) {
      Command command{sub->get_name(), {"--help"}};
      for (const CLI::Option* option : sub->get_options()) {
        for (const std::string& name : option->get_snames()) command.options.push_back("-" + name);
        for (const std::string& name : option->get_lnames()) command.options.push_back("--" + name);
      }
      commands.push_back(std::move(command));
    }
    return commands;
  }();
  return table;
}

// Values that broke or nearly broke flag parsing before: bounds, wrap-around, non-numbers, non-UTF-8, huge.
const std::vector<std::string>& hostile_values() {
  static const std::vector<std::string> values = {
      "", "0", "-0", "1", "-1", "-2", "-5", "2147483647", "2147483648", "-2147483649", "4294967296",
      "18446744073709551615", "18446744073709551616", "99999999999999999999999", std::string(300, '9'),
      "-" + std::string(300, '9'), "nan", "NaN", "-nan", "inf", "-inf", "1e999", "-1e999", "1e-999", "0x10", "010",
      "1.5", "1,5", " 1", "1 ", "+1", "--", "-", "=", "\xff\xfe", "\xc3", "\xe2\x96\x81", std::string("\0", 1),
      "1\n2", "\x1b[31m", "Q4_0", "f16", "shift", "truncate-left", "chatml", "15043+1", "2-inf", "/dev/zero", "."};
  return values;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider input(data, size);
  const std::vector<Command>& table = flag_table();
  const std::vector<std::string>& values = hostile_values();
  const auto value = [&]() -> std::string {
    return input.ConsumeBool() ? values[input.ConsumeIntegralInRange<size_t>(0, values.size() - 1)]
                               : input.ConsumeRandomLengthString(64);
  };

  std::vector<std::string> args{"hearth"};
  const Command* command = nullptr;
  if (input.ConsumeIntegralInRange(0, 15) == 0) {
    args.push_back(value());  // an unknown command, or a value in its place
  } else {
    command = &table[input.ConsumeIntegralInRange<size_t>(0, table.size() - 1)];
    args.push_back(command->name);
  }
  const int pieces = input.ConsumeIntegralInRange(0, 8);
  for (int i = 0; i < pieces && input.remaining_bytes() > 0; ++i) {
    switch (input.ConsumeIntegralInRange(0, 3)) {
      case 0:
      case 1:
        if (command != nullptr) {
          const std::string& option = command->options[input.ConsumeIntegralInRange<size_t>(0, command->options.size() - 1)];
          if (option.starts_with("--") && input.ConsumeBool()) {
            args.push_back(option + "=" + value());
          } else {
            args.push_back(option);
            args.push_back(value());
          }
          break;
        }
        [[fallthrough]];
      case 2: args.push_back(value()); break;
      default: args.push_back("--" + input.ConsumeRandomLengthString(16)); break;
    }
  }

  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  std::ostringstream out;
  std::ostringstream err;
  const int exit_code = hearth::cli::parse_command_line(static_cast<int>(argv.size()), argv.data(),
                                                        hearth::cli::Execution::parse_only, out, err);
  const std::string error = err.str();
  const bool one_line = !error.empty() && error.find('\n') == error.size() - 1;
  if (exit_code == 0 ? !error.empty() : exit_code != hearth::cli::kExitUsageError || !one_line || !out.str().empty()) {
    std::abort();
  }
  return 0;
}
