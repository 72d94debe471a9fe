// Fuzzes the tokenizers. Input starting with "GGUF" is a vocabulary: it loads or raises an error, and a loaded
// one tokenizes and detokenizes sample text. Any other input is text: its first byte picks one of the shared
// vocabularies and the flags, the rest is tokenized and detokenized, and the round trip must hold:
// SentencePiece gives every byte back (spaces swallowed by broken UTF-8 come back as ▁), byte-level BPE gives
// the text back with undecodable bytes replaced, and streaming detokenization equals detokenize().
//
// The shared vocabularies are read from $HEARTH_SHARED/vocab, else ../shared/vocab (from the repository root).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "hearth/gguf.h"
#include "hearth/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

using hearth::tokenizer::Kind;
using hearth::tokenizer::StreamingDetokenizer;
using hearth::tokenizer::Tokenizer;

const std::vector<Tokenizer>& shared_tokenizers() {
  static const std::vector<Tokenizer> tokenizers = [] {
    const char* env = std::getenv("HEARTH_SHARED");
    const std::filesystem::path dir = std::filesystem::path(env != nullptr && *env != '\0' ? env : "../shared") / "vocab";
    std::vector<Tokenizer> out;
    for (const char* name : {"llama-spm", "llama-bpe", "qwen2", "phi-3", "deepseek-llm", "falcon", "bert-bge"}) {
      out.push_back(Tokenizer::from_gguf(hearth::gguf::File::open(dir / (std::string("ggml-vocab-") + name + ".gguf"))));
    }
    return out;
  }();
  return tokenizers;
}

std::string spaces_as_markers(std::string text) {
  for (size_t pos = text.find(' '); pos != std::string::npos; pos = text.find(' ', pos)) text.replace(pos, 1, "\xE2\x96\x81");
  return text;
}

// Whether the byte-level vocabulary has a token for every byte (Falcon lacks some, which it drops).
bool has_every_byte(const Tokenizer& tokenizer) {
  for (int byte = 0; byte < 256; ++byte) {
    const auto spelled = hearth::tokenizer::unicode::byte_to_utf8(static_cast<uint8_t>(byte));
    if (tokenizer.find_token(spelled) == hearth::tokenizer::kNoToken) return false;
  }
  return true;
}

void check(bool condition) {
  if (!condition) __builtin_trap();
}

std::string round_trip(const Tokenizer& tokenizer, std::string_view text, bool add_special, bool parse_special,
                       bool show_special) {
  const std::vector<int32_t> ids = tokenizer.tokenize(text, add_special, parse_special);
  for (const int32_t id : ids) check(id >= 0 && static_cast<size_t>(id) < tokenizer.vocab_size());
  const std::string text_back = tokenizer.detokenize(ids, show_special);
  StreamingDetokenizer stream(tokenizer, show_special);
  std::string streamed;
  for (const int32_t id : ids) streamed += stream.push(id);
  streamed += stream.finish();
  check(streamed == text_back);
  return text_back;
}

void fuzz_vocabulary(std::span<const std::byte> bytes) {
  try {
    const Tokenizer tokenizer = Tokenizer::from_gguf(hearth::gguf::File::from_bytes(bytes));
    for (const char* sample : {"Hello world! 123 <s></s><|endoftext|>", "  \n\t x\xFF\xC3", ""}) {
      round_trip(tokenizer, sample, true, true, true);
      round_trip(tokenizer, sample, false, false, false);
    }
  } catch (const std::runtime_error&) {
    // gguf::FormatError, gguf::KeyError, tokenizer::LoadError: a clear refusal is the expected outcome.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= 4 && std::string_view(reinterpret_cast<const char*>(data), 4) == "GGUF") {
    fuzz_vocabulary(std::as_bytes(std::span(data, size)));
    return 0;
  }
  if (size == 0) return 0;
  const auto& tokenizers = shared_tokenizers();
  const uint8_t selector = data[0];
  const Tokenizer& tokenizer = tokenizers[selector % tokenizers.size()];
  const bool add_special = (selector >> 3) & 1;
  const bool parse_special = (selector >> 4) & 1;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  const std::string back = round_trip(tokenizer, text, add_special, parse_special, (selector >> 5) & 1);
  if (parse_special) return 0;  // special-token text may have become tokens
  if (tokenizer.kind() == Kind::SentencePiece) {
    check(spaces_as_markers(tokenizer.detokenize(tokenizer.tokenize(text, false, false), false)) == spaces_as_markers(std::string(text)));
  } else if (tokenizer.kind() == Kind::BytePair && has_every_byte(tokenizer)) {
    // The text comes back with undecodable bytes replaced.
    std::string sanitized;
    const std::string expected = hearth::tokenizer::unicode::sanitize(text, sanitized) ? sanitized : std::string(text);
    check(tokenizer.detokenize(tokenizer.tokenize(text, false, false), false) == expected);
  }
  return 0;
}
