// The `hearth` command-line tool: a thin surface over the library.
#include <iostream>

#include "cli/command_line.h"
#include "cli/model_file_fault.h"

int main(int argc, char** argv) {
  hearth::cli::install_model_file_fault_handler();
  return hearth::cli::parse_command_line(argc, argv, hearth::cli::Execution::run, std::cout, std::cerr);
}
