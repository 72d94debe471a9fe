// The sampling flags that `hearth run` and `hearth chat` share, registered in one place so that both commands keep
// the same names, defaults and help text. Names follow llama.cpp's CLI where it has the same option.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "hearth/sampling.h"

namespace hearth::cli {

struct SamplingFlags {
  sampling::SamplingParams params;  // the flags write into it; its defaults are the flags' defaults
  uint64_t seed = 0;
  CLI::Option* seed_option = nullptr;  // tells whether -s was given (any value, 0 included, is a valid seed)
  std::vector<std::string> logit_bias;  // "TOKEN+BIAS" / "TOKEN-BIAS" / "TOKEN-inf", as given
};

// Adds --temp, --top-k, --top-p, --min-p, --typical-p, --repeat-penalty, --repeat-last-n, --frequency-penalty,
// --presence-penalty, --logit-bias and -s/--seed to `cmd`, bound to `flags`, which must outlive the parse.
void add_sampling_flags(CLI::App& cmd, SamplingFlags& flags);

// The sampler's parameters after the parse: without -s the seed stays unset, so that each run draws a fresh one.
// (A malformed --logit-bias was refused by the parse.)
sampling::SamplingParams sampling_params(const SamplingFlags& flags);

// One --logit-bias value: the token id and the bias (llama.cpp's form, e.g. "15043+1", "15043-0.5", "2-inf");
// a CLI::ValidationError otherwise.
std::pair<sampling::TokenId, float> parse_logit_bias(const std::string& text);

}  // namespace hearth::cli
