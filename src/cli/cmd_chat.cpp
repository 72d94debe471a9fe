// `hearth chat`: an interactive conversation with a model in the terminal. The prompt is the conversation rendered
// through the model's chat template (or a built-in one); the KV cache is kept across turns. With a terminal on
// stdin it edits lines with libedit; otherwise it reads lines from stdin, so that a script can pipe a chat in.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include <editline/readline.h>
#include <fmt/format.h>

#include "cli/chat_session.h"
#include "cli/chat_template_source.h"
#include "cli/commands.h"
#include "cli/context_size.h"
#include "cli/default_model.h"
#include "cli/input_files.h"
#include "cli/numeric_flags.h"
#include "cli/offload_flags.h"
#include "cli/sampling_flags.h"
#include "hearth/chat.h"
#include "hearth/context.h"
#include "hearth/model.h"

namespace hearth::cli {
namespace {

struct Options {
  std::optional<std::string> model;  // unset: the default model; "" is refused
  int32_t n_ctx = 0;
  int32_t n_threads = 0;
  int32_t n_gpu_layers = 0;
  bool dry_run = false;
  int32_t max_reply_tokens = -1;
  SamplingFlags sampling;
  std::string system;
  std::string template_name;
  std::string template_file;
  bool verbose = false;
};

constexpr std::string_view kHelp =
    "Type a message and press Enter. End a line with \\ to continue it on the next one, or put the message\n"
    "between lines of \"\"\". Ctrl-C stops a reply; Ctrl-D or /exit quits.\n"
    "  /reset        forget the conversation (and the KV cache)\n"
    "  /system TEXT  set the system prompt and start over (/system alone removes it)\n"
    "  /help         this text\n"
    "  /exit         quit\n";

// Set by SIGINT; the generation loop polls it, and a prompt read interrupted by it starts over.
std::atomic<bool> g_interrupted{false};
// Set while a reply is generated. With stdin a pipe, SIGINT outside a reply ends the chat from the handler:
// std::cin retries a read that the signal interrupts, so the main loop would never see the flag.
std::atomic<bool> g_generating{false};
std::atomic<bool> g_piped{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the SIGINT handler reads and stores them");

// The exit code of a chat that SIGINT ends (stdin a pipe), as for an interrupted quantize.
constexpr int kExitInterrupted = 130;
constexpr std::string_view kInterrupted = "(interrupted)\n";

extern "C" void on_sigint(int) {
  g_interrupted.store(true);
  if (g_piped.load() && !g_generating.load()) {
    // Only async-signal-safe calls here; every print of the main loop flushes, so nothing is lost.
    [[maybe_unused]] const ssize_t written = ::write(STDOUT_FILENO, kInterrupted.data(), kInterrupted.size());
    ::_exit(kExitInterrupted);
  }
}

// Ctrl-C interrupts instead of killing the process. No SA_RESTART: a blocked read returns, so that libedit gives
// the line up.
void catch_interrupts(bool piped) {
  g_piped.store(piped);
  struct sigaction action {};
  action.sa_handler = on_sigint;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
}

// Lines from the terminal through libedit, or plain lines from a pipe or file.
class LineReader {
 public:
  explicit LineReader(bool interactive) : interactive_(interactive) {}

  // The next line, without its newline; nullopt at the end of the input. An interactive read that Ctrl-C
  // interrupts returns "" and sets interrupted() (the line typed so far is dropped).
  std::optional<std::string> read(const char* prompt) {
    interrupted_ = false;
    if (!interactive_) {
      std::optional<std::string> line = read_standard_input_line("stdin");
      if (!line) return std::nullopt;
      if (!line->empty() && line->back() == '\r') line->pop_back();
      return line;
    }
    g_interrupted.store(false);
    const std::unique_ptr<char, decltype(&std::free)> line(readline(prompt), &std::free);
    if (line == nullptr) {
      if (!g_interrupted.exchange(false)) return std::nullopt;
      interrupted_ = true;
      std::fputc('\n', stdout);
      return std::string();
    }
    if (*line != '\0') add_history(line.get());
    return std::string(line.get());
  }

  bool interrupted() const { return interrupted_; }

 private:
  bool interactive_;
  bool interrupted_ = false;
};

// One message: a line, lines joined by a trailing backslash, or a block between lines of """. nullopt at the end
// of the input; "" when Ctrl-C abandons the message.
std::optional<std::string> read_message(LineReader& reader, bool interactive) {
  const char* prompt = interactive ? "> " : "";
  const char* continuation = interactive ? "... " : "";
  std::optional<std::string> line = reader.read(prompt);
  if (!line) return std::nullopt;
  if (line->starts_with("\"\"\"")) {
    std::string text = line->substr(3);
    if (text.size() >= 3 && text.ends_with("\"\"\"")) return text.substr(0, text.size() - 3);
    while (true) {
      line = reader.read(continuation);
      if (reader.interrupted()) return std::string();
      if (!line) return text;
      if (line->ends_with("\"\"\"")) return text + "\n" + line->substr(0, line->size() - 3);
      text += "\n" + *line;
    }
  }
  std::string text;
  while (line->ends_with('\\')) {
    text += line->substr(0, line->size() - 1) + "\n";
    line = reader.read(continuation);
    if (reader.interrupted()) return std::string();
    if (!line) return text;
  }
  return text + *line;
}

void print(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

// Returns the exit code: 0, or kExitInterrupted when SIGINT ended a piped chat.
int run(const Options& options) {
  const bool interactive = ::isatty(STDIN_FILENO) != 0;
  // From the start when piped, so that a SIGINT while the model loads ends the chat the same way. On a terminal
  // only once the prompt shows: until then, Ctrl-C should stop the program as usual.
  if (!interactive) catch_interrupts(/*piped=*/true);
  const std::filesystem::path path = model_path(options.model);
  const std::shared_ptr<const Model> model = Model::load(path);
  const ContextOptions context_options{.n_ctx = options.n_ctx, .n_threads = options.n_threads,
                                       .n_gpu_layers = options.n_gpu_layers,
                                       .on_weight_copy = weight_copy_progress("hearth chat")};
  if (options.dry_run) {
    print(describe_plan(plan_context(*model, context_options)));
    return 0;
  }
  Context context(model, context_options);
  warn_if_beyond_trained_context("chat", *model, context.n_ctx());
  chat::Template chat_template(chat_template_source("chat", options.template_name, options.template_file, *model));
  ChatSession session(model, std::move(context), std::move(chat_template), sampling_params(options.sampling),
                      options.max_reply_tokens);
  if (!options.system.empty()) session.set_system(options.system);
  if (options.verbose) {
    std::fprintf(stderr, "hearth chat: %s, context %d tokens, end of turn '%s'\n%s", path.string().c_str(),
                 session.context().n_ctx(), session.end_of_turn().c_str(),
                 describe_plan(session.context().plan()).c_str());
  }

  if (interactive) {
    catch_interrupts(/*piped=*/false);
    print(fmt::format("hearth chat with {}; /help lists the commands.\n", model->info().name));
  }
  LineReader reader(interactive);
  while (std::optional<std::string> message = read_message(reader, interactive)) {
    if (message->find_first_not_of(" \t\n") == std::string::npos) continue;
    if (message->starts_with('/')) {
      const std::string command = message->substr(0, message->find(' '));
      const std::string argument = command.size() < message->size() ? message->substr(command.size() + 1) : "";
      if (command == "/exit" || command == "/quit") break;
      if (command == "/help") {
        print(kHelp);
      } else if (command == "/reset") {
        session.reset();
        print("(the conversation was reset)\n");
      } else if (command == "/system") {
        session.set_system(argument);
        print(argument.empty() ? "(system prompt removed; the conversation was reset)\n"
                               : "(system prompt set; the conversation was reset)\n");
      } else {
        std::fprintf(stderr, "hearth chat: unknown command %s; /help lists the commands\n", command.c_str());
      }
      continue;
    }

    g_interrupted.store(false);
    g_generating.store(true);
    bool reply_interrupted = false;
    try {
      const TurnReport report = session.respond(*message, print, g_interrupted);
      reply_interrupted = report.end == TurnEnd::interrupted;
      print("\n");
      if (report.end == TurnEnd::context_full) {
        std::fprintf(stderr, "hearth chat: the context (%d tokens) is full, so the reply was cut; /reset starts over\n",
                     session.context().n_ctx());
      } else if (reply_interrupted) {
        print(kInterrupted);
      }
      if (options.verbose) {
        std::fprintf(stderr, "%s", fmt::format(
            "hearth chat: prompt {} tokens, reused {}, evaluated {} in {:.1f} ms; reply {} tokens in {:.1f} ms, end: {}\n",
            report.prompt_tokens, report.reused, report.evaluated, report.prompt_seconds * 1e3, report.generated,
            report.reply_seconds * 1e3, turn_end_name(report.end)).c_str());
      }
    } catch (const ConversationTooLong& e) {
      std::fprintf(stderr, "hearth chat: %s\n", e.what());
    } catch (const chat::TemplateError& e) {
      std::fprintf(stderr, "hearth chat: the chat template rejected the conversation: %s\n", e.message().c_str());
    }
    g_generating.store(false);
    // Piped, there is no one to go on with. The flag also catches a SIGINT that came after the reply ended but
    // before g_generating was cleared, which the handler left to this loop.
    if (!interactive && g_interrupted.load()) {
      if (!reply_interrupted) print(kInterrupted);
      return kExitInterrupted;
    }
  }
  if (interactive) print("\n");
  return 0;
}

}  // namespace

void register_chat(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("chat", "Chat with a model in the terminal");
  cmd->add_option("-m,--model", options->model, "GGUF model (default: default.gguf in $HEARTH_MODELS or ~/.cache/hearth/models)");
  add_numeric_flag(*cmd, "-c,--ctx-size", options->n_ctx, "Context size in tokens (default 0: the model's, at most 4096)",
                   NumericRange<int32_t>{.min = 0});
  add_numeric_flag(*cmd, "-t,--threads", options->n_threads, "Threads (default 0: one per hardware thread)",
                   thread_count_range());
  add_gpu_layers_flag(*cmd, options->n_gpu_layers);
  add_dry_run_flag(*cmd, options->dry_run);
  add_numeric_flag(*cmd, "-n,--n-predict", options->max_reply_tokens,
                   "Most tokens per reply (default -1: until the end of the turn or a full context; 0: none)",
                   NumericRange<int32_t>{.min = -1});
  add_sampling_flags(*cmd, options->sampling);
  cmd->add_option("--system", options->system, "System prompt");
  auto* name = cmd->add_option("--template", options->template_name,
                               "Built-in chat template: chatml, llama-3, llama-2, mistral, gemma, phi-3 "
                               "(default: the model's own, else the built-in one for its architecture)");
  auto* file = cmd->add_option("--template-file", options->template_file, "Jinja chat template file");
  name->excludes(file);
  cmd->add_flag("-v,--verbose", options->verbose, "Report each turn's KV cache reuse and timings on stderr");
  on_run(*cmd, "chat", exit_code, [options] { return run(*options); });
}

}  // namespace hearth::cli
