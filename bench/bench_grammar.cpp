// Per-token cost of grammar-constrained sampling: the time TokenConstraint::allowed() takes for each token of a
// sampled JSON generation (json.gbnf, the 128k-token llama-bpe vocabulary, seeded random logits that favour
// closing brackets so objects end). Cache hits (states seen before) count as they would in a real generation;
// "first visit" counts only the states computed by a trie walk.
//
//   bench_grammar [--tokens N] [--generations N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "hearth/gguf.h"
#include "hearth/grammar.h"
#include "hearth/sampling.h"
#include "hearth/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("cannot read {}", path.string()));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void report(std::string_view what, std::vector<double> micros) {
  if (micros.empty()) return;
  std::sort(micros.begin(), micros.end());
  double sum = 0;
  for (const double m : micros) sum += m;
  const double p99 = micros[std::min(micros.size() - 1, micros.size() * 99 / 100)];
  std::printf("%s", fmt::format("{:<12} {:>6} masks  mean {:>9.1f} us  p50 {:>9.1f} us  p99 {:>9.1f} us  max {:>9.1f} us\n",
                                what, micros.size(), sum / micros.size(), micros[micros.size() / 2], p99,
                                micros.back()).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t tokens = 200;
  std::size_t generations = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--tokens") tokens = std::stoul(argv[i + 1]);
    else if (flag == "--generations") generations = std::stoul(argv[i + 1]);
  }
  const char* env = std::getenv("HEARTH_SHARED");
  const std::filesystem::path shared = env != nullptr && *env != '\0' ? env : HEARTH_SHARED_DIR;
  const auto tokenizer = hearth::tokenizer::Tokenizer::from_gguf(
      hearth::gguf::File::open(shared / "vocab" / "ggml-vocab-llama-bpe.gguf"));
  const auto build_start = Clock::now();
  const auto vocabulary = hearth::grammar::Vocabulary::from_tokenizer(tokenizer);
  const double build_ms = std::chrono::duration<double, std::milli>(Clock::now() - build_start).count();
  const auto grammar = hearth::grammar::Grammar::parse(
      read_file(std::filesystem::path(HEARTH_SOURCE_DIR) / "tools/peer/node_modules/node-llama-cpp/llama/grammars/json.gbnf"));
  std::printf("%s", fmt::format("vocabulary: {} tokens, trie of {} nodes built in {:.1f} ms\n", vocabulary->size(),
                                vocabulary->trie().size(), build_ms).c_str());

  std::vector<double> all;
  std::vector<double> first_visits;
  std::vector<float> logits(vocabulary->size());
  for (std::size_t generation = 0; generation < generations; ++generation) {
    hearth::grammar::TokenConstraint constraint(grammar, vocabulary);
    std::mt19937_64 random(generation + 1);
    std::normal_distribution<float> noise(0.0f, 2.0f);
    std::size_t cached_states = 0;
    for (std::size_t step = 0; step < tokens; ++step) {
      const auto start = Clock::now();
      const hearth::grammar::TokenMask& mask = constraint.allowed();
      const double micros = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
      all.push_back(micros);
      if (constraint.cached_states() > cached_states) first_visits.push_back(micros);
      cached_states = constraint.cached_states();
      // Draw the most likely allowed token of noisy logits that favour closing brackets.
      hearth::grammar::TokenId best = -1;
      float best_logit = 0;
      for (std::size_t id = 0; id < logits.size(); ++id) {
        const auto token = static_cast<hearth::grammar::TokenId>(id);
        if (!hearth::grammar::mask_allows(mask, token)) continue;
        const std::string& piece = vocabulary->piece(token);
        const float logit = noise(random) + (piece.find_first_of("}]\"") != std::string::npos ? 1.0f : 0.0f);
        if (best < 0 || logit > best_logit) best = token, best_logit = logit;
      }
      if (vocabulary->is_end_of_generation(best)) break;
      constraint.accept(best);
    }
  }
  report("all", all);
  report("first visit", first_visits);
  return 0;
}
