#include "chat/reference_renderer.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

#include <unistd.h>
#include <sys/wait.h>

namespace hearth::chat::testing {
namespace {

constexpr const char* kPython = "/usr/bin/python3";

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

}  // namespace

std::string shared_dir() {
  if (const char* env = std::getenv("HEARTH_SHARED"); env != nullptr && *env != '\0') return env;
  return HEARTH_SHARED_DIR;
}

json run_reference(const std::string& arguments) {
  if (!std::filesystem::exists(kPython)) {
    throw std::runtime_error("/usr/bin/python3 is missing: install python3 and python3-jinja2 to run these tests");
  }
  const std::string script = std::string(HEARTH_SOURCE_DIR) + "/tools/jinja_reference.py";
  // stderr goes to a file: only stdout carries the JSON, and stderr explains failures.
  std::string stderr_path = (std::filesystem::temp_directory_path() / "hearth-jinja-stderr-XXXXXX").string();
  const int stderr_fd = mkstemp(stderr_path.data());
  if (stderr_fd < 0) throw std::runtime_error("cannot create a temporary file");
  close(stderr_fd);
  const std::string command = std::string(kPython) + " " + quote(script) + " " + arguments + " 2>" + quote(stderr_path);
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("cannot start " + command);
  std::string output;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe.get())) > 0) output.append(buffer, n);
  const int status = pclose(pipe.release());
  std::ifstream errors_in(stderr_path);
  const std::string errors((std::istreambuf_iterator<char>(errors_in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(stderr_path);
  if (status != 0) {
    throw std::runtime_error("the jinja2 reference renderer failed (is python3-jinja2 installed?): " + command +
                             "\n" + errors + output);
  }
  return json::parse(output);
}

json reference_render(const std::string& source, const json& context) {
  return reference_render_all({{source, context}}).at(0);
}

json reference_render_all(const std::vector<std::pair<std::string, json>>& renders) {
  json document = {{"context", json::object()}, {"cases", json::array()}};
  for (size_t i = 0; i < renders.size(); ++i) {
    document["cases"].push_back({{"name", std::to_string(i)}, {"template", renders[i].first}, {"context", renders[i].second}});
  }
  std::string dir_template = (std::filesystem::temp_directory_path() / "hearth-jinja-XXXXXX").string();
  const char* dir = mkdtemp(dir_template.data());
  if (dir == nullptr) throw std::runtime_error("cannot create a temporary directory");
  const std::string cases_path = std::string(dir) + "/cases.json";
  std::ofstream(cases_path, std::ios::binary) << document.dump();
  json result;
  try {
    result = run_reference("--cases " + quote(cases_path));
  } catch (...) {
    std::filesystem::remove_all(dir);
    throw;
  }
  std::filesystem::remove_all(dir);
  return result.at("results");
}

std::tm reference_now() {
  std::tm t{};
  t.tm_year = 2026 - 1900;
  t.tm_mon = 0;
  t.tm_mday = 15;
  t.tm_wday = 4;  // a Thursday
  t.tm_yday = 14;
  return t;
}

}  // namespace hearth::chat::testing
