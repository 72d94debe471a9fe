#include "tokenizer/bpe.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "hearth/gguf.h"
#include "tokenizer/unicode.h"

namespace hearth::tokenizer {

namespace {

// The raw bytes an alphabet spelling stands for; nullopt if it has a character outside the alphabet.
std::optional<std::string> decode_alphabet(std::string_view spelled) {
  std::string raw;
  raw.reserve(spelled.size());
  for (size_t pos = 0; pos < spelled.size();) {
    const unicode::Decoded d = unicode::decode(spelled, pos);
    const int byte = unicode::code_point_to_byte(d.code_point);
    if (byte < 0) return std::nullopt;
    raw.push_back(static_cast<char>(byte));
    pos += d.length;
  }
  return raw;
}

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

bool ranks_before(const int32_t rank_a, const int32_t left_a, const int32_t rank_b, const int32_t left_b) {
  return rank_a < rank_b || (rank_a == rank_b && left_a < left_b);
}

}  // namespace

BytePairModel::BytePairModel(const Vocab& vocab, const gguf::File& file) : n_tokens_(vocab.size()) {
  raw_texts_.resize(vocab.size());
  raw_index_.reserve(vocab.size());
  for (size_t id = 0; id < vocab.size(); ++id) {
    if (auto raw = decode_alphabet(vocab.texts[id])) raw_texts_[id] = std::move(*raw);
  }
  for (size_t id = 0; id < vocab.size(); ++id) {
    if (!raw_texts_[id].empty()) raw_index_.insert(raw_texts_[id], static_cast<int32_t>(id));
  }

  const gguf::Value* merges = file.find("tokenizer.ggml.merges");
  if (merges == nullptr) throw LoadError("tokenizer.ggml.merges is missing: byte-level BPE needs its merges");
  if (!merges->is_array() || merges->element_type() != gguf::ValueType::STRING) {
    throw LoadError("tokenizer.ggml.merges must be an array of string");
  }
  const std::vector<std::string_view> items = merges->strings();
  merges_.reserve(items.size());
  std::string joined_spelling;
  for (size_t rank = 0; rank < items.size(); ++rank) {
    const std::string_view merge = items[rank];
    const size_t space = merge.size() < 2 ? std::string_view::npos : merge.find(' ', 1);
    if (space == std::string_view::npos || space + 1 == merge.size()) {
      throw LoadError(fmt::format("tokenizer.ggml.merges[{}] = '{}' is not two symbols separated by a space", rank,
                                  merge));
    }
    // Usually both sides and the result are tokens, found by their spelling; anything else becomes a symbol of
    // its own, by its raw bytes.
    const std::string_view left_spelling = merge.substr(0, space);
    const std::string_view right_spelling = merge.substr(space + 1);
    joined_spelling.assign(left_spelling).append(right_spelling);
    int32_t left_id = vocab.find(left_spelling);
    int32_t right_id = vocab.find(right_spelling);
    int32_t result = vocab.find(joined_spelling);
    if (left_id == kNoToken || right_id == kNoToken || result == kNoToken) {
      auto left = decode_alphabet(left_spelling);
      auto right = decode_alphabet(right_spelling);
      if (!left || !right) continue;  // spells a byte outside the alphabet: no word can ever contain it
      if (result == kNoToken) result = symbol_for(*left + *right);
      if (left_id == kNoToken) left_id = symbol_for(std::move(*left));
      if (right_id == kNoToken) right_id = symbol_for(std::move(*right));
    }
    merges_.insert(pair_key(left_id, right_id), Merge{static_cast<int32_t>(rank), result});
  }

  for (int byte = 0; byte < 256; ++byte) {
    const std::string raw(1, static_cast<char>(byte));
    int32_t symbol = find_raw(raw);
    if (symbol == kNoToken) {
      const auto it = extra_index_.find(raw);
      if (it != extra_index_.end()) symbol = it->second;
    }
    byte_symbols_[byte] = symbol;
    single_byte_tokens_[byte] = vocab.find(raw);
  }
}

int32_t BytePairModel::symbol_for(std::string&& raw) {
  if (const int32_t token = find_raw(raw); token != kNoToken) return token;
  const auto next_id = static_cast<int32_t>(n_tokens_ + extra_index_.size());
  return extra_index_.emplace(std::move(raw), next_id).first->second;
}

int32_t BytePairModel::find_raw(std::string_view bytes) const {
  const int32_t* id = raw_index_.find(bytes);
  return id == nullptr ? kNoToken : *id;
}

const BytePairModel::Merge* BytePairModel::find_merge(int32_t left, int32_t right) const {
  if (left < 0 || right < 0) return nullptr;
  return merges_.find(pair_key(left, right));
}

void BytePairModel::emit_bytes(std::string_view bytes, std::vector<int32_t>& out) const {
  for (const char byte : bytes) {
    for (const char spelled : unicode::byte_to_utf8(static_cast<uint8_t>(byte))) {
      const int32_t token = single_byte_tokens_[static_cast<unsigned char>(spelled)];
      if (token != kNoToken) out.push_back(token);
    }
  }
}

void BytePairModel::encode(const Vocab& vocab, std::string_view word, std::vector<int32_t>& out,
                           Scratch& scratch) const {
  if (word.empty()) return;
  if (word.size() == 1) {  // one byte: nothing to merge (and its token is the whole word's)
    const int32_t id = byte_symbols_[static_cast<unsigned char>(word[0])];
    if (id >= 0 && static_cast<size_t>(id) < n_tokens_) out.push_back(id);
    else emit_bytes(word, out);
    return;
  }
  if (vocab.ignore_merges) {
    if (const int32_t token = find_raw(word); token != kNoToken) {
      out.push_back(token);
      return;
    }
  }
  auto& symbols = scratch.symbols;
  auto& queue = scratch.queue;
  symbols.clear();
  queue.clear();
  const auto n = static_cast<int32_t>(word.size());
  for (int32_t i = 0; i < n; ++i) {
    symbols.push_back({byte_symbols_[static_cast<unsigned char>(word[i])], i - 1, i + 1 < n ? i + 1 : -1});
  }
  const auto later = [](const Candidate& a, const Candidate& b) { return ranks_before(b.rank, b.left, a.rank, a.left); };
  const auto consider = [&](int32_t left) {
    if (left < 0 || symbols[left].next < 0) return;
    if (const Merge* merge = find_merge(symbols[left].id, symbols[symbols[left].next].id)) {
      queue.push_back({merge->rank, left});
      std::push_heap(queue.begin(), queue.end(), later);
    }
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i);

  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), later);
    const Candidate candidate = queue.back();
    queue.pop_back();
    Symbol& left = symbols[candidate.left];
    if (left.id == kMerged || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    const Merge* merge = find_merge(left.id, right.id);
    if (merge == nullptr || merge->rank != candidate.rank) continue;  // stale: a side merged since

    left.id = merge->result;
    right.id = kMerged;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = candidate.left;
    consider(left.prev);
    consider(candidate.left);
  }

  for (int32_t i = 0; i >= 0; i = symbols[i].next) {
    const int32_t id = symbols[i].id;
    if (id >= 0 && static_cast<size_t>(id) < n_tokens_) {
      out.push_back(id);
    } else {
      const int32_t end = symbols[i].next >= 0 ? symbols[i].next : n;
      emit_bytes(word.substr(static_cast<size_t>(i), static_cast<size_t>(end - i)), out);
    }
  }
}

}  // namespace hearth::tokenizer
