#include "cli/sampling_flags.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "cli/numeric_flags.h"

namespace hearth::cli {

void add_sampling_flags(CLI::App& cmd, SamplingFlags& flags) {
  constexpr NumericRange<float> non_negative{.min = 0.0f};
  constexpr NumericRange<float> probability{.min = 0.0f, .max = 1.0f};
  constexpr NumericRange<float> any_finite{};
  sampling::SamplingParams& params = flags.params;
  add_numeric_flag(cmd, "--temp", params.temperature, "Temperature; 0 picks the most likely token (default 0.8)",
                   non_negative);
  add_numeric_flag(cmd, "--top-k", params.top_k, "Top-k; 0 turns it off (default 40)", NumericRange<int32_t>{.min = 0});
  add_numeric_flag(cmd, "--top-p", params.top_p, "Top-p; 1 turns it off (default 0.95)", probability);
  add_numeric_flag(cmd, "--min-p", params.min_p, "Min-p; 0 turns it off (default 0.05)", probability);
  add_numeric_flag(cmd, "--typical-p", params.typical_p, "Locally typical sampling; 1 turns it off (default 1)",
                   probability);
  // The penalty divides positive logits, so 0 would divide by zero and a negative one would reward repeats.
  add_numeric_flag(cmd, "--repeat-penalty", params.repeat_penalty, "Repetition penalty; 1 turns it off (default 1)",
                   NumericRange<float>{.min = 0.0f, .above_min = true});
  add_numeric_flag(cmd, "--repeat-last-n", params.penalty_last_n,
                   "Tokens the penalties look back at; 0 turns them off, -1 looks at all (default 64)",
                   NumericRange<int32_t>{.min = -1});
  add_numeric_flag(cmd, "--frequency-penalty", params.frequency_penalty,
                   "Subtracted per earlier occurrence in the window; 0 turns it off (default 0)", any_finite);
  add_numeric_flag(cmd, "--presence-penalty", params.presence_penalty,
                   "Subtracted once from tokens in the window; 0 turns it off (default 0)", any_finite);
  cmd.add_option("--logit-bias", flags.logit_bias,
                 "Adds BIAS to a token's logit: TOKEN+BIAS or TOKEN-BIAS, TOKEN-inf bans it (repeatable)")
      ->each([](const std::string& text) { parse_logit_bias(text); });  // malformed: a usage error at parse time
  flags.seed_option = add_numeric_flag(cmd, "-s,--seed", flags.seed, "Random seed (default: random)",
                                       NumericRange<uint64_t>{});
}

std::pair<sampling::TokenId, float> parse_logit_bias(const std::string& text) {
  auto invalid = [&text] {
    return CLI::ValidationError("'" + text + "' is not TOKEN+BIAS, TOKEN-BIAS or TOKEN-inf");  // CLI11 adds the name
  };
  const size_t sign = text.find_first_of("+-", 1);
  if (sign == std::string::npos) throw invalid();
  sampling::TokenId token = 0;
  const char* end = text.data() + sign;
  if (const auto [ptr, error] = std::from_chars(text.data(), end, token); error != std::errc{} || ptr != end) {
    throw invalid();
  }
  if (token < 0) throw invalid();
  const std::string amount = text.substr(sign + 1);
  if (amount == "inf") {
    return {token, text[sign] == '-' ? -std::numeric_limits<float>::infinity()
                                     : std::numeric_limits<float>::infinity()};
  }
  float bias = 0.0f;
  const char* amount_end = amount.data() + amount.size();
  if (const auto [ptr, error] = std::from_chars(amount.data(), amount_end, bias);
      amount.empty() || error != std::errc{} || ptr != amount_end || !std::isfinite(bias)) {
    throw invalid();
  }
  return {token, text[sign] == '-' ? -bias : bias};
}

sampling::SamplingParams sampling_params(const SamplingFlags& flags) {
  sampling::SamplingParams params = flags.params;
  if (flags.seed_option->count() > 0) params.seed = flags.seed;
  for (const std::string& text : flags.logit_bias) {
    const auto [token, bias] = parse_logit_bias(text);
    params.logit_bias[token] += bias;
  }
  return params;
}

}  // namespace hearth::cli
