// Runs a command line through the shell and captures what it printed, for end-to-end CLI tests.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace hearth::test {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout (stderr too when the command line redirects it)
};

inline CommandResult run_command(const std::string& command_line) {
  CommandResult result;
  std::FILE* pipe = ::popen(command_line.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run: " + command_line);
  std::array<char, 4096> buffer{};
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.out.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace hearth::test
