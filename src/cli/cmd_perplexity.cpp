// `hearth perplexity -m FILE -f TEXT`: perplexity computed as llama.cpp's perplexity tool does, so the numbers
// compare: tokenize the whole text (with BOS), cut it into chunks of n_ctx tokens, make each chunk's first token
// BOS, and score only the predictions in the second half of each chunk (the first half is warm-up context).
// Prints the running value after each chunk and the final value with its standard-error estimate.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "cli/commands.h"
#include "hearth/context.h"
#include "hearth/model.h"

namespace hearth::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string model;
  std::string text_file;
  int32_t n_ctx = 512;
  int32_t n_chunks = -1;
  int32_t n_batch = 2048;
  int32_t n_threads = 0;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// -log p(target) under softmax(logits), in double like llama.cpp.
double negative_log_likelihood(std::span<const float> logits, int32_t target) {
  float max_logit = logits[0];
  for (float l : logits) max_logit = std::max(max_logit, l);
  double sum = 0.0;
  for (float l : logits) sum += std::exp(static_cast<double>(l - max_logit));
  return -(static_cast<double>(logits[target] - max_logit) - std::log(sum));
}

void run(const Options& options) {
  if (options.n_ctx < 4) throw std::invalid_argument("-c must be at least 4");
  const auto start = Clock::now();
  const std::shared_ptr<const Model> model = Model::load(options.model);
  const tokenizer::Tokenizer& tok = model->tokenizer();
  const std::string text = read_file(options.text_file);
  const std::vector<int32_t> tokens = tok.tokenize(text, /*add_special=*/true, /*parse_special=*/false);
  const int32_t n_ctx = options.n_ctx;
  const auto n_tokens = static_cast<int64_t>(tokens.size());
  if (n_tokens < 2 * int64_t{n_ctx}) {
    throw std::invalid_argument(fmt::format("the text has {} tokens; at least 2 * n_ctx = {} are needed", n_tokens,
                                            2 * int64_t{n_ctx}));
  }
  const int64_t available_chunks = n_tokens / n_ctx;
  const int64_t n_chunks = options.n_chunks < 0 ? available_chunks : std::min<int64_t>(options.n_chunks, available_chunks);
  // Several chunks run side by side as separate sequences of one batch.
  const int32_t n_seq = std::max(1, std::min<int32_t>(options.n_batch / n_ctx, static_cast<int32_t>(n_chunks)));
  const int32_t first = n_ctx / 2;
  const int32_t scored_per_chunk = n_ctx - 1 - first;
  const bool add_bos = tok.add_bos() && tok.bos() != tokenizer::kNoToken;

  Context context(model, {.n_ctx = n_ctx * n_seq,
                          .n_batch = n_ctx * n_seq,
                          .n_seq_max = n_seq,
                          .n_outputs_max = scored_per_chunk * n_seq,
                          .n_threads = options.n_threads});
  std::fprintf(stderr, "perplexity: %lld tokens, %lld chunks of %d, %d per batch, %d threads\n",
               static_cast<long long>(n_tokens), static_cast<long long>(n_chunks), n_ctx, n_seq,
               context.options().n_threads);

  const auto eval_start = Clock::now();
  double nll = 0.0;
  double nll2 = 0.0;
  int64_t count = 0;
  Batch batch;
  for (int64_t chunk = 0; chunk < n_chunks; chunk += n_seq) {
    const auto seqs = static_cast<int32_t>(std::min<int64_t>(n_seq, n_chunks - chunk));
    context.clear();
    batch.clear();
    for (int32_t s = 0; s < seqs; ++s) {
      const int64_t begin = (chunk + s) * n_ctx;
      for (int32_t j = 0; j < n_ctx; ++j) {
        const int32_t token = j == 0 && add_bos ? tok.bos() : tokens[begin + j];
        batch.add(token, j, s, j >= first && j < n_ctx - 1);
      }
    }
    context.decode(batch);
    for (int32_t s = 0; s < seqs; ++s) {
      const int64_t begin = (chunk + s) * n_ctx;
      for (int32_t j = first; j < n_ctx - 1; ++j) {
        const double value = negative_log_likelihood(context.logits(static_cast<size_t>(s) * n_ctx + j),
                                                     tokens[begin + j + 1]);
        nll += value;
        nll2 += value * value;
        ++count;
      }
      std::printf("[%lld]%.4f,", static_cast<long long>(chunk + s + 1), std::exp(nll / static_cast<double>(count)));
    }
    std::fflush(stdout);
  }
  std::printf("\n");
  const double eval_seconds = std::chrono::duration<double>(Clock::now() - eval_start).count();

  // The estimate's error: the standard error of the mean log-likelihood, carried through exp().
  const double mean = nll / static_cast<double>(count);
  const double variance = nll2 / static_cast<double>(count) - mean * mean;
  const double ppl = std::exp(mean);
  const double error = variance > 0 && count > 1 ? ppl * std::sqrt(variance / static_cast<double>(count - 1)) : 0.0;
  std::printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, error);
  std::fprintf(stderr, "perplexity: %lld predictions scored in %.2f s (%.1f tokens/s evaluated), %.2f s in all\n",
               static_cast<long long>(count), eval_seconds,
               static_cast<double>(n_chunks * n_ctx) / eval_seconds,
               std::chrono::duration<double>(Clock::now() - start).count());
}

}  // namespace

void register_perplexity(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("perplexity", "Measure a model's perplexity on a text (llama.cpp's method)");
  cmd->add_option("-m,--model", options->model, "GGUF model")->required();
  cmd->add_option("-f,--file", options->text_file, "Text file")->required();
  cmd->add_option("-c,--ctx-size", options->n_ctx, "Tokens per chunk (default 512)");
  cmd->add_option("--chunks", options->n_chunks, "Chunks to evaluate (default: all)");
  cmd->add_option("-b,--batch-size", options->n_batch, "Tokens per forward pass; chunks run side by side (default 2048)");
  cmd->add_option("-t,--threads", options->n_threads, "Threads (default: one per hardware thread)");
  on_run(*cmd, "perplexity", exit_code, [options] {
    run(*options);
  });
}

}  // namespace hearth::cli
