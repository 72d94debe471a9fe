// The Hearth side of the conformance suite: the same questions evaluate.mjs asks llama.cpp, asked of Hearth.
// Every prompt is its own sequence and all of them go through the same batches, as the peer's do.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "hearth/context.h"
#include "hearth/model.h"

namespace hearth::conformance {

using Tokens = std::vector<int32_t>;

class HearthRunner {
 public:
  HearthRunner(const std::filesystem::path& model_path, int threads);

  // The prompt as a generating engine feeds it: BOS when the vocabulary asks for it, special-token text not parsed.
  Tokens tokenize(const std::string& prompt) const;
  // `count` tokens of greedy generation per prompt (the sampling layer at temperature 0), one decode per step for
  // all prompts together, not stopping at end-of-generation tokens.
  std::vector<Tokens> greedy(const std::vector<Tokens>& prompts, int count);
  // Per prompt: the logits after the prompt and after each of path[0 .. rows-2], from one batched decode of every
  // prompt and path (teacher forcing).
  std::vector<std::vector<std::vector<float>>> forced_logits(const std::vector<Tokens>& prompts,
                                                             const std::vector<Tokens>& paths, int rows);
  const Model& model() const { return *model_; }

 private:
  Context make_context(size_t tokens, size_t sequences, size_t outputs) const;

  std::shared_ptr<const Model> model_;
  int threads_;
};

}  // namespace hearth::conformance
