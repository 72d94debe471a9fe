// `hearth run -m FILE -p PROMPT`: prints the prompt (unless --no-display-prompt) and streams its continuation to
// stdout, as llama-cli does, with timings plus memory on stderr. Without -m it runs the default model ($HEARTH_MODELS or ~/.cache/hearth/models).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/context_size.h"
#include "cli/default_model.h"
#include "cli/input_files.h"
#include "cli/numeric_flags.h"
#include "cli/offload_flags.h"
#include "cli/sampling_flags.h"
#include "hearth/context.h"
#include "hearth/grammar.h"
#include "hearth/json_schema.h"
#include "hearth/model.h"
#include "hearth/sampling.h"
#include "hearth/tokenizer.h"

namespace hearth::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::optional<std::string> model;  // unset: the default model; "" is refused
  std::string prompt;
  int32_t n_predict = 128;
  int32_t n_ctx = 0;
  int32_t n_batch = 512;
  int32_t n_threads = 0;
  int32_t n_gpu_layers = 0;
  bool dry_run = false;
  std::string context_overflow = "error";
  std::string cache_type = "f16";
  bool display_prompt = true;
  SamplingFlags sampling;
  std::optional<std::string> grammar;       // GBNF text
  std::optional<std::string> grammar_file;  // or a file of it
  std::optional<std::string> json_schema;       // JSON Schema text
  std::optional<std::string> json_schema_file;  // or a file of it
  std::string json_whitespace = "flexible";
};

// The grammar the output must follow, from whichever of --grammar(-file) and --json-schema(-file) was given.
std::optional<grammar::Grammar> output_grammar(const Options& options) {
  if (options.grammar || options.grammar_file) {
    return grammar::Grammar::parse(options.grammar ? *options.grammar : read_text_file(*options.grammar_file, "grammar file"));
  }
  if (options.json_schema || options.json_schema_file) {
    const std::string schema =
        options.json_schema ? *options.json_schema : read_text_file(*options.json_schema_file, "JSON Schema file");
    return grammar::json_schema_grammar(
        schema, {.whitespace = options.json_whitespace == "compact" ? grammar::JsonWhitespace::compact
                                                                    : grammar::JsonWhitespace::flexible,
                    .rule_prefix = {}});
  }
  return std::nullopt;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double mib(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// Lines after the first indented to line up under the summary's values.
std::string indented(const std::string& lines) {
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    out += lines[i];
    if (lines[i] == '\n' && i + 1 < lines.size()) out += std::string(14, ' ');
  }
  return out;
}

std::string rate(double count, double seconds) {
  return seconds > 0 ? fmt::format("{:.1f} tok/s", count / seconds) : std::string("- tok/s");
}

void run(const Options& options) {
  const ContextOverflow policy = *context_overflow_from_name(options.context_overflow);  // checked by the parser
  // Compiled before the model loads, so that a broken grammar or schema fails the run at once.
  const std::optional<grammar::Grammar> constraint = output_grammar(options);
  const std::filesystem::path path = model_path(options.model);

  const auto load_start = Clock::now();
  const std::shared_ptr<const Model> model = Model::load(path);
  const double load_seconds = seconds_since(load_start);
  const tokenizer::Tokenizer& tok = model->tokenizer();

  const ContextOptions context_options{.n_ctx = options.n_ctx,
                                       .n_batch = options.n_batch,
                                       .n_threads = options.n_threads,
                                       .kv_type = options.cache_type == "f16" ? KvCacheType::f16 : KvCacheType::f32,
                                       .n_gpu_layers = options.n_gpu_layers,
                                       .on_weight_copy = weight_copy_progress("hearth run")};
  if (options.dry_run) {
    std::fputs(describe_plan(plan_context(*model, context_options)).c_str(), stdout);
    return;
  }
  Context context(model, context_options);
  const int32_t n_ctx = context.n_ctx();
  warn_if_beyond_trained_context("run", *model, n_ctx);

  std::vector<int32_t> prompt = tok.tokenize(options.prompt, /*add_special=*/true, /*parse_special=*/false);
  if (prompt.empty()) throw std::invalid_argument("the prompt is empty (and the model adds no BOS token)");
  // -n -1: as many tokens as the context holds after the prompt; when shifting, where the context never fills,
  // n_ctx tokens (a bound, so that -n -1 always ends).
  const bool unbounded = options.n_predict < 0;
  const int32_t max_tokens =
      !unbounded ? options.n_predict
                 : (policy == ContextOverflow::shift ? n_ctx
                                                     : std::max<int32_t>(0, n_ctx - static_cast<int32_t>(prompt.size())));
  const int32_t n_keep = !prompt.empty() && prompt.front() == tok.bos() && tok.add_bos() ? 1 : 0;
  prompt = fit_prompt(std::move(prompt), max_tokens, n_ctx, policy, n_keep);

  sampling::Sampler sampler(sampling_params(options.sampling));
  for (int32_t token : prompt) sampler.accept(token);
  if (constraint) sampler.set_grammar(grammar::TokenConstraint(*constraint, grammar::Vocabulary::from_tokenizer(tok)));
  sampling::GenerationStop stop([&tok](int32_t id) { return tok.is_eog(id); }, {}, static_cast<size_t>(max_tokens));
  // The prompt shown is the tokens the model reads (after any truncation), through the same detokenizer as the
  // continuation so the two join as one text; hidden, the continuation starts the text mid-sequence.
  tokenizer::StreamingDetokenizer detokenizer(tok, /*show_special=*/false, /*sequence_start=*/options.display_prompt);
  if (options.display_prompt) {
    std::string shown;
    for (int32_t token : prompt) shown += detokenizer.push(token);
    std::fwrite(shown.data(), 1, shown.size(), stdout);
    std::fflush(stdout);
  }

  const auto prompt_start = Clock::now();
  Batch batch;
  for (size_t i = 0; i < prompt.size(); ++i) {
    batch.add(prompt[i], static_cast<int32_t>(i), 0, i + 1 == prompt.size());
  }
  context.decode(batch);
  const double prompt_seconds = seconds_since(prompt_start);

  double first_token_seconds = 0;
  const auto generation_start = Clock::now();
  int32_t n_generated = 0;
  int32_t n_shifted = 0;
  size_t logits_index = prompt.size() - 1;
  while (max_tokens > 0) {
    const int32_t token = sampler.sample(context.logits(logits_index));
    sampler.accept(token);
    ++n_generated;
    const auto step = stop.on_token(token, tok.is_eog(token) ? std::string() : detokenizer.push(token));
    std::fwrite(step.text.data(), 1, step.text.size(), stdout);
    std::fflush(stdout);
    if (n_generated == 1) first_token_seconds = seconds_since(prompt_start);
    if (stop.done()) break;
    if (policy == ContextOverflow::shift) n_shifted += make_room(context, 0, n_keep);
    batch.clear();
    batch.add(token, context.seq_pos_max(0) + 1, 0, true);
    context.decode(batch);
    logits_index = 0;
  }
  const std::string rest = detokenizer.finish();
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  const double generation_seconds = seconds_since(generation_start);

  const ModelInfo& info = model->info();
  const MemoryReport memory = context.memory();
  std::fprintf(stderr, "%s", fmt::format(
      "\nmodel:        {} ({}, {:.2f} M parameters), loaded in {:.1f} ms\n"
      "context:      {} tokens, {} threads, KV cache {}{}\n"
      "prompt:       {} tokens in {:.1f} ms ({})\n"
      "first token:  {:.1f} ms after the prompt was submitted\n"
      "generation:   {} tokens in {:.1f} ms ({}), stop: {}\n"
      "memory:       weights {:.1f} MiB mapped{}, KV cache {:.1f} MiB, scratch {:.1f} MiB\n"
      "devices:      {}",
      info.name, info.architecture, static_cast<double>(info.n_params) / 1e6, load_seconds * 1e3, n_ctx,
      context.options().n_threads, options.cache_type,
      n_shifted > 0 ? fmt::format(", {} positions shifted out", n_shifted) : std::string(), prompt.size(),
      prompt_seconds * 1e3, rate(static_cast<double>(prompt.size()), prompt_seconds), first_token_seconds * 1e3,
      n_generated, generation_seconds * 1e3, rate(n_generated, generation_seconds),
      sampling::stop_reason_name(stop.reason()), mib(memory.weights_mapped),
      memory.weights_copied > 0 ? fmt::format(" ({:.1f} MiB copied to the GPU)", mib(memory.weights_copied)) : "",
      mib(memory.kv_cache), mib(memory.scratch), indented(describe_plan(context.plan()))).c_str());
}

}  // namespace

void register_run(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("run", "Generate text from a prompt");
  cmd->add_option("-m,--model", options->model, "GGUF model (default: default.gguf in $HEARTH_MODELS or ~/.cache/hearth/models)");
  cmd->add_option("-p,--prompt", options->prompt, "Prompt text")->required();
  add_numeric_flag(*cmd, "-n,--n-predict", options->n_predict,
                   "Tokens to generate (default 128; 0: none; -1: until the context is full, with shift n_ctx tokens)",
                   NumericRange<int32_t>{.min = -1});
  add_numeric_flag(*cmd, "-c,--ctx-size", options->n_ctx, "Context size in tokens (default 0: the model's, at most 4096)",
                   NumericRange<int32_t>{.min = 0});
  add_numeric_flag(*cmd, "-b,--batch-size", options->n_batch, "Most prompt tokens per forward pass (default 512)",
                   NumericRange<int32_t>{.min = 1});
  add_numeric_flag(*cmd, "-t,--threads", options->n_threads, "Threads (default 0: one per hardware thread)",
                   thread_count_range());
  add_gpu_layers_flag(*cmd, options->n_gpu_layers);
  add_dry_run_flag(*cmd, options->dry_run);
  add_sampling_flags(*cmd, options->sampling);
  cmd->add_option("--context-overflow", options->context_overflow,
                  "When prompt + n-predict exceed the context: error (default), truncate-left or shift")
      ->check(CLI::IsMember({"error", "truncate-left", "shift"}));
  cmd->add_option("--cache-type", options->cache_type, "KV cache precision: f16 (default) or f32")
      ->check(CLI::IsMember({"f16", "f32"}));
  CLI::Option* grammar = cmd->add_option("--grammar", options->grammar,
                                         "Constrain the output to a GBNF grammar (llama.cpp's syntax; start rule 'root')");
  CLI::Option* grammar_file =
      cmd->add_option("--grammar-file", options->grammar_file, "Read the --grammar text from a file")->excludes(grammar);
  CLI::Option* schema = cmd->add_option("--json-schema", options->json_schema,
                                        "Constrain the output to JSON valid under this JSON Schema (docs: include/hearth/json_schema.h)")
                            ->excludes(grammar)
                            ->excludes(grammar_file);
  cmd->add_option("--json-schema-file", options->json_schema_file, "Read the --json-schema text from a file")
      ->excludes(grammar)
      ->excludes(grammar_file)
      ->excludes(schema);
  cmd->add_option("--json-whitespace", options->json_whitespace,
                  "Whitespace in --json-schema output: flexible (default: where JSON allows, bounded) or compact (none)")
      ->check(CLI::IsMember({"flexible", "compact"}));
  cmd->add_flag("!--no-display-prompt", options->display_prompt, "Print only the continuation, not the prompt first");
  on_run(*cmd, "run", exit_code, [options] {
    run(*options);
  });
}

}  // namespace hearth::cli
