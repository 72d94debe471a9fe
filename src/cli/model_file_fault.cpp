#include "cli/model_file_fault.h"

#include <signal.h>
#include <unistd.h>

#include <cstring>

#include "gguf/mapping.h"

namespace hearth::cli {
namespace {

void write_text(const char* text) {
  // Best effort: a failed write cannot be reported from here, and the exit follows regardless.
  size_t left = std::strlen(text);
  while (left > 0) {
    const ssize_t written = ::write(STDERR_FILENO, text, left);
    if (written <= 0) return;
    text += written;
    left -= static_cast<size_t>(written);
  }
}

// Only async-signal-safe calls: the registry lookup, write(2), strlen, sigaction, raise, _exit.
void on_bus_error(int signal_number, siginfo_t* info, void*) {
  const char* path = info != nullptr ? gguf::mapped_file_containing(info->si_addr) : nullptr;
  if (path == nullptr) {
    // Not a model file: restore the default action so the process dies of the signal, as it would have.
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    ::sigaction(signal_number, &default_action, nullptr);
    ::raise(signal_number);
    return;
  }
  write_text("hearth: the model file ");
  write_text(path);
  write_text(" changed while in use (truncated or replaced)\n");
  ::_exit(1);
}

}  // namespace

void install_model_file_fault_handler() {
  struct sigaction action {};
  action.sa_sigaction = on_bus_error;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, nullptr);
}

}  // namespace hearth::cli
