// Stop strings over streamed text, and the end-of-generation decision.
#include <algorithm>

#include <fmt/format.h>

#include "hearth/sampling.h"

namespace hearth::sampling {

StopMatcher::StopMatcher(std::vector<std::string> stop_strings) : stop_strings_(std::move(stop_strings)) {
  for (std::size_t i = 0; i < stop_strings_.size(); ++i) {
    if (stop_strings_[i].empty()) throw SamplingError(fmt::format("stop string {} is empty", i));
  }
}

StopMatcher::Result StopMatcher::feed(std::string_view text) {
  Result result;
  if (stopped_) return result;
  pending_ += text;

  // Earliest start wins; among stop strings starting at the same byte, the first listed.
  std::size_t stop_at = std::string::npos;
  for (std::size_t i = 0; i < stop_strings_.size(); ++i) {
    const std::size_t found = pending_.find(stop_strings_[i]);
    if (found < stop_at) {
      stop_at = found;
      result.stop = i;
    }
  }
  if (result.stop) {
    result.text = pending_.substr(0, stop_at);
    result.cut_offset = emitted_ + stop_at;
    emitted_ += stop_at;
    pending_.clear();
    stopped_ = true;
    return result;
  }

  // Hold back the longest tail that a later piece could complete into a stop string.
  std::size_t hold = 0;
  for (const auto& stop : stop_strings_) {
    const std::size_t longest = std::min(stop.size() - 1, pending_.size());
    for (std::size_t length = longest; length > hold; --length) {
      if (std::string_view(pending_).substr(pending_.size() - length) == std::string_view(stop).substr(0, length)) {
        hold = length;
        break;
      }
    }
  }
  const std::size_t release = pending_.size() - hold;
  result.text = pending_.substr(0, release);
  pending_.erase(0, release);
  emitted_ += release;
  return result;
}

std::string StopMatcher::flush() {
  std::string rest = std::move(pending_);
  pending_.clear();
  emitted_ += rest.size();
  return rest;
}

std::string_view stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::none:
      return "none";
    case StopReason::end_of_generation:
      return "end_of_generation";
    case StopReason::stop_string:
      return "stop_string";
    case StopReason::max_tokens:
      return "max_tokens";
  }
  return "unknown";
}

GenerationStop::GenerationStop(std::function<bool(TokenId)> is_end_of_generation,
                               std::vector<std::string> stop_strings, std::size_t max_tokens)
    : is_end_of_generation_(std::move(is_end_of_generation)),
      matcher_(std::move(stop_strings)),
      max_tokens_(max_tokens) {}

GenerationStop::Step GenerationStop::on_token(TokenId token, std::string_view piece) {
  if (done()) return Step{"", reason_};
  ++generated_;
  if (is_end_of_generation_ && is_end_of_generation_(token)) {
    reason_ = StopReason::end_of_generation;
    return Step{matcher_.flush(), reason_};
  }
  StopMatcher::Result fed = matcher_.feed(piece);
  if (fed.stop) {
    reason_ = StopReason::stop_string;
    return Step{std::move(fed.text), reason_};
  }
  if (max_tokens_ != 0 && generated_ >= max_tokens_) {
    reason_ = StopReason::max_tokens;
    return Step{fed.text + matcher_.flush(), reason_};
  }
  return Step{std::move(fed.text), StopReason::none};
}

}  // namespace hearth::sampling
