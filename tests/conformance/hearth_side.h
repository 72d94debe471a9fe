// The Hearth side of the conformance suite: the same questions evaluate.mjs asks llama.cpp, asked of Hearth.
// Every prompt runs alone in a fresh context, as the peer's do: how llama.cpp cuts a batch of several sequences
// decides which of its kernels (single-token or grouped) each token goes through, so single sequences compare like
// with like. Hearth's results do not depend on the batch (runtime/context_test checks multi-sequence batches
// against single runs).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "conformance/metrics.h"
#include "hearth/context.h"
#include "hearth/model.h"

namespace hearth::conformance {

class HearthRunner {
 public:
  HearthRunner(const std::filesystem::path& model_path, int threads);

  // The prompt as a generating engine feeds it: BOS when the vocabulary asks for it, special-token text not parsed.
  Tokens tokenize(const std::string& prompt) const;
  // Decodes the prompt in one pass, then one token per pass, as generation does: `next(i, logits)` gets the logits
  // after the prompt (i = 0) and after each fed token, and returns the token to feed next; `count` calls.
  void generate(const Tokens& prompt, int count, const std::function<int32_t(int, std::span<const float>)>& next);
  // `count` tokens of greedy generation (the sampling layer at temperature 0), not stopping at end-of-generation
  // tokens.
  Tokens greedy(const Tokens& prompt, int count);
  // The logits after the prompt and after each of path[0 .. rows-2], from one decode of prompt and path (teacher
  // forcing), as the peer's probability pass does.
  std::vector<std::vector<float>> forced_logits(const Tokens& prompt, const Tokens& path, int rows);
  const Model& model() const { return *model_; }

 private:
  Context make_context(size_t tokens, size_t outputs) const;

  std::shared_ptr<const Model> model_;
  int threads_;
};

}  // namespace hearth::conformance
