// Byte-level BPE pre-tokenizers: the regexes (PCRE2, Unicode properties, JIT) that cut text into words
// before merging, chosen by tokenizer.ggml.pre. Some models apply several regexes in sequence; each later
// one cuts the pieces of the one before, and text no match covers stays a piece of its own.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::tokenizer {

// What tokenizer.ggml.pre selects besides its regexes.
struct PreTokenizerTraits {
  bool ignore_merges = false;  // a word that is already a token is emitted whole
  bool add_bos = false;        // family default when tokenizer.ggml.add_bos_token is absent
  bool no_bos = false;         // the family has no BOS token unless the file names one
};

class PreTokenizer {
 public:
  // Throws LoadError for a name it does not know.
  static PreTokenizer create(std::string_view name);

  const PreTokenizerTraits& traits() const;

  // Calls `emit(word)` for each word of `text`, in order; the words are views of `text` and tile it.
  // `text` must be valid UTF-8 (see unicode::sanitize).
  void split(std::string_view text, const std::function<void(std::string_view)>& emit) const;

  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;
  ~PreTokenizer();

 private:
  struct Compiled;
  explicit PreTokenizer(std::unique_ptr<Compiled> compiled);
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace hearth::tokenizer
