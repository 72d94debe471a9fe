// The vocabulary as read and validated from tokenizer.* metadata: token texts, types, scores, special ids
// and the flags that steer tokenization, with the family defaults applied where the file is silent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/tokenizer.h"
#include "tokenizer/text_map.h"

namespace hearth::gguf {
class File;
}

namespace hearth::tokenizer {

struct Vocab {
  Vocab() = default;
  Vocab(Vocab&&) = default;  // moving keeps the strings `index` views; copying would not
  Vocab& operator=(Vocab&&) = default;
  Vocab(const Vocab&) = delete;
  Vocab& operator=(const Vocab&) = delete;

  Kind kind = Kind::SentencePiece;
  std::string model;          // tokenizer.ggml.model
  std::string pre_tokenizer;  // tokenizer.ggml.pre ("default" when absent)
  // Byte-level BPE only: a whole pre-tokenized word that is itself a token skips the merges (Llama 3 and others).
  bool ignore_merges = false;

  std::vector<std::string> texts;
  std::vector<TokenType> types;
  std::vector<float> scores;
  // Whitespace around a matched special token is dropped on this side (set per model by name, as the
  // reference does: e.g. Phi-3's special tokens swallow the whitespace after them).
  std::vector<uint8_t> strip_left;
  std::vector<uint8_t> strip_right;
  TextMap<int32_t> index;  // text -> id, views into `texts`
  size_t max_token_length = 0;

  int32_t bos = kNoToken, eos = kNoToken, eot = kNoToken, eom = kNoToken, unk = kNoToken, sep = kNoToken,
          pad = kNoToken, mask = kNoToken, fim_pad = kNoToken, fim_rep = kNoToken, fim_sep = kNoToken;
  std::vector<int32_t> eog;  // sorted

  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;
  // WordPiece normalization.
  bool lowercase = true;
  bool strip_accents = true;

  size_t size() const { return texts.size(); }
  bool is_control_like(int32_t id) const {
    return types[id] == TokenType::Control || types[id] == TokenType::Unknown;
  }
  int32_t find(std::string_view text) const {
    const int32_t* id = index.find(text);
    return id == nullptr ? kNoToken : *id;
  }
};

Vocab load_vocab(const gguf::File& file);

// The byte a "<0xXX>" token text stands for, or -1 when the text is not of that form.
int byte_token_value(std::string_view text);

}  // namespace hearth::tokenizer
