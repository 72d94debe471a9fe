#include "conformance/hearth_side.h"

#include <stdexcept>

#include <fmt/format.h>

#include "hearth/sampling.h"

namespace hearth::conformance {

HearthRunner::HearthRunner(const std::filesystem::path& model_path, int threads)
    : model_(Model::load(model_path)), threads_(threads) {}

Tokens HearthRunner::tokenize(const std::string& prompt) const {
  return model_->tokenizer().tokenize(prompt, /*add_special=*/true, /*parse_special=*/false);
}

Context HearthRunner::make_context(size_t tokens, size_t sequences, size_t outputs) const {
  ContextOptions options;
  options.n_ctx = static_cast<int32_t>(tokens + 8);
  options.n_batch = static_cast<int32_t>(tokens);
  options.n_seq_max = static_cast<int32_t>(sequences);
  options.n_outputs_max = static_cast<int32_t>(outputs);
  options.n_threads = threads_;
  return Context(model_, options);
}

std::vector<Tokens> HearthRunner::greedy(const std::vector<Tokens>& prompts, int count) {
  size_t total = 0;
  for (const auto& prompt : prompts) {
    if (prompt.empty()) throw std::invalid_argument("greedy generation needs non-empty prompts");
    total += prompt.size() + static_cast<size_t>(count);
  }
  Context context = make_context(total, prompts.size(), prompts.size());
  sampling::SamplingParams params;
  params.temperature = 0.0f;  // llama.cpp's greedy: the chain keeps only the highest logit
  params.seed = 0;
  sampling::Sampler sampler(params);

  // First batch: every prompt whole, logits for each one's last token; then one token per sequence per step.
  Batch batch;
  std::vector<size_t> output_index(prompts.size());
  for (size_t s = 0; s < prompts.size(); ++s) {
    for (size_t i = 0; i < prompts[s].size(); ++i) {
      batch.add(prompts[s][i], static_cast<int32_t>(i), static_cast<int32_t>(s), i + 1 == prompts[s].size());
    }
    output_index[s] = batch.size() - 1;
  }
  std::vector<Tokens> generated(prompts.size());
  for (int step = 0; step < count; ++step) {
    context.decode(batch);
    Batch next;
    for (size_t s = 0; s < prompts.size(); ++s) {
      const int32_t token = sampler.sample(context.logits(output_index[s]));
      generated[s].push_back(token);
      output_index[s] = next.size();
      next.add(token, static_cast<int32_t>(prompts[s].size() + generated[s].size() - 1), static_cast<int32_t>(s),
               true);
    }
    batch = std::move(next);
  }
  return generated;
}

std::vector<std::vector<std::vector<float>>> HearthRunner::forced_logits(const std::vector<Tokens>& prompts,
                                                                         const std::vector<Tokens>& paths, int rows) {
  if (prompts.size() != paths.size() || rows < 1) throw std::invalid_argument("one path per prompt, rows >= 1");
  Batch batch;
  std::vector<size_t> first_output(prompts.size());
  for (size_t s = 0; s < prompts.size(); ++s) {
    const auto& prompt = prompts[s];
    if (prompt.empty() || static_cast<size_t>(rows - 1) > paths[s].size()) {
      throw std::invalid_argument(fmt::format("cannot force {} rows along a path of {}", rows, paths[s].size()));
    }
    const size_t length = prompt.size() + static_cast<size_t>(rows - 1);
    for (size_t i = 0; i < length; ++i) {
      const int32_t token = i < prompt.size() ? prompt[i] : paths[s][i - prompt.size()];
      if (i + 1 == prompt.size()) first_output[s] = batch.size();
      batch.add(token, static_cast<int32_t>(i), static_cast<int32_t>(s), i + 1 >= prompt.size());
    }
  }
  Context context = make_context(batch.size(), prompts.size(), prompts.size() * static_cast<size_t>(rows));
  context.decode(batch);
  std::vector<std::vector<std::vector<float>>> logits(prompts.size());
  for (size_t s = 0; s < prompts.size(); ++s) {
    for (int row = 0; row < rows; ++row) {
      const auto values = context.logits(first_output[s] + static_cast<size_t>(row));
      logits[s].emplace_back(values.begin(), values.end());
    }
  }
  return logits;
}

}  // namespace hearth::conformance
