// GPU offload on the command line, the same for every command that makes a context: `--gpu-layers N|all|auto`
// (ContextOptions::n_gpu_layers) and the report of which device runs which layers with what memory, printed by
// `--dry-run` instead of loading and by the commands as they start.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "hearth/context.h"

namespace hearth::cli {

// Adds --gpu-layers (alias --n-gpu-layers) to `cmd`: a count of layers (0, the default: CPU only), `all` or
// `auto`, written to `n_gpu_layers` as ContextOptions takes it. A malformed value is a usage error.
CLI::Option* add_gpu_layers_flag(CLI::App& cmd, int32_t& n_gpu_layers);

// Adds --dry-run: print the plan (describe_plan) and exit without allocating anything.
CLI::Option* add_dry_run_flag(CLI::App& cmd, bool& dry_run);

// ContextOptions::on_weight_copy for a command: a progress line on stderr when it is a terminal, nothing otherwise.
std::function<void(uint64_t, uint64_t)> weight_copy_progress(std::string command);

// The devices of a plan, short, in layer order: "cpu", "cuda:0", "cpu+cuda:0".
std::string plan_devices(const ContextPlan& plan);

// One line per device: "layers 0-13 + embeddings on cpu: KV cache 224.0 MiB, scratch 20.1 MiB (21.3 GiB free)".
std::string describe_plan(const ContextPlan& plan);

}  // namespace hearth::cli
