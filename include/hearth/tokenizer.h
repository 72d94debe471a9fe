// Tokenizers of GGUF models: text to token ids and back, producing exactly the ids the real models use.
//
// Three families, chosen by `tokenizer.ggml.model`:
//   llama -> SentencePiece BPE (scores, byte fallback, ▁ for spaces, a leading space added to the text)
//   gpt2  -> byte-level BPE (ranked merges over a byte alphabet, a regex pre-tokenizer chosen by tokenizer.ggml.pre)
//   bert  -> WordPiece (BERT normalization: lowercase, accent stripping, punctuation and CJK splitting)
//
// Everything read from the file is validated when the tokenizer is built (LoadError names the key and the
// problem); tokenizing never fails on any input bytes, whatever their encoding.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::gguf {
class File;
}

namespace hearth::tokenizer {

// The vocabulary in a GGUF file is missing, malformed or inconsistent.
class LoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A caller passed a token id outside the vocabulary.
class TokenIdError : public std::out_of_range {
 public:
  using std::out_of_range::out_of_range;
};

inline constexpr int32_t kNoToken = -1;

enum class Kind {
  SentencePiece,  // tokenizer.ggml.model = llama
  BytePair,       // tokenizer.ggml.model = gpt2 (byte-level BPE)
  WordPiece,      // tokenizer.ggml.model = bert
};
std::string_view kind_name(Kind kind);

// tokenizer.ggml.token_type values.
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

class Tokenizer {
 public:
  // Builds the tokenizer from a file's tokenizer.* metadata; throws LoadError naming what is wrong.
  static Tokenizer from_gguf(const gguf::File& file);

  // Text to ids. `add_special` adds the BOS/EOS (WordPiece: CLS/SEP) the vocabulary asks for;
  // `parse_special` lets control tokens written in the text (e.g. "<|im_start|>") become those tokens.
  // User-defined tokens of the vocabulary are always matched, as the reference tokenizers do.
  std::vector<int32_t> tokenize(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes a token stands for: spaces restored, byte tokens as their byte. Control and unknown tokens
  // give their text when `show_special`, else nothing. Throws TokenIdError for ids outside the vocabulary.
  std::string token_to_piece(int32_t id, bool show_special) const;

  // Concatenated pieces, minus the space the tokenizer put in front of the text (SentencePiece: one space off
  // the first token after the start or a leading BOS). Exact inverse of tokenize() for valid UTF-8 text without
  // special tokens, for SentencePiece and byte-level BPE (except bytes a vocabulary has no token for, which
  // the reference drops too); WordPiece text comes back normalized. No clean-up of spaces before punctuation.
  std::string detokenize(std::span<const int32_t> ids, bool show_special) const;

  Kind kind() const;
  std::string_view pre_tokenizer() const;  // tokenizer.ggml.pre as given ("default" when absent)
  size_t vocab_size() const;

  // The vocabulary entry as stored in the file (e.g. "▁the", "Ġthe", "<0x0A>"); throws TokenIdError.
  std::string_view token_text(int32_t id) const;
  TokenType token_type(int32_t id) const;
  float token_score(int32_t id) const;
  // The id whose vocabulary entry is exactly `text`, or kNoToken.
  int32_t find_token(std::string_view text) const;

  // Special tokens; kNoToken where the vocabulary has none.
  int32_t bos() const;
  int32_t eos() const;
  int32_t eot() const;
  int32_t eom() const;
  int32_t unk() const;
  int32_t sep() const;
  int32_t pad() const;
  int32_t mask() const;
  int32_t newline() const;  // the token of "\n" on its own
  bool add_bos() const;
  bool add_eos() const;
  bool add_space_prefix() const;
  // True for every token that ends generation (EOS, EOT, EOM and the family's end-of-turn tokens).
  bool is_eog(int32_t id) const;
  // Control or unknown: hidden from text unless show_special.
  bool is_control(int32_t id) const;

 private:
  friend class StreamingDetokenizer;
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;  // immutable once built, so copies and threads share it freely
};

// Turns a stream of ids into text piece by piece, never splitting a UTF-8 character: bytes that start a
// character still missing its continuation bytes are held until they arrive. Concatenating every push() and
// finish() gives exactly detokenize() of the same ids.
class StreamingDetokenizer {
 public:
  // `sequence_start`: the first id pushed begins a tokenized text, so the space the tokenizer added in front
  // of it is removed like detokenize() does; pass false to continue text already shown (e.g. generation).
  explicit StreamingDetokenizer(Tokenizer tokenizer, bool show_special = false, bool sequence_start = true);

  // The text that is complete after this id (possibly empty).
  std::string push(int32_t id);
  // Whatever is still held (an incomplete character at the end of the stream), as is.
  std::string finish();

 private:
  Tokenizer tokenizer_;
  bool show_special_;
  bool at_start_;
  std::string pending_;
};

}  // namespace hearth::tokenizer
