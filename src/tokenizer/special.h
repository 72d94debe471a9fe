// Cutting text at special tokens before the family's tokenizer sees it.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace hearth::tokenizer {

// A run of text [offset, offset + length) to tokenize, or a special token (token != kNoToken).
struct Fragment {
  size_t offset = 0;
  size_t length = 0;
  int32_t token = kNoToken;
};

class SpecialTokenMatcher {
 public:
  explicit SpecialTokenMatcher(const Vocab& vocab);

  // Cuts `text` where special tokens occur: user-defined tokens always, control and unknown tokens only
  // with `parse_special`. Like the reference, longer tokens are cut out first (everywhere), then shorter
  // ones in what remains; a token's strip flags drop the whitespace beside it.
  std::vector<Fragment> partition(const Vocab& vocab, std::string_view text, bool parse_special) const;

 private:
  std::vector<int32_t> order_;  // control, user-defined and unknown tokens, longest first
  // For each first byte, the tokens of order_ that start with it (user-defined ones, and all of them).
  std::array<std::vector<int32_t>, 256> user_defined_by_first_byte_;
  std::array<std::vector<int32_t>, 256> all_by_first_byte_;
};

}  // namespace hearth::tokenizer
