#include "conformance/hearth_side.h"

#include <stdexcept>

#include <fmt/format.h>

#include "hearth/sampling.h"

namespace hearth::conformance {

HearthRunner::HearthRunner(const std::filesystem::path& model_path, int threads)
    : model_(Model::load(model_path)), threads_(threads) {}

std::vector<int32_t> HearthRunner::tokenize(const std::string& prompt) const {
  return model_->tokenizer().tokenize(prompt, /*add_special=*/true, /*parse_special=*/false);
}

Context HearthRunner::make_context(int tokens, int outputs) const {
  ContextOptions options;
  options.n_ctx = tokens + 8;
  options.n_outputs_max = outputs;
  options.n_threads = threads_;
  return Context(model_, options);
}

std::vector<int32_t> HearthRunner::greedy(std::span<const int32_t> prompt, int count) {
  if (prompt.empty()) throw std::invalid_argument("greedy generation needs a prompt");
  Context context = make_context(static_cast<int>(prompt.size()) + count, 1);
  sampling::SamplingParams params;
  params.temperature = 0.0f;  // llama.cpp's greedy: the chain keeps only the highest logit
  params.seed = 0;
  sampling::Sampler sampler(params);

  Batch batch;
  for (size_t i = 0; i < prompt.size(); ++i) {
    batch.add(prompt[i], static_cast<int32_t>(i), 0, i + 1 == prompt.size());
  }
  std::vector<int32_t> generated;
  int32_t position = static_cast<int32_t>(prompt.size());
  while (static_cast<int>(generated.size()) < count) {
    context.decode(batch);
    const int32_t token = sampler.sample(context.logits(batch.size() - 1));
    generated.push_back(token);
    batch.clear();
    batch.add(token, position++, 0, true);
  }
  return generated;
}

std::vector<std::vector<float>> HearthRunner::forced_logits(std::span<const int32_t> prompt,
                                                            std::span<const int32_t> path, int rows) {
  if (prompt.empty() || rows < 1 || static_cast<size_t>(rows - 1) > path.size()) {
    throw std::invalid_argument(fmt::format("cannot force {} rows along a path of {}", rows, path.size()));
  }
  const int total = static_cast<int>(prompt.size()) + rows - 1;
  Context context = make_context(total, rows);
  Batch batch;
  const size_t first_row = prompt.size() - 1;
  for (int i = 0; i < total; ++i) {
    const auto index = static_cast<size_t>(i);
    const int32_t token = index < prompt.size() ? prompt[index] : path[index - prompt.size()];
    batch.add(token, i, 0, index >= first_row);
  }
  context.decode(batch);
  std::vector<std::vector<float>> logits;
  for (int row = 0; row < rows; ++row) {
    const auto values = context.logits(first_row + static_cast<size_t>(row));
    logits.emplace_back(values.begin(), values.end());
  }
  return logits;
}

}  // namespace hearth::conformance
