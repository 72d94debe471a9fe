// The Hearth side of the conformance suite: the same questions evaluate.mjs asks llama.cpp, asked of Hearth.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "hearth/context.h"
#include "hearth/model.h"

namespace hearth::conformance {

class HearthRunner {
 public:
  HearthRunner(const std::filesystem::path& model_path, int threads);

  // The prompt as a generating engine feeds it: BOS when the vocabulary asks for it, special-token text not parsed.
  std::vector<int32_t> tokenize(const std::string& prompt) const;
  // `count` tokens of greedy generation (the sampling layer at temperature 0), one decode per token, not stopping
  // at end-of-generation tokens.
  std::vector<int32_t> greedy(std::span<const int32_t> prompt, int count);
  // Logits after the prompt and after each of path[0 .. rows-2], from one batched decode (teacher forcing).
  std::vector<std::vector<float>> forced_logits(std::span<const int32_t> prompt, std::span<const int32_t> path,
                                                int rows);
  const Model& model() const { return *model_; }

 private:
  Context make_context(int tokens, int outputs) const;

  std::shared_ptr<const Model> model_;
  int threads_;
};

}  // namespace hearth::conformance
