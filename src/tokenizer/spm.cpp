#include "tokenizer/spm.h"

#include <algorithm>

#include <fmt/format.h>

#include "tokenizer/unicode.h"

namespace hearth::tokenizer {

namespace {

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // ▁

bool ordered_before(float score_a, int32_t left_a, float score_b, int32_t left_b) {
  return score_a > score_b || (score_a == score_b && left_a < left_b);
}

}  // namespace

SentencePieceModel::SentencePieceModel(const Vocab& vocab) {
  for (int byte = 0; byte < 256; ++byte) {
    int32_t id = vocab.find(fmt::format("<0x{:02X}>", byte));
    if (id == kNoToken) id = vocab.find(std::string(1, static_cast<char>(byte)));
    byte_tokens_[byte] = id != kNoToken ? id : vocab.unk;
  }
  words_are_independent_ = std::none_of(vocab.texts.begin(), vocab.texts.end(), [](const std::string& text) {
    // A marker at offset k > 0 must have only markers before it.
    for (size_t k = text.find(kSpaceMarker, 1); k != std::string::npos; k = text.find(kSpaceMarker, k + 1)) {
      if (k % kSpaceMarker.size() != 0) return true;
      for (size_t i = 0; i < k; i += kSpaceMarker.size()) {
        if (text.compare(i, kSpaceMarker.size(), kSpaceMarker) != 0) return true;
      }
    }
    return false;
  });
}

void SentencePieceModel::encode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) const {
  Scratch scratch;
  if (!words_are_independent_) {
    encode_segment(vocab, text, out, scratch);
    return;
  }
  // Cut before each ▁ that follows another character, walking characters exactly as the merging does.
  WordCache cache;
  size_t word_start = 0;
  bool previous_is_marker = false;
  auto flush = [&](size_t end) {
    const std::string_view word = text.substr(word_start, end - word_start);
    if (word.size() <= WordCache::kMaxWordLength && cache.append(word, out)) return;
    const size_t first = out.size();
    encode_segment(vocab, word, out, scratch);
    if (word.size() <= WordCache::kMaxWordLength) cache.remember(word, out, first);
  };
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = std::min(unicode::sequence_length(static_cast<unsigned char>(text[pos])), text.size() - pos);
    const bool is_marker = text.substr(pos, length) == kSpaceMarker;
    if (is_marker && pos > 0 && !previous_is_marker) {
      flush(pos);
      word_start = pos;
    }
    previous_is_marker = is_marker;
    pos += length;
  }
  if (word_start < text.size()) flush(text.size());
}

void SentencePieceModel::try_add_bigram(const Vocab& vocab, std::string_view segment, int32_t left,
                                        Scratch& scratch) const {
  if (left < 0) return;
  const Symbol& left_symbol = scratch.symbols[left];
  if (left_symbol.next < 0) return;
  const Symbol& right_symbol = scratch.symbols[left_symbol.next];
  const uint32_t size = left_symbol.length + right_symbol.length;
  const int32_t token = vocab.find(segment.substr(left_symbol.start, size));
  if (token == kNoToken) return;
  scratch.queue.push_back({vocab.scores[token], left, size});
  std::push_heap(scratch.queue.begin(), scratch.queue.end(), [](const Bigram& a, const Bigram& b) {
    return ordered_before(b.score, b.left, a.score, a.left);
  });
}

void SentencePieceModel::encode_segment(const Vocab& vocab, std::string_view segment, std::vector<int32_t>& out,
                                        Scratch& scratch) const {
  auto& symbols = scratch.symbols;
  auto& queue = scratch.queue;
  symbols.clear();
  queue.clear();
  // One symbol per character, its length judged by the lead byte alone (so broken UTF-8 still tiles the text).
  for (size_t pos = 0; pos < segment.size();) {
    const size_t length =
        std::min(unicode::sequence_length(static_cast<unsigned char>(segment[pos])), segment.size() - pos);
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({static_cast<uint32_t>(pos), static_cast<uint32_t>(length), index - 1,
                       pos + length == segment.size() ? -1 : index + 1});
    pos += length;
  }
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) try_add_bigram(vocab, segment, i, scratch);

  const auto later = [](const Bigram& a, const Bigram& b) { return ordered_before(b.score, b.left, a.score, a.left); };
  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), later);
    const Bigram bigram = queue.back();
    queue.pop_back();
    Symbol& left = symbols[bigram.left];
    if (left.length == 0 || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    if (left.length + right.length != bigram.size) continue;  // one side changed since it was queued

    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bigram.left;
    try_add_bigram(vocab, segment, left.prev, scratch);
    try_add_bigram(vocab, segment, bigram.left, scratch);
  }

  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
    const std::string_view piece = segment.substr(symbols[i].start, symbols[i].length);
    const int32_t token = vocab.find(piece);
    if (token != kNoToken) {
      out.push_back(token);
      continue;
    }
    for (const char byte : piece) {
      const int32_t byte_token = byte_tokens_[static_cast<unsigned char>(byte)];
      if (byte_token != kNoToken) out.push_back(byte_token);
    }
  }
}

}  // namespace hearth::tokenizer
