// `hearth tokenize` and `hearth detokenize`: a model's tokenizer on the command line.
//
//   hearth tokenize -m FILE [-p TEXT] [--no-bos] [--special] [--ids | --pieces]
//   hearth detokenize -m FILE [-p IDS] [--special]
//
// Text and ids come from -p or else from stdin, read as is (a final newline is text too).
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/input_files.h"
#include "hearth/gguf.h"
#include "hearth/tokenizer.h"

namespace hearth::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string prompt;
  bool prompt_given = false;
  bool no_bos = false;
  bool special = false;
  bool ids = false;
  bool pieces = false;
};

struct DetokenizeOptions {
  std::string model;
  std::string ids;
  bool ids_given = false;
  bool special = false;
};

std::vector<int32_t> parse_ids(std::string_view text) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  auto is_separator = [](char c) { return c == ',' || c == '[' || c == ']' || std::isspace(static_cast<unsigned char>(c)); };
  while (pos < text.size()) {
    if (is_separator(text[pos])) {
      ++pos;
      continue;
    }
    size_t end = pos;
    while (end < text.size() && !is_separator(text[end])) ++end;
    const std::string word(text.substr(pos, end - pos));
    size_t used = 0;
    long long value = 0;
    try {
      value = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || value < INT32_MIN || value > INT32_MAX) {
      throw std::runtime_error(fmt::format("'{}' is not a token id", printable(word)));
    }
    ids.push_back(static_cast<int32_t>(value));
    pos = end;
  }
  return ids;
}

void run_tokenize(const TokenizeOptions& options) {
  const gguf::File file = gguf::File::open(options.model);
  const auto tokenizer = tokenizer::Tokenizer::from_gguf(file);
  const std::string text = options.prompt_given ? options.prompt : read_standard_input("stdin");
  const std::vector<int32_t> ids = tokenizer.tokenize(text, !options.no_bos, options.special);
  std::string out;
  if (options.ids) {
    for (size_t i = 0; i < ids.size(); ++i) out += fmt::format("{}{}", i == 0 ? "" : " ", ids[i]);
    out += '\n';
  } else {
    for (const int32_t id : ids) out += fmt::format("{:>7} -> '{}'\n", id, printable(tokenizer.token_to_piece(id, true)));
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

void run_detokenize(const DetokenizeOptions& options) {
  const gguf::File file = gguf::File::open(options.model);
  const auto tokenizer = tokenizer::Tokenizer::from_gguf(file);
  const std::vector<int32_t> ids = parse_ids(options.ids_given ? options.ids : read_standard_input("stdin"));
  const std::string text = tokenizer.detokenize(ids, options.special);
  std::fwrite(text.data(), 1, text.size(), stdout);
}

// Runs `body`, turning any failure into one line on stderr and exit code 1.
template <typename Body>
void guarded(const char* command, int& exit_code, Body body) {
  try {
    body();
    exit_code = 0;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "hearth %s: %s\n", command, e.what());
    exit_code = 1;
  }
}

}  // namespace

void register_tokenize(CLI::App& app, int& exit_code) {
  auto tokenize = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Turn text (from -p or stdin) into a model's token ids");
  cmd->add_option("-m,--model", tokenize->model, "GGUF file whose tokenizer to use")->required();
  cmd->add_option("-p,--prompt", tokenize->prompt, "Text to tokenize (default: all of stdin, as is)")
      ->each([tokenize](const std::string&) { tokenize->prompt_given = true; });
  cmd->add_flag("--no-bos", tokenize->no_bos, "Add no BOS/EOS (CLS/SEP) even where the vocabulary asks for them");
  cmd->add_flag("--special", tokenize->special, "Turn special-token text such as <|im_start|> into those tokens");
  auto* ids = cmd->add_flag("--ids", tokenize->ids, "Print only the ids, space-separated on one line");
  auto* pieces = cmd->add_flag("--pieces", tokenize->pieces, "Print one 'id -> piece' line per token (the default)");
  ids->excludes(pieces);
  cmd->callback([tokenize, &exit_code] { guarded("tokenize", exit_code, [&] { run_tokenize(*tokenize); }); });

  auto detokenize = std::make_shared<DetokenizeOptions>();
  CLI::App* back = app.add_subcommand("detokenize", "Turn token ids (from -p or stdin) back into text");
  back->add_option("-m,--model", detokenize->model, "GGUF file whose tokenizer to use")->required();
  back->add_option("-p,--prompt", detokenize->ids, "Ids separated by spaces or commas (default: stdin)")
      ->each([detokenize](const std::string&) { detokenize->ids_given = true; });
  back->add_flag("--special", detokenize->special, "Show special tokens (e.g. <s>) as their text");
  back->callback([detokenize, &exit_code] { guarded("detokenize", exit_code, [&] { run_detokenize(*detokenize); }); });
}

}  // namespace hearth::cli
