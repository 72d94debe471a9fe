// WordPiece (tokenizer.ggml.model = bert), as converted to GGUF: word-initial pieces carry a leading ▁ and
// continuation pieces are bare (the "##" of the original vocabulary is gone).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace hearth::tokenizer {

// Normalizes `text` like BERT (optional lowercasing and accent stripping; control characters dropped;
// punctuation, ASCII symbols and CJK ideographs made words of their own; split at whitespace), then appends
// each word's greedy longest-match pieces to `out`, or [UNK] for a word that cannot be spelled.
void encode_wordpiece(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out);

}  // namespace hearth::tokenizer
