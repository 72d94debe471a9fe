// `hearth template`: render a chat template for a conversation and print the prompt exactly as the model would
// see it. The template comes from a file, from a GGUF model's tokenizer.chat_template (or the built-in fallback
// for its architecture when it has none), or from the built-in set by name.
#include <charconv>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/input_files.h"
#include "hearth/chat.h"
#include "hearth/gguf.h"

namespace hearth::cli {
namespace {

struct Options {
  std::string template_file;
  std::string model_file;
  std::string builtin;
  std::string messages_file;
  std::string tools_file;
  std::string context_file;
  bool add_generation_prompt = false;
  std::optional<std::string> bos;
  std::optional<std::string> eos;
};

// The first integer literal in JSON text `text` outside the int64 range, if any. Templates see such an integer
// as a double (nlohmann parses one beyond 64 bits as a double, the template engine's integers are int64), which
// renders as 1.2345678901234568e+29 where Python's json module keeps every digit and Jinja prints them all; the
// prompt would differ from the reference, so it is refused instead. `text` must be valid JSON: outside strings,
// every '-' or digit starts a number.
std::optional<std::string_view> integer_beyond_int64(std::string_view text) {
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      continue;
    }
    if (c != '-' && !is_digit(c)) continue;
    size_t end = i + 1;
    while (end < text.size() && is_digit(text[end])) ++end;
    const bool integral = end == text.size() || (text[end] != '.' && text[end] != 'e' && text[end] != 'E');
    if (integral) {
      const std::string_view literal = text.substr(i, end - i);
      const char* last = literal.data() + literal.size();
      int64_t value = 0;
      if (std::from_chars(literal.data(), last, value).ec != std::errc{}) return literal;
    }
    while (end < text.size() && (is_digit(text[end]) || std::string_view(".eE+-").find(text[end]) != std::string_view::npos)) {
      ++end;
    }
    i = end - 1;
  }
  return std::nullopt;
}

chat::json read_json(const std::string& path, std::string_view what) {
  const std::string text = read_text_file(path, fmt::format("{} file", what));
  chat::json value;
  try {
    value = chat::json::parse(text);
  } catch (const chat::json::exception& e) {
    // e.what() starts "[json.exception.out_of_range.406] " (1e999 overflows a double): the id says nothing to
    // the user, the rest does.
    const std::string message = e.what();
    const size_t id_end = message.starts_with("[json.exception.") ? message.find("] ") : std::string::npos;
    throw std::runtime_error(fmt::format("{} file '{}' is not valid JSON: {}", what, printable(path),
                                         id_end == std::string::npos ? message : message.substr(id_end + 2)));
  }
  if (const auto literal = integer_beyond_int64(text)) {
    throw std::runtime_error(fmt::format("{} file '{}' holds the integer {}, outside the 64-bit signed range that "
                                         "templates render exactly", what, printable(path), printable(*literal)));
  }
  return value;
}

// The text of token `id_key` (e.g. tokenizer.ggml.bos_token_id) in the model's vocabulary, or "" if unset.
std::string special_token(const gguf::File& file, std::string_view id_key) {
  const gguf::Value* id = file.find(id_key);
  const gguf::Value* tokens = file.find("tokenizer.ggml.tokens");
  if (id == nullptr || tokens == nullptr || !id->is_integer()) return "";
  const int64_t index = id->as_int();
  if (index < 0 || static_cast<uint64_t>(index) >= tokens->size()) {
    throw std::runtime_error(fmt::format("{} is {}, outside the vocabulary of {} tokens", id_key, index, tokens->size()));
  }
  return std::string(tokens->item(static_cast<size_t>(index)).string());
}

void run(const Options& options) {
  chat::ChatRequest request;
  std::string source;
  if (!options.template_file.empty()) {
    source = read_text_file(options.template_file, "template file");
  } else if (!options.builtin.empty()) {
    source = std::string(chat::builtin_template(options.builtin));
  } else {
    const gguf::File file = gguf::File::open(options.model_file);
    if (file.contains("tokenizer.chat_template")) {
      source = std::string(file.get<std::string_view>("tokenizer.chat_template"));  // its error names the key
    } else {
      const std::string architecture = file.get_or<std::string>("general.architecture", "");
      const bool bpe = file.get_or<std::string>("tokenizer.ggml.model", "") == "gpt2";
      const std::string_view fallback = chat::fallback_template_name(architecture, bpe);
      std::fprintf(stderr, "hearth template: the model has no chat template; using the built-in '%.*s' template\n",
                   static_cast<int>(fallback.size()), fallback.data());
      source = std::string(chat::builtin_template(fallback));
    }
    request.bos_token = special_token(file, "tokenizer.ggml.bos_token_id");
    request.eos_token = special_token(file, "tokenizer.ggml.eos_token_id");
  }
  if (options.bos) request.bos_token = *options.bos;
  if (options.eos) request.eos_token = *options.eos;

  // The messages file holds the message array, or an object with "messages" (and optionally "tools").
  chat::json messages = read_json(options.messages_file, "messages");
  if (messages.is_object()) {
    if (!messages.contains("messages")) {
      throw std::runtime_error("the messages file must hold a JSON array of messages or an object with \"messages\"");
    }
    request.messages = std::move(messages["messages"]);
    if (messages.contains("tools")) request.tools = std::move(messages["tools"]);
  } else {
    request.messages = std::move(messages);
  }
  if (!options.tools_file.empty()) request.tools = read_json(options.tools_file, "tools");
  if (!options.context_file.empty()) request.extra_context = read_json(options.context_file, "context");
  request.add_generation_prompt = options.add_generation_prompt;

  const chat::Template chat_template(source);
  const std::string prompt = chat::apply_chat_template(chat_template, request);
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

void register_template(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("template", "Render a chat template for a conversation and print the prompt");
  auto* file = cmd->add_option("--file", options->template_file, "Jinja chat template file");
  auto* model = cmd->add_option("-m,--model", options->model_file,
                                "GGUF model: its tokenizer.chat_template, or the fallback for its architecture");
  auto* builtin = cmd->add_option("--builtin", options->builtin,
                                  "Built-in template: chatml, llama-3, llama-2, mistral, gemma, phi-3");
  file->excludes(model, builtin);
  model->excludes(builtin);
  cmd->add_option("--messages", options->messages_file,
                  "JSON file: an array of messages, or an object with \"messages\" (and \"tools\")")
      ->required();
  cmd->add_option("--tools", options->tools_file, "JSON file: the array of tool definitions");
  cmd->add_option("--context", options->context_file, "JSON file: an object of extra template variables");
  cmd->add_flag("--add-generation-prompt", options->add_generation_prompt,
                "End with the prompt that starts the assistant's reply");
  cmd->add_option("--bos", options->bos, "BOS token text (default: the model's, or empty)");
  cmd->add_option("--eos", options->eos, "EOS token text (default: the model's, or empty)");
  on_run(*cmd, "template", exit_code, [options] {
    if (options->template_file.empty() && options->model_file.empty() && options->builtin.empty()) {
      throw std::runtime_error("give the template with --file, -m/--model or --builtin");
    }
    run(*options);
  });
}

}  // namespace hearth::cli
