// The sampling flags that `hearth run` and `hearth chat` share, registered in one place so that both commands keep
// the same names, defaults and help text.
#pragma once

#include <cstdint>

#include <CLI/CLI.hpp>

#include "hearth/sampling.h"

namespace hearth::cli {

struct SamplingFlags {
  sampling::SamplingParams params;  // the flags write into it; its defaults are the flags' defaults
  uint64_t seed = 0;
  CLI::Option* seed_option = nullptr;  // tells whether -s was given (any value, 0 included, is a valid seed)
};

// Adds --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n (only with `with_repeat_last_n`:
// `hearth run` offers it, `hearth chat` does not) and -s/--seed to `cmd`, bound to `flags`, which must outlive
// the parse.
void add_sampling_flags(CLI::App& cmd, SamplingFlags& flags, bool with_repeat_last_n);

// The sampler's parameters after the parse: without -s the seed stays unset, so that each run draws a fresh one.
sampling::SamplingParams sampling_params(const SamplingFlags& flags);

}  // namespace hearth::cli
