#include "cli/sampling_flags.h"

namespace hearth::cli {

void add_sampling_flags(CLI::App& cmd, SamplingFlags& flags, bool with_repeat_last_n) {
  cmd.add_option("--temp", flags.params.temperature, "Temperature; 0 picks the most likely token (default 0.8)");
  cmd.add_option("--top-k", flags.params.top_k, "Top-k; 0 turns it off (default 40)");
  cmd.add_option("--top-p", flags.params.top_p, "Top-p; 1 turns it off (default 0.95)");
  cmd.add_option("--min-p", flags.params.min_p, "Min-p; 0 turns it off (default 0.05)");
  cmd.add_option("--repeat-penalty", flags.params.repeat_penalty, "Repetition penalty; 1 turns it off (default 1)");
  if (with_repeat_last_n) {
    cmd.add_option("--repeat-last-n", flags.params.penalty_last_n, "Tokens the penalty looks back at (default 64)");
  }
  flags.seed_option = cmd.add_option("-s,--seed", flags.seed, "Random seed (default: random)");
}

sampling::SamplingParams sampling_params(const SamplingFlags& flags) {
  sampling::SamplingParams params = flags.params;
  if (flags.seed_option->count() > 0) params.seed = flags.seed;
  return params;
}

}  // namespace hearth::cli
