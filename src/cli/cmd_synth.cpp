// `hearth synth`: writes a model of a real architecture and shape with random weights and a real tokenizer.
#include <chrono>
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/conversion_progress.h"
#include "cli/numeric_flags.h"
#include "model/synth.h"

namespace hearth::cli {
namespace {

struct Options {
  std::string shape;
  std::string vocab;
  std::string type = "F16";
  uint64_t seed = 0;
  std::string output;
  int32_t threads = 0;
  bool quiet = false;
  bool force = false;
};

std::string shape_list() {
  std::string names;
  for (const model::SynthShape& shape : model::synth_shapes()) names += (names.empty() ? "" : ", ") + std::string(shape.name);
  return names;
}

void run(const Options& options) {
  const std::optional<model::FileType> file_type = model::file_type_from_name(options.type);
  if (!file_type) throw std::invalid_argument(fmt::format("unknown file type '{}' (known: {})", options.type, file_type_list()));
  const auto start = std::chrono::steady_clock::now();
  const InterruptGuard interrupt;
  model::SynthOptions synth;
  synth.shape = &model::synth_shape(options.shape);
  synth.vocab = options.vocab;
  synth.file_type = *file_type;
  synth.seed = options.seed;
  synth.output = options.output;
  synth.convert.threads = options.threads > 0 ? options.threads : default_threads();
  synth.convert.cancel = &interrupt.flag();
  synth.convert.replace_existing = options.force;
  if (!options.quiet) synth.convert.on_tensor = print_tensor_progress;
  const model::SynthSummary summary = model::write_synth_model(synth);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "%s: %s %s, vocab %lld, %zu tensors, %s, %.1f s with %d threads\n", options.output.c_str(),
               options.shape.c_str(), std::string(model::file_type_name(*file_type)).c_str(),
               static_cast<long long>(summary.vocab_size), summary.tensors, human_size(summary.bytes).c_str(), seconds,
               synth.convert.threads);
}

}  // namespace

void register_synth(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("synth", "Write a model with random weights: a real shape and tokenizer, for tests and benchmarks");
  cmd->add_option("--shape", options->shape, "Model shape: " + shape_list())->required();
  cmd->add_option("--vocab", options->vocab, "Vocab-only GGUF whose tokenizer.* metadata is copied")->required();
  cmd->add_option("--type", options->type, "File type (default F16): " + file_type_list());
  add_numeric_flag(*cmd, "--seed", options->seed, "Random seed (default 0); the same seed gives the same file",
                   NumericRange<uint64_t>{});
  cmd->add_option("--out", options->output, "GGUF file to write; must not exist unless --force")->required();
  add_numeric_flag(*cmd, "--threads", options->threads, "Worker threads (default 0: all cores)", thread_count_range());
  cmd->add_flag("--force", options->force, "Replace --out if it is an existing regular file");
  cmd->add_flag("--quiet", options->quiet, "No per-tensor progress");
  cmd->callback([options, &exit_code] { exit_code = run_reporting_errors("synth", [&] { run(*options); }); });
}

}  // namespace hearth::cli
