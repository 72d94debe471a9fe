// `hearth perplexity -m FILE -f TEXT`: perplexity computed as llama.cpp's perplexity tool does, so the numbers
// compare: tokenize the whole text (with BOS), cut it into chunks of n_ctx tokens, make each chunk's first token
// BOS, and score only the predictions in the second half of each chunk (the first half is warm-up context).
// Prints the running value after each chunk and the final value with its standard-error estimate.
//
// With --kl-divergence-base FILE it also saves every scored position's log-probabilities there (llama.cpp's
// format, cli/kl_divergence.h); with --kl-divergence added it instead evaluates that file's tokens and compares
// the model against the saved log-probabilities, printing llama.cpp's KL-divergence statistics.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/context_size.h"
#include "cli/input_files.h"
#include "cli/kl_divergence.h"
#include "cli/numeric_flags.h"
#include "cli/offload_flags.h"
#include "hearth/context.h"
#include "hearth/model.h"

namespace hearth::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string model;
  std::string text_file;
  int32_t n_ctx = 512;
  bool n_ctx_given = false;  // the KLD mode takes the base's n_ctx unless -c is given
  int32_t n_chunks = -1;  // -1: all (--chunks itself takes 1 and up)
  int32_t n_batch = 2048;
  int32_t n_threads = 0;
  int32_t n_gpu_layers = 0;
  std::string kld_base;  // --kl-divergence-base: written, or read with --kl-divergence
  bool kld = false;
};

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// -log p(target) under softmax(logits), in double like llama.cpp.
double negative_log_likelihood(std::span<const float> logits, int32_t target) {
  float max_logit = logits[0];
  for (float l : logits) max_logit = std::max(max_logit, l);
  double sum = 0.0;
  for (float l : logits) sum += std::exp(static_cast<double>(l - max_logit));
  return -(static_cast<double>(logits[target] - max_logit) - std::log(sum));
}

// The logits at a position of the chunk just evaluated (first_scored .. n_ctx-2).
using ChunkLogits = std::function<std::span<const float>(int32_t position)>;

// Evaluates chunks [0, n_chunks) of `tokens`, each with its first token made BOS when the vocabulary adds one,
// several side by side as separate sequences of one batch, and hands each chunk's logits to `on_chunk` in order.
// Both modes score through here, so a base and its comparison see the same batches.
void evaluate_chunks(const std::shared_ptr<const Model>& model, std::span<const int32_t> tokens, int32_t n_ctx,
                     int64_t n_chunks, const Options& options,
                     const std::function<void(int64_t chunk, const ChunkLogits& logits)>& on_chunk) {
  const tokenizer::Tokenizer& tok = model->tokenizer();
  const int32_t n_seq = std::max(1, std::min<int32_t>(options.n_batch / n_ctx, static_cast<int32_t>(n_chunks)));
  const int32_t first = kld::first_scored(n_ctx);
  const bool add_bos = tok.add_bos() && tok.bos() != tokenizer::kNoToken;

  Context context(model, {.n_ctx = n_ctx * n_seq,
                          .n_batch = n_ctx * n_seq,
                          .n_seq_max = n_seq,
                          .n_outputs_max = kld::scored_per_chunk(n_ctx) * n_seq,
                          .n_threads = options.n_threads,
                          .n_gpu_layers = options.n_gpu_layers});
  std::fprintf(stderr, "perplexity: %lld tokens, %lld chunks of %d, %d per batch, %d threads\n",
               static_cast<long long>(tokens.size()), static_cast<long long>(n_chunks), n_ctx, n_seq,
               context.options().n_threads);

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
      on_chunk(chunk + s, [&context, s, n_ctx](int32_t position) {
        return context.logits(static_cast<size_t>(s) * n_ctx + position);
      });
    }
  }
}

// The base file's size up front (it is large: n_vocab words per scored position), refused when the disk lacks it.
void announce_base_file(const std::filesystem::path& path, const kld::BaseHeader& header) {
  const uint64_t bytes = kld::base_file_size(header);
  std::fprintf(stderr, "perplexity: saving the KL-divergence base to %s: %.1f MiB (%d chunks x %d positions x %lld bytes)\n",
               path.string().c_str(), static_cast<double>(bytes) / (1024.0 * 1024.0), header.n_chunk,
               kld::scored_per_chunk(header.n_ctx),
               static_cast<long long>(kld::record_words(header.n_vocab) * 2));
  std::error_code error;
  const auto space = std::filesystem::space(std::filesystem::absolute(path).parent_path(), error);
  if (!error && space.available < bytes) {
    throw std::runtime_error(fmt::format("the KL-divergence base needs {:.1f} MiB but {} has only {:.1f} MiB free",
                                         static_cast<double>(bytes) / (1024.0 * 1024.0),
                                         std::filesystem::absolute(path).parent_path().string(),
                                         static_cast<double>(space.available) / (1024.0 * 1024.0)));
  }
}

void run_perplexity(const Options& options) {
  if (options.text_file.empty()) throw std::invalid_argument("-f TEXT is required (unless --kl-divergence)");
  const auto start = Clock::now();
  const std::shared_ptr<const Model> model = Model::load(options.model);
  warn_if_beyond_trained_context("perplexity", *model, options.n_ctx);
  const std::string text = read_text_file(options.text_file, "text file");
  const std::vector<int32_t> tokens = model->tokenizer().tokenize(text, /*add_special=*/true, /*parse_special=*/false);
  const int32_t n_ctx = options.n_ctx;
  const auto n_tokens = static_cast<int64_t>(tokens.size());
  if (n_tokens < 2 * int64_t{n_ctx}) {
    throw std::invalid_argument(fmt::format("the text has {} tokens; at least 2 * n_ctx = {} are needed", n_tokens,
                                            2 * int64_t{n_ctx}));
  }
  const int64_t available_chunks = n_tokens / n_ctx;
  const int64_t n_chunks = options.n_chunks < 0 ? available_chunks : std::min<int64_t>(options.n_chunks, available_chunks);

  std::unique_ptr<kld::BaseFileWriter> base;
  std::vector<uint16_t> records;
  const auto n_vocab = static_cast<int32_t>(model->info().n_vocab);
  const auto words = static_cast<size_t>(kld::record_words(n_vocab));
  if (!options.kld_base.empty()) {
    const kld::BaseHeader header{n_ctx, n_vocab, static_cast<int32_t>(n_chunks)};
    announce_base_file(options.kld_base, header);
    base = std::make_unique<kld::BaseFileWriter>(
        options.kld_base, header, std::span(tokens).first(static_cast<size_t>(n_chunks) * n_ctx));
    records.resize(static_cast<size_t>(kld::scored_per_chunk(n_ctx)) * words);
  }

  const auto eval_start = Clock::now();
  double nll = 0.0;
  double nll2 = 0.0;
  int64_t count = 0;
  const int32_t first = kld::first_scored(n_ctx);
  evaluate_chunks(model, tokens, n_ctx, n_chunks, options, [&](int64_t chunk, const ChunkLogits& logits) {
    const int64_t begin = chunk * n_ctx;
    for (int32_t j = first; j < n_ctx - 1; ++j) {
      const double value = negative_log_likelihood(logits(j), tokens[begin + j + 1]);
      nll += value;
      nll2 += value * value;
      ++count;
      if (base) kld::encode_record(logits(j), std::span(records).subspan((j - first) * words, words));
    }
    if (base) base->write_chunk(records);
    std::printf("[%lld]%.4f,", static_cast<long long>(chunk + 1), std::exp(nll / static_cast<double>(count)));
    std::fflush(stdout);
  });
  std::printf("\n");
  if (base) base->commit();
  const double eval_seconds = seconds_since(eval_start);

  // The estimate's error: the standard error of the mean log-likelihood, carried through exp().
  const double mean = nll / static_cast<double>(count);
  const double variance = nll2 / static_cast<double>(count) - mean * mean;
  const double ppl = std::exp(mean);
  const double error = variance > 0 && count > 1 ? ppl * std::sqrt(variance / static_cast<double>(count - 1)) : 0.0;
  std::printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, error);
  std::fprintf(stderr, "perplexity: %lld predictions scored in %.2f s (%.1f tokens/s evaluated), %.2f s in all\n",
               static_cast<long long>(count), eval_seconds,
               static_cast<double>(n_chunks * n_ctx) / eval_seconds, seconds_since(start));
}

// --kl-divergence: the base file's tokens through this model, compared position by position with its records.
void run_kl_divergence(const Options& options) {
  const auto start = Clock::now();
  kld::BaseFileReader base = kld::BaseFileReader::open(options.kld_base);
  const kld::BaseHeader& header = base.header();
  const std::shared_ptr<const Model> model = Model::load(options.model);
  if (header.n_vocab != model->info().n_vocab) {
    throw std::invalid_argument(fmt::format("{} was made with a vocabulary of {} tokens; this model's has {}",
                                            base.name(), header.n_vocab, model->info().n_vocab));
  }
  if (options.n_ctx_given && options.n_ctx != header.n_ctx) {
    throw std::invalid_argument(fmt::format("{} was made with -c {}, not {} (leave -c out to take the base's)",
                                            base.name(), header.n_ctx, options.n_ctx));
  }
  if (options.n_chunks > header.n_chunk) {
    throw std::invalid_argument(
        fmt::format("--chunks {}: {} holds only {} chunks", options.n_chunks, base.name(), header.n_chunk));
  }
  const std::vector<int32_t>& tokens = base.tokens();
  if (!options.text_file.empty()) {
    const std::vector<int32_t> text_tokens =
        model->tokenizer().tokenize(read_text_file(options.text_file, "text file"), /*add_special=*/true, /*parse_special=*/false);
    const auto mismatch = std::mismatch(tokens.begin(), tokens.end(), text_tokens.begin(), text_tokens.end());
    if (mismatch.first != tokens.end()) {
      throw std::invalid_argument(fmt::format(
          "{} is not the text of {}: its tokens differ from the base's at token {} of {}", options.text_file,
          base.name(), mismatch.first - tokens.begin(), tokens.size()));
    }
  }
  const int32_t n_ctx = header.n_ctx;
  const int64_t n_chunks = options.n_chunks < 0 ? header.n_chunk : options.n_chunks;
  const int32_t first = kld::first_scored(n_ctx);
  const auto words = static_cast<size_t>(kld::record_words(header.n_vocab));

  kld::Statistics statistics;
  std::vector<uint16_t> records;
  std::printf("%s", kld::Statistics::progress_header().c_str());
  const auto eval_start = Clock::now();
  evaluate_chunks(model, tokens, n_ctx, n_chunks, options, [&](int64_t chunk, const ChunkLogits& logits) {
    base.read_chunk(records);
    const int64_t begin = chunk * n_ctx;
    for (int32_t j = first; j < n_ctx - 1; ++j) {
      const kld::RecordView record{std::span(records).subspan((j - first) * words, words), header.n_vocab};
      statistics.add(kld::compare_position(logits(j), record, tokens[begin + j + 1]));
    }
    std::printf("%s", statistics.progress_line(chunk + 1).c_str());
    std::fflush(stdout);
  });
  std::printf("\n%s", statistics.report().c_str());
  std::fprintf(stderr, "perplexity: %zu positions compared in %.2f s, %.2f s in all\n", statistics.count(),
               seconds_since(eval_start), seconds_since(start));
}

}  // namespace

void register_perplexity(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("perplexity", "Measure a model's perplexity on a text (llama.cpp's method)");
  cmd->add_option("-m,--model", options->model, "GGUF model")->required();
  cmd->add_option("-f,--file", options->text_file,
                  "Text file (required, except with --kl-divergence where it only checks the base's text)");
  // A chunk scores its second half and needs at least one scored prediction: 4 tokens at the least.
  CLI::Option* ctx = add_numeric_flag(*cmd, "-c,--ctx-size", options->n_ctx,
                                      "Tokens per chunk (default 512; with --kl-divergence, the base's)",
                                      NumericRange<int32_t>{.min = 4});
  add_numeric_flag(*cmd, "--chunks", options->n_chunks, "Chunks to evaluate (default: all)",
                   NumericRange<int32_t>{.min = 1});
  add_numeric_flag(*cmd, "-b,--batch-size", options->n_batch,
                   "Tokens per forward pass; chunks run side by side (default 2048)", NumericRange<int32_t>{.min = 1});
  add_numeric_flag(*cmd, "-t,--threads", options->n_threads, "Threads (default 0: one per hardware thread)",
                   thread_count_range());
  add_gpu_layers_flag(*cmd, options->n_gpu_layers);
  cmd->add_option("--kl-divergence-base", options->kld_base,
                  "Save every scored position's log-probabilities to FILE (llama.cpp's format); with "
                  "--kl-divergence, the base to compare against");
  cmd->add_flag("--kl-divergence", options->kld,
                "Compare the model with the --kl-divergence-base file on its tokens: KL divergence, PPL ratio, "
                "token probabilities (llama.cpp's statistics)");
  on_run(*cmd, "perplexity", exit_code, [options, ctx] {
    options->n_ctx_given = ctx->count() > 0;
    if (!options->kld) {
      run_perplexity(*options);
    } else if (options->kld_base.empty()) {
      throw std::invalid_argument("--kl-divergence needs --kl-divergence-base FILE, the base to compare against");
    } else {
      run_kl_divergence(*options);
    }
  });
}

}  // namespace hearth::cli
