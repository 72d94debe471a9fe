// Small vocabularies built in memory with gguf::Writer, for tests that need a vocabulary with a particular
// shape (or a particular flaw).
#pragma once

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "hearth/gguf.h"
#include "hearth/tokenizer.h"

namespace hearth::test {

// A SentencePiece vocabulary: <unk>, <s>, </s>, the 256 byte tokens, then `pieces` (normal tokens, scored
// so that earlier pieces win).
inline gguf::Writer spm_vocab(const std::vector<std::string>& pieces) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<int32_t> types = {2, 3, 3};
  for (int byte = 0; byte < 256; ++byte) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", byte);
    tokens.push_back(name);
    scores.push_back(0);
    types.push_back(6);
  }
  for (size_t i = 0; i < pieces.size(); ++i) {
    tokens.push_back(pieces[i]);
    scores.push_back(-static_cast<float>(i));
    types.push_back(1);
  }
  gguf::Writer writer;
  writer.set("general.architecture", gguf::Value("llama"));
  writer.set("tokenizer.ggml.model", gguf::Value("llama"));
  writer.set("tokenizer.ggml.tokens", gguf::Value::array_of(tokens));
  writer.set("tokenizer.ggml.scores", gguf::Value::array_of(scores));
  writer.set("tokenizer.ggml.token_type", gguf::Value::array_of(types));
  return writer;
}

// A byte-level BPE vocabulary: the 256 tokens of the byte alphabet (id = byte), then the result of each of
// `merges` (alphabet spelling, e.g. "Ġ t") unless `merge_results_are_tokens` is false, then <|endoftext|>.
inline gguf::Writer bpe_vocab(const std::vector<std::string>& merges, const std::string& pre = "gpt-2",
                              bool merge_results_are_tokens = true) {
  std::vector<std::string> tokens;
  auto spell = [](int byte) {
    const bool itself = (byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE);
    int cp = byte;
    if (!itself) {
      int n = 0;
      for (int b = 0; b < byte; ++b) {
        if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE))) ++n;
      }
      cp = 256 + n;
    }
    std::string utf8;
    if (cp < 0x80) {
      utf8 += static_cast<char>(cp);
    } else {
      utf8 += static_cast<char>(0xC0 | (cp >> 6));
      utf8 += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return utf8;
  };
  for (int byte = 0; byte < 256; ++byte) tokens.push_back(spell(byte));
  for (const auto& merge : merges) {
    const size_t space = merge.find(' ', 1);
    if (!merge_results_are_tokens || space == std::string::npos) continue;
    const std::string result = merge.substr(0, space) + merge.substr(space + 1);
    if (std::find(tokens.begin(), tokens.end(), result) == tokens.end()) tokens.push_back(result);
  }
  tokens.push_back("<|endoftext|>");
  std::vector<int32_t> types(tokens.size(), 1);
  types.back() = 3;
  gguf::Writer writer;
  writer.set("general.architecture", gguf::Value("gpt2"));
  writer.set("tokenizer.ggml.model", gguf::Value("gpt2"));
  writer.set("tokenizer.ggml.pre", gguf::Value(pre));
  writer.set("tokenizer.ggml.tokens", gguf::Value::array_of(tokens));
  writer.set("tokenizer.ggml.token_type", gguf::Value::array_of(types));
  writer.set("tokenizer.ggml.merges", gguf::Value::array_of(merges));
  writer.set("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(tokens.size() - 1));
  writer.set("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(tokens.size() - 1));
  return writer;
}

inline tokenizer::Tokenizer build(const gguf::Writer& writer) {
  const auto bytes = writer.to_bytes();
  return tokenizer::Tokenizer::from_gguf(gguf::File::from_bytes(bytes));
}

}  // namespace hearth::test
