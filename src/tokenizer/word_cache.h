// Memo of the ids of words already tokenized during one call: natural text repeats its words, and a word's
// tokens never depend on its neighbours once the text is cut into words.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/text_map.h"

namespace hearth::tokenizer {

class WordCache {
 public:
  // Appends the cached ids of `word` to `out` and returns true, or returns false when `word` is not cached.
  bool append(std::string_view word, std::vector<int32_t>& out) const {
    const Span* span = spans_.find(word);
    if (span == nullptr) return false;
    out.insert(out.end(), ids_.begin() + span->first, ids_.begin() + span->first + span->count);
    return true;
  }
  // Remembers ids [first, out.end()) of `out` as the tokens of `word` (which must outlive the cache).
  void remember(std::string_view word, const std::vector<int32_t>& out, size_t first) {
    if (spans_.size() >= kMaxWords) return;
    spans_.insert(word, Span{static_cast<uint32_t>(ids_.size()), static_cast<uint32_t>(out.size() - first)});
    ids_.insert(ids_.end(), out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
  }

  // Words longer than this are rare enough not to be worth remembering.
  static constexpr size_t kMaxWordLength = 64;

 private:
  static constexpr size_t kMaxWords = 1 << 20;
  struct Span {
    uint32_t first;  // in ids_
    uint32_t count;
  };
  TextMap<Span> spans_;
  std::vector<int32_t> ids_;
};

}  // namespace hearth::tokenizer
