// JSON Schema grammars against a real validator: every schema of the JSON-Schema-Test-Suite (draft 2020-12, as
// Debian's libtest-json-schema-acceptance-perl ships it) goes to the compiler; for each one it accepts, random
// sentences of its grammar (compact and flexible whitespace) are validated by Debian's python3-jsonschema, formats
// included. Every sample must validate. Prints how many schemas were accepted and why the others were refused.
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/run_command.h"
#include "hearth/json_schema.h"
#include "support/grammar_walk.h"

namespace hearth::grammar {
namespace {

namespace fs = std::filesystem;

constexpr int kSamplesPerSchema = 8;

// Why a schema was refused, without where: "the keyword 'not' is not supported" and the like.
std::string reason_of(const JsonSchemaError& error) {
  std::string message = error.what();
  if (const size_t colon = message.find(": "); colon != std::string::npos) message = message.substr(colon + 2);
  static const std::regex quoted_keyword("the keyword '[^']*' is not supported");
  if (std::regex_search(message, quoted_keyword)) return message;
  return message.substr(0, message.find(" (")).substr(0, 70);
}

TEST(JsonSchemaCorpus, EverySampleOfEveryAcceptedSchemaValidates) {
  const fs::path suite = HEARTH_JSON_SCHEMA_SUITE_DIR;
  if (!fs::exists(suite)) FAIL() << suite << " is missing: run scripts/setup (it installs libtest-json-schema-acceptance-perl)";
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(suite)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  for (const char* format : {"date", "time", "date-time", "email", "uuid", "uri"}) {
    files.push_back(suite / "optional" / "format" / (std::string(format) + ".json"));
  }
  std::sort(files.begin(), files.end());

  nlohmann::json cases = nlohmann::json::array();
  std::map<std::string, int> refused;
  int schemas = 0;
  std::mt19937_64 random(2026);
  for (const fs::path& file : files) {
    std::ifstream in(file);
    ASSERT_TRUE(in) << file;
    const nlohmann::json groups = nlohmann::json::parse(in);
    for (const nlohmann::json& group : groups) {
      ++schemas;
      const std::string name = file.stem().string() + ": " + group["description"].get<std::string>();
      // The suite's own text keeps the property order the grammar follows.
      const std::string schema_text = nlohmann::ordered_json::parse(group["schema"].dump()).dump();
      nlohmann::json samples = nlohmann::json::array();
      try {
        for (const JsonWhitespace whitespace : {JsonWhitespace::compact, JsonWhitespace::flexible}) {
          const Grammar grammar = json_schema_grammar(schema_text, {.whitespace = whitespace});
          for (int i = 0; i < kSamplesPerSchema / 2; ++i) {
            if (const auto text = test::random_sentence(grammar, random, 3000)) samples.push_back(*text);
          }
        }
      } catch (const JsonSchemaError& error) {
        ++refused[reason_of(error)];
        continue;
      }
      cases.push_back({{"name", name}, {"schema", group["schema"]}, {"samples", samples}});
    }
  }
  const fs::path cases_file = fs::temp_directory_path() / ("hearth_json_schema_cases_" + std::to_string(::getpid()) + ".json");
  std::ofstream(cases_file) << cases.dump();
  const auto validation = hearth::test::run_command("/usr/bin/python3 " + std::string(HEARTH_SOURCE_DIR) +
                                                    "/tests/sampling/validate_json_samples.py " + cases_file.string() + " 2>&1");
  fs::remove(cases_file);
  EXPECT_EQ(validation.exit_code, 0) << validation.out;

  std::ostringstream report;
  report << "JSON-Schema-Test-Suite draft 2020-12: " << cases.size() << " of " << schemas << " schemas accepted; "
         << validation.out.substr(validation.out.rfind("validated")) << "refused:\n";
  std::vector<std::pair<int, std::string>> by_count;
  for (const auto& [reason, count] : refused) by_count.emplace_back(count, reason);
  std::sort(by_count.rbegin(), by_count.rend());
  for (const auto& [count, reason] : by_count) report << "  " << count << "  " << reason << "\n";
  std::cout << report.str();
  // A floor against regressions: 113 of 356 accepted when this test was written.
  EXPECT_GE(cases.size(), 110u);
}

}  // namespace
}  // namespace hearth::grammar
