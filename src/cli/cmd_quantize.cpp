// `hearth quantize IN OUT TYPE`: rewrites a GGUF model with the per-tensor type mix of a file type.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/conversion_progress.h"
#include "cli/numeric_flags.h"
#include "model/quantize.h"

namespace hearth::cli {
namespace {

struct Options {
  std::string input;
  std::string output;
  std::string type;
  int32_t threads = 0;
  bool force = false;
};

void run(const Options& options) {
  const std::optional<model::FileType> file_type = model::file_type_from_name(options.type);
  if (!file_type) throw std::invalid_argument(fmt::format("unknown file type '{}' (known: {})", options.type, file_type_list()));
  const auto start = std::chrono::steady_clock::now();
  const InterruptGuard interrupt;
  model::ConvertOptions convert;
  convert.threads = options.threads > 0 ? options.threads : default_threads();
  convert.cancel = &interrupt.flag();
  convert.replace_existing = options.force;
  bool warned = false;
  convert.on_tensor = [&](size_t index, size_t count, const std::string& name, TensorType from, TensorType to) {
    if (from != to && type_traits(from).quantized && !warned) {
      std::fprintf(stderr, "warning: %s is already %s; requantizing loses quality (start from F16/BF16/F32 if you can)\n",
                   name.c_str(), std::string(type_name(from)).c_str());
      warned = true;
    }
    print_tensor_progress(index, count, name, from, to);
  };
  const model::QuantizeSummary summary = model::quantize_file(options.input, options.output, *file_type, convert);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "%s: %s -> %s (%s), %zu tensors converted, %.1f s with %d threads\n", options.output.c_str(),
               human_size(summary.input_bytes).c_str(), human_size(summary.output_bytes).c_str(),
               std::string(model::file_type_name(*file_type)).c_str(), summary.converted, seconds, convert.threads);
}

}  // namespace

void register_quantize(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("quantize", "Rewrite a GGUF model in another file type (F16, Q8_0, Q4_K_M, ...)");
  cmd->add_option("input", options->input, "GGUF model to read")->required();
  cmd->add_option("output", options->output, "GGUF file to write (as OUTPUT.hearth-partial-PID, renamed when complete); must not exist unless --force")->required();
  cmd->add_option("type", options->type, "File type: " + file_type_list())->required();
  add_numeric_flag(*cmd, "--threads", options->threads, "Worker threads (default 0: all cores)", thread_count_range());
  cmd->add_flag("--force", options->force, "Replace OUTPUT if it is an existing regular file");
  cmd->callback([options, &exit_code] { exit_code = run_reporting_errors("quantize", [&] { run(*options); }); });
}

}  // namespace hearth::cli
