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

Context HearthRunner::make_context(size_t tokens, size_t outputs) const {
  ContextOptions options;
  options.n_ctx = static_cast<int32_t>(tokens + 8);
  options.n_batch = static_cast<int32_t>(tokens);
  options.n_seq_max = 1;
  options.n_outputs_max = static_cast<int32_t>(outputs);
  options.n_threads = threads_;
  return Context(model_, options);
}

void HearthRunner::generate(const Tokens& prompt, int count,
                            const std::function<int32_t(int, std::span<const float>)>& next) {
  if (prompt.empty()) throw std::invalid_argument("generation needs a non-empty prompt");
  Context context = make_context(prompt.size() + static_cast<size_t>(count), 1);
  Batch batch;
  for (size_t i = 0; i < prompt.size(); ++i) batch.add(prompt[i], static_cast<int32_t>(i), 0, i + 1 == prompt.size());
  for (int step = 0; step < count; ++step) {
    context.decode(batch);
    const int32_t token = next(step, context.logits(batch.size() - 1));
    batch = Batch();
    batch.add(token, static_cast<int32_t>(prompt.size()) + step, 0, true);
  }
}

Tokens HearthRunner::greedy(const Tokens& prompt, int count) {
  sampling::SamplingParams params;
  params.temperature = 0.0f;  // llama.cpp's greedy: the chain keeps only the highest logit
  params.seed = 0;
  sampling::Sampler sampler(params);
  Tokens generated;
  generate(prompt, count, [&](int, std::span<const float> logits) {
    generated.push_back(sampler.sample(logits));
    return generated.back();
  });
  return generated;
}

std::vector<std::vector<float>> HearthRunner::forced_logits(const Tokens& prompt, const Tokens& path, int rows) {
  if (prompt.empty() || rows < 1 || static_cast<size_t>(rows - 1) > path.size()) {
    throw std::invalid_argument(fmt::format("cannot force {} rows along a path of {}", rows, path.size()));
  }
  const size_t length = prompt.size() + static_cast<size_t>(rows - 1);
  Batch batch;
  for (size_t i = 0; i < length; ++i) {
    batch.add(i < prompt.size() ? prompt[i] : path[i - prompt.size()], static_cast<int32_t>(i), 0,
              i + 1 >= prompt.size());
  }
  Context context = make_context(length, static_cast<size_t>(rows));
  context.decode(batch);
  std::vector<std::vector<float>> logits;
  for (int row = 0; row < rows; ++row) {
    const auto values = context.logits(prompt.size() - 1 + static_cast<size_t>(row));
    logits.emplace_back(values.begin(), values.end());
  }
  return logits;
}

}  // namespace hearth::conformance
