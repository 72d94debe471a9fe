#include "tokenizer/special.h"

#include <algorithm>
#include <cstring>

namespace hearth::tokenizer {

namespace {

bool is_c_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

}  // namespace

SpecialTokenMatcher::SpecialTokenMatcher(const Vocab& vocab) {
  for (size_t id = 0; id < vocab.size(); ++id) {
    const TokenType type = vocab.types[id];
    if (type == TokenType::Control || type == TokenType::UserDefined || type == TokenType::Unknown) {
      order_.push_back(static_cast<int32_t>(id));
    }
  }
  // Longest first; among equal lengths, lower ids first.
  std::stable_sort(order_.begin(), order_.end(), [&](int32_t a, int32_t b) {
    return vocab.texts[a].size() > vocab.texts[b].size();
  });
  for (const int32_t id : order_) {
    const auto first = static_cast<unsigned char>(vocab.texts[id][0]);
    all_by_first_byte_[first].push_back(id);
    if (vocab.types[id] == TokenType::UserDefined) user_defined_by_first_byte_[first].push_back(id);
  }
}

std::vector<Fragment> SpecialTokenMatcher::partition(const Vocab& vocab, std::string_view text,
                                                     bool parse_special) const {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;
  fragments.push_back({0, text.size(), kNoToken});

  // One pass finds which candidate tokens occur at all, so that the cutting below (one scan of the text per
  // token, as the reference does) only runs for those.
  const auto& by_first_byte = parse_special ? all_by_first_byte_ : user_defined_by_first_byte_;
  std::vector<int32_t> occurring;
  for (size_t pos = 0; pos < text.size(); ++pos) {
    const auto& candidates = by_first_byte[static_cast<unsigned char>(text[pos])];
    for (const int32_t id : candidates) {
      const std::string& token = vocab.texts[id];
      if (token.size() <= text.size() - pos && std::memcmp(text.data() + pos, token.data(), token.size()) == 0 &&
          std::find(occurring.begin(), occurring.end(), id) == occurring.end()) {
        occurring.push_back(id);
      }
    }
  }
  if (occurring.empty()) return fragments;
  std::sort(occurring.begin(), occurring.end());

  std::vector<Fragment> next;
  for (const int32_t id : order_) {
    if (!std::binary_search(occurring.begin(), occurring.end(), id)) continue;
    const std::string_view token = vocab.texts[id];
    next.clear();
    for (const Fragment& fragment : fragments) {
      if (fragment.token != kNoToken) {
        next.push_back(fragment);
        continue;
      }
      size_t begin = fragment.offset;
      size_t end = fragment.offset + fragment.length;
      while (begin < end) {
        const size_t match = text.substr(0, end).find(token, begin);
        if (match == std::string_view::npos) break;
        size_t left_end = match;
        if (vocab.strip_left[id]) {
          while (left_end > begin && is_c_space(text[left_end - 1])) --left_end;
        }
        if (left_end > begin) next.push_back({begin, left_end - begin, kNoToken});
        next.push_back({match, token.size(), id});
        begin = match + token.size();
        if (vocab.strip_right[id]) {
          while (begin < end && is_c_space(text[begin])) ++begin;
        }
      }
      if (begin < end) next.push_back({begin, end - begin, kNoToken});
    }
    fragments.swap(next);
  }
  return fragments;
}

}  // namespace hearth::tokenizer
