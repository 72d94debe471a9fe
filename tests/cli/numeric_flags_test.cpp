// The numeric-flag layer (cli/numeric_flags.h): strict parsing, ranges, and that every numeric flag of every
// command goes through it, checked by parsing command lines in-process without running them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/command_line.h"
#include "cli/numeric_flags.h"

namespace hearth::cli {
namespace {

struct Parsed {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// `hearth ARGS` parsed as the binary parses it, without running the command.
Parsed parse(const std::vector<std::string>& args) {
  std::vector<const char*> argv{"hearth"};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  std::ostringstream out;
  std::ostringstream err;
  const int code = parse_command_line(static_cast<int>(argv.size()), argv.data(), Execution::parse_only, out, err);
  return {code, out.str(), err.str()};
}

std::string message(const std::function<void()>& body) {
  try {
    body();
  } catch (const CLI::ValidationError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(NumericFlags, IntegersAreWholeDecimalTexts) {
  constexpr NumericRange<int32_t> any{};
  EXPECT_EQ(parse_numeric_flag("-n", "010", any), 10);  // CLI11's own conversion reads it as octal 8
  EXPECT_EQ(parse_numeric_flag("-n", "-1", any), -1);
  EXPECT_EQ(parse_numeric_flag("-n", "2147483647", any), 2147483647);
  for (const char* bad : {"", " 5", "5 ", "5abc", "0x10", "1e3", "1.5", "+-1", "2147483648", "-2147483649"}) {
    EXPECT_THROW(parse_numeric_flag("-n", bad, any), CLI::ValidationError) << bad;
  }
}

TEST(NumericFlags, SeedsNeverWrapAround) {
  constexpr NumericRange<uint64_t> seeds{};
  EXPECT_EQ(parse_numeric_flag("--seed", "0", seeds), 0u);
  EXPECT_EQ(parse_numeric_flag("--seed", "18446744073709551615", seeds), UINT64_MAX);
  for (const char* bad : {"-1", "-2", "18446744073709551616", "99999999999999999999999"}) {
    EXPECT_EQ(message([&] { parse_numeric_flag("--seed", bad, seeds); }),
              std::string("--seed must be an integer (from 0 to 18446744073709551615), not '") + bad + "'");
  }
}

TEST(NumericFlags, FloatsAreFiniteAndInRange) {
  constexpr NumericRange<float> probability{.min = 0.0f, .max = 1.0f};
  EXPECT_EQ(parse_numeric_flag("--top-p", "0.5", probability), 0.5f);
  EXPECT_EQ(parse_numeric_flag("--top-p", "1", probability), 1.0f);
  EXPECT_EQ(message([&] { parse_numeric_flag("--top-p", "2", probability); }),
            "--top-p must be a number (from 0 to 1), not '2'");
  for (const char* bad : {"-0.5", "nan", "NaN", "inf", "-inf", "1e999", "", "0.5x"}) {
    EXPECT_THROW(parse_numeric_flag("--top-p", bad, probability), CLI::ValidationError) << bad;
  }
  constexpr NumericRange<float> positive{.min = 0.0f, .above_min = true};
  EXPECT_EQ(message([&] { parse_numeric_flag("--repeat-penalty", "0", positive); }),
            "--repeat-penalty must be a number (more than 0), not '0'");
  EXPECT_EQ(message([&] { parse_numeric_flag("--temp", "-1", NumericRange<float>{.min = 0.0f}); }),
            "--temp must be a number (at least 0), not '-1'");
}

TEST(NumericFlags, ErrorsEchoAShortPrintableValue) {
  const std::string huge(300, '9');
  const std::string error = message([&] { parse_numeric_flag("--threads", huge, thread_count_range()); });
  EXPECT_LT(error.size(), 120u) << error;
  EXPECT_NE(error.find("9999..."), std::string::npos) << error;
  const Parsed control = parse({"run", "-p", "x", "-n", "1\n2\x01"});
  EXPECT_EQ(control.err, "hearth: error: --n-predict must be an integer (from -1 to 2147483647), not '1\\n2\\x01'; "
                         "see 'hearth run --help'\n");
}

TEST(NumericFlags, ThreadsStopAtFourPerHardwareThread) {
  const int32_t most = 4 * static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ(thread_count_range().max, most);
  EXPECT_EQ(parse({"run", "-p", "x", "-t", std::to_string(most)}).exit_code, 0);
  for (const std::string& command : {"run", "chat", "perplexity", "quantize", "synth"}) {
    std::vector<std::string> args{command};
    if (command == "run") args.insert(args.end(), {"-p", "x"});
    if (command == "perplexity") args.insert(args.end(), {"-m", "m"});
    if (command == "quantize") args.insert(args.end(), {"in", "out", "Q4_0"});
    if (command == "synth") args.insert(args.end(), {"--shape", "s", "--vocab", "v", "--out", "o"});
    for (const std::string& count : {std::to_string(most + 1), std::string("1000000"), std::string("-1")}) {
      std::vector<std::string> with = args;
      with.insert(with.end(), {command == "quantize" || command == "synth" ? "--threads" : "-t", count});
      const Parsed parsed = parse(with);
      EXPECT_EQ(parsed.exit_code, kExitUsageError) << command << " " << count;
      EXPECT_NE(parsed.err.find("--threads must be an integer (from 0 to " + std::to_string(most) + ")"),
                std::string::npos) << parsed.err;
    }
  }
}

// Each numeric flag of each command with a value out of its range: a usage error naming the flag. A flag added
// without the numeric layer would parse (CLI11 takes -5 for an int) and fail here.
TEST(NumericFlags, EveryCommandRefusesOutOfRangeValues) {
  const std::vector<std::string> sampling_commands[] = {{"run", "-p", "x"}, {"chat"}};
  const std::vector<std::pair<std::string, std::string>> sampling_cases = {
      {"--temp", "-1"},          {"--top-k", "-5"},          {"--top-p", "2"},           {"--top-p", "-0.5"},
      {"--min-p", "-1"},         {"--min-p", "2"},           {"--typical-p", "2"},       {"--repeat-last-n", "-5"},
      {"--repeat-penalty", "0"}, {"--repeat-penalty", "-1"}, {"--frequency-penalty", "nan"},
      {"--presence-penalty", "inf"}, {"-s", "-2"},           {"-s", "99999999999999999999999"},
      {"-n", "-5"},              {"-n", "2147483648"},       {"-c", "-1"},               {"-t", "-1"}};
  std::vector<std::pair<std::vector<std::string>, std::string>> cases;  // command line, the flag named
  for (const auto& command : sampling_commands) {
    for (const auto& [flag, value] : sampling_cases) {
      std::vector<std::string> args = command;
      args.insert(args.end(), {flag, value});
      cases.emplace_back(args, flag == "-s" ? "--seed" : flag == "-n" ? "--n-predict" : flag == "-c" ? "--ctx-size"
                                                                        : flag == "-t" ? "--threads" : flag);
    }
  }
  cases.push_back({{"run", "-p", "x", "-b", "0"}, "--batch-size"});
  cases.push_back({{"perplexity", "-m", "m", "-f", "t", "--chunks", "0"}, "--chunks"});
  cases.push_back({{"perplexity", "-m", "m", "-f", "t", "--chunks", "-1"}, "--chunks"});
  cases.push_back({{"perplexity", "-m", "m", "-f", "t", "-b", "0"}, "--batch-size"});
  cases.push_back({{"perplexity", "-m", "m", "-f", "t", "-c", "3"}, "--ctx-size"});
  cases.push_back({{"info", "f", "--max-items", "-1"}, "--max-items"});
  cases.push_back({{"synth", "--shape", "s", "--vocab", "v", "--out", "o", "--seed", "-1"}, "--seed"});
  for (const auto& [args, flag] : cases) {
    const Parsed parsed = parse(args);
    std::string line;
    for (const std::string& arg : args) line += arg + " ";
    EXPECT_EQ(parsed.exit_code, kExitUsageError) << line;
    EXPECT_TRUE(parsed.err.starts_with("hearth: error: " + flag + " must be ")) << line << "-> " << parsed.err;
    EXPECT_EQ(parsed.err.find('\n'), parsed.err.size() - 1) << parsed.err;
  }
}

TEST(NumericFlags, InRangeValuesParse) {
  EXPECT_EQ(parse({"run", "-p", "x", "-n", "-1", "--top-k", "0", "--top-p", "1", "--min-p", "0", "--temp", "0",
                   "--repeat-last-n", "-1", "--repeat-penalty", "1.1", "-s", "18446744073709551615", "-c", "0"})
                .exit_code,
            0);
  EXPECT_EQ(parse({"perplexity", "-m", "m", "-f", "t", "--chunks", "1", "-c", "4"}).exit_code, 0);
  EXPECT_EQ(parse({"info", "f", "--max-items", "0"}).exit_code, 0);
}

// A numeric option added with CLI11's add_option directly (type INT, UINT or FLOAT, no range) fails here.
TEST(NumericFlags, EveryNumericOptionOfEveryCommandStatesItsRange) {
  CLI::App app;
  int exit_code = 0;
  register_commands(app, exit_code);
  int numeric = 0;
  for (const CLI::App* command : app.get_subcommands({})) {
    for (const CLI::Option* option : command->get_options()) {
      const std::string type = option->get_type_name();
      if (type != "INT" && type != "UINT" && type != "FLOAT" && type != "NUMBER") continue;
      ++numeric;
      EXPECT_TRUE(option->get_description().ends_with("]")) << command->get_name() << " " << option->get_name();
    }
  }
  EXPECT_GE(numeric, 30);  // run and chat alone have 15 each
}

TEST(NumericFlags, HelpStatesEachRange) {
  const Parsed help = parse({"run", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* range : {"[from 0 to 1]", "[at least 0]", "[more than 0]", "[from -1 to 2147483647]",
                            "[from 0 to 18446744073709551615]", "[any finite number]"}) {
    EXPECT_NE(help.out.find(range), std::string::npos) << range << "\n" << help.out;
  }
}

}  // namespace
}  // namespace hearth::cli
