// SentencePiece BPE (tokenizer.ggml.model = llama): adjacent pieces merge, highest-scoring vocabulary entry
// first (leftmost on ties), until no adjacent pair forms a token; characters left without a token fall back
// to their bytes (<0xXX>).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"
#include "tokenizer/word_cache.h"

namespace hearth::tokenizer {

class SentencePieceModel {
 public:
  explicit SentencePieceModel(const Vocab& vocab);

  // Appends the ids of `text` (spaces already replaced by ▁) to `out`.
  void encode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) const;

 private:
  struct Symbol {
    uint32_t start;
    uint32_t length;  // 0 once merged into its left neighbour
    int32_t prev;
    int32_t next;
  };
  struct Bigram {
    float score;
    int32_t left;   // the right symbol is left's next while both live
    uint32_t size;  // bytes of left + right when queued; any change makes the entry stale
  };
  struct Scratch {
    std::vector<Symbol> symbols;
    std::vector<Bigram> queue;
  };

  void encode_segment(const Vocab& vocab, std::string_view segment, std::vector<int32_t>& out, Scratch& scratch) const;
  void try_add_bigram(const Vocab& vocab, std::string_view segment, int32_t left, Scratch& scratch) const;

  std::array<int32_t, 256> byte_tokens_{};
  // Whether no vocabulary entry holds ▁ after another character than ▁: then no token can span the start of
  // a word (a ▁ after something else), and words can be tokenized, and cached, one at a time.
  bool words_are_independent_ = false;
};

}  // namespace hearth::tokenizer
