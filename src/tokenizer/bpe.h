// Byte-level BPE (tokenizer.ggml.model = gpt2): each word of the pre-tokenizer starts as one symbol per byte
// and adjacent symbols merge by tokenizer.ggml.merges, lowest rank first (leftmost on ties).
//
// The vocabulary and merges spell bytes in GPT-2's printable byte alphabet ("Ġ" for a space); this model
// translates them back to raw bytes once at load, so words are merged as the bytes they are.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/text_map.h"
#include "tokenizer/vocab.h"

namespace hearth::gguf {
class File;
}

namespace hearth::tokenizer {

class BytePairModel {
 public:
  BytePairModel(const BytePairModel&) = delete;  // raw_index_ views raw_texts_
  BytePairModel& operator=(const BytePairModel&) = delete;
  BytePairModel(BytePairModel&&) = default;

  // Reads and validates tokenizer.ggml.merges.
  BytePairModel(const Vocab& vocab, const gguf::File& file);

  struct Symbol {
    int32_t id;  // symbol id; kNoSymbol for a byte no merge knows, kMerged once merged into its left neighbour
    int32_t prev;
    int32_t next;  // symbol i covers bytes [i, next) of the word (the word's end for the last)
  };
  struct Candidate {
    int32_t rank;  // a rank names one pair, so a queued pair is still current iff its rank still matches
    int32_t left;
  };
  // Working memory reused across the words of one call.
  struct Scratch {
    std::vector<Symbol> symbols;
    std::vector<Candidate> queue;
  };

  // Appends the ids of one pre-tokenized word (raw bytes) to `out`.
  void encode(const Vocab& vocab, std::string_view word, std::vector<int32_t>& out, Scratch& scratch) const;

  // The token whose alphabet spelling decodes to exactly these raw bytes, or kNoToken.
  int32_t find_raw(std::string_view bytes) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t result;  // symbol id
  };
  static constexpr int32_t kNoSymbol = -1;
  static constexpr int32_t kMerged = -2;

  int32_t symbol_for(std::string&& raw);
  const Merge* find_merge(int32_t left, int32_t right) const;
  void emit_bytes(std::string_view bytes, std::vector<int32_t>& out) const;

  size_t n_tokens_ = 0;
  // Symbols are the tokens (ids below n_tokens_) plus strings that only merges mention, in raw bytes.
  std::unordered_map<std::string, int32_t> extra_index_;
  std::vector<std::string> raw_texts_;  // raw bytes of every token its spelling decodes; "" otherwise
  TextMap<int32_t> raw_index_;          // raw bytes -> token id
  std::array<int32_t, 256> byte_symbols_{};
  // For a symbol with no token: the tokens spelled as one byte of its alphabet spelling (the reference's
  // fallback, which in practice keeps printable ASCII and drops the rest).
  std::array<int32_t, 256> single_byte_tokens_{};
  U64Map<Merge> merges_;  // (left symbol, right symbol) -> merge
};

}  // namespace hearth::tokenizer
