// Feature-by-feature checks of the Jinja engine: tests/chat/jinja_cases.json holds small templates, one
// feature each, with the output (or error message) Python's jinja2 gives for them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat/reference_renderer.h"
#include "hearth/chat.h"

namespace hearth::chat {
namespace {

std::string cases_path() { return std::string(HEARTH_SOURCE_DIR) + "/tests/chat/jinja_cases.json"; }

json load_cases() {
  std::ifstream in(cases_path(), std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return json::parse(buffer.str());
}

json context_of(const json& document, const json& c) {
  json context = document.value("context", json::object());
  if (c.contains("context")) {
    for (const auto& [key, value] : c.at("context").items()) context[key] = value;
  }
  return context;
}

TEST(JinjaCases, EngineMatchesRecordedJinja2Results) {
  const json document = load_cases();
  TemplateOptions options;
  options.fixed_now = testing::reference_now();
  size_t checked = 0;
  for (const json& c : document.at("cases")) {
    const std::string name = c.at("name").get<std::string>();
    std::string output;
    std::string error;
    try {
      output = Template(c.at("template").get<std::string>(), options).render(context_of(document, c));
    } catch (const TemplateError& e) {
      error = e.message();
    }
    if (c.contains("error")) {
      EXPECT_EQ(error, c.at("error").get<std::string>()) << name << " rendered: " << output;
    } else {
      EXPECT_EQ(error, "") << name;
      EXPECT_EQ(output, c.at("output").get<std::string>()) << name;
    }
    ++checked;
  }
  EXPECT_GT(checked, 200u);
}

// The recorded expectations are jinja2's own: re-render every case through Python to keep the table honest.
TEST(JinjaCases, RecordedResultsAreJinja2s) {
  const json document = load_cases();
  const json rendered = testing::run_reference("--cases '" + cases_path() + "'");
  const json& results = rendered.at("results");
  ASSERT_EQ(results.size(), document.at("cases").size());
  for (size_t i = 0; i < results.size(); ++i) {
    const json& c = document.at("cases")[i];
    const json& r = results[i];
    if (c.contains("error")) {
      EXPECT_EQ(r.value("error", std::string("(rendered)")), c.at("error").get<std::string>()) << c.at("name");
    } else {
      EXPECT_EQ(r.value("output", std::string("(raised)")), c.at("output").get<std::string>()) << c.at("name");
    }
  }
}

}  // namespace
}  // namespace hearth::chat
