#include "cli/offload_flags.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <unistd.h>

#include <cstdio>
#include <vector>

#include "cli/input_files.h"
#include "cli/numeric_flags.h"

namespace hearth::cli {
namespace {

std::string size(uint64_t bytes) {
  const double mib = static_cast<double>(bytes) / (1024.0 * 1024.0);
  return mib >= 1024.0 ? fmt::format("{:.2f} GiB", mib / 1024.0) : fmt::format("{:.1f} MiB", mib);
}

}  // namespace

CLI::Option* add_gpu_layers_flag(CLI::App& cmd, int32_t& n_gpu_layers) {
  CLI::Option* option = cmd.add_option_function<std::string>(
      "--gpu-layers,--n-gpu-layers",
      [&n_gpu_layers](const std::string& text) {
        if (text == "all") {
          n_gpu_layers = kAllGpuLayers;
        } else if (text == "auto") {
          n_gpu_layers = kAutoGpuLayers;
        } else if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
          n_gpu_layers = parse_numeric_flag("--gpu-layers", text, NumericRange<int32_t>{.min = 0});
        } else {
          throw CLI::ValidationError(
              fmt::format("--gpu-layers must be a number of layers, all or auto, not '{}'", printable(text)));
        }
      },
      "Decoder layers to run on the GPU: a count (the last ones, with the output; default 0: CPU only), all, or auto "
      "(as many as its free memory holds)");
  option->type_name("N|all|auto");
  option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  return option;
}

CLI::Option* add_dry_run_flag(CLI::App& cmd, bool& dry_run) {
  return cmd.add_flag("--dry-run", dry_run,
                      "Print which device would run which layers and the memory each would hold, then exit without "
                      "allocating");
}

std::function<void(uint64_t, uint64_t)> weight_copy_progress(std::string command) {
  if (::isatty(STDERR_FILENO) == 0) return {};
  return [command = std::move(command)](uint64_t copied, uint64_t total) {
    std::fprintf(stderr, "\r%s: copying weights to the GPU: %3.0f%% of %s%s", command.c_str(),
                 100.0 * static_cast<double>(copied) / static_cast<double>(total), size(total).c_str(),
                 copied == total ? "\n" : "");
    std::fflush(stderr);
  };
}

std::string plan_devices(const ContextPlan& plan) {
  std::vector<std::string> names;
  for (const DevicePlan& device : plan.devices) names.push_back(device.device.substr(0, device.device.find(' ')));
  return fmt::format("{}", fmt::join(names, "+"));
}

std::string describe_plan(const ContextPlan& plan) {
  std::string text;
  for (const DevicePlan& device : plan.devices) {
    std::vector<std::string> parts;
    if (device.end_layer > device.first_layer) {
      parts.push_back(device.end_layer - device.first_layer == 1
                          ? fmt::format("layer {}", device.first_layer)
                          : fmt::format("layers {}-{}", device.first_layer, device.end_layer - 1));
    }
    if (device.embeddings) parts.emplace_back("embeddings");
    if (device.output) parts.emplace_back("output");
    std::string memory;
    if (device.weights > 0) memory = fmt::format("weights {}, ", size(device.weights));
    memory += fmt::format("KV cache {}, scratch {}", size(device.kv_cache), size(device.scratch));
    if (device.available) memory += fmt::format(" ({} free)", size(*device.available));
    text += fmt::format("{} on {}: {}\n", fmt::join(parts, " + "), device.device, memory);
  }
  return text;
}

}  // namespace hearth::cli
