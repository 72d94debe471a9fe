// What happens when a prompt and its generation do not fit the context: refuse, truncate the prompt's start, or
// shift the cache during generation. Never a silent truncation.
#include <fmt/format.h>

#include <stdexcept>

#include "hearth/context.h"

namespace hearth {

std::string_view context_overflow_name(ContextOverflow policy) {
  switch (policy) {
    case ContextOverflow::error: return "error";
    case ContextOverflow::truncate_left: return "truncate-left";
    case ContextOverflow::shift: return "shift";
  }
  return "?";
}

std::optional<ContextOverflow> context_overflow_from_name(std::string_view name) {
  for (ContextOverflow policy : {ContextOverflow::error, ContextOverflow::truncate_left, ContextOverflow::shift}) {
    if (name == context_overflow_name(policy)) return policy;
  }
  return std::nullopt;
}

std::vector<int32_t> fit_prompt(std::vector<int32_t> prompt, int32_t max_tokens, int32_t n_ctx, ContextOverflow policy,
                                int32_t n_keep) {
  if (prompt.empty()) throw std::invalid_argument("the prompt has no tokens");
  if (max_tokens < 0) throw std::invalid_argument(fmt::format("max_tokens is {}, expected 0 or more", max_tokens));
  if (n_keep < 0) throw std::invalid_argument(fmt::format("n_keep is {}, expected 0 or more", n_keep));
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  const int64_t needed = n_prompt + max_tokens;
  switch (policy) {
    case ContextOverflow::error:
      if (needed > n_ctx) {
        throw ContextFullError(fmt::format(
            "the prompt ({} tokens) plus max_tokens ({}) needs {} tokens of context, but the context holds {}; "
            "use a larger context, fewer tokens, or --context-overflow=truncate-left|shift",
            n_prompt, max_tokens, needed, n_ctx));
      }
      return prompt;
    case ContextOverflow::truncate_left: {
      if (needed <= n_ctx) return prompt;
      const int64_t room = int64_t{n_ctx} - max_tokens - n_keep;
      if (room < 1 || n_keep >= n_prompt) {
        throw ContextFullError(fmt::format(
            "cannot truncate the prompt ({} tokens, keeping the first {}) so that it plus max_tokens ({}) fits the "
            "context of {} tokens",
            n_prompt, n_keep, max_tokens, n_ctx));
      }
      // Keep the first n_keep tokens (e.g. BOS) and the most recent `room` tokens.
      std::vector<int32_t> kept(prompt.begin(), prompt.begin() + n_keep);
      kept.insert(kept.end(), prompt.end() - room, prompt.end());
      return kept;
    }
    case ContextOverflow::shift:
      if (n_prompt > n_ctx) {
        throw ContextFullError(fmt::format(
            "the prompt ({} tokens) does not fit the context of {} tokens (shift only makes room during generation; "
            "use --context-overflow=truncate-left or a larger context)",
            n_prompt, n_ctx));
      }
      if (int64_t{n_keep} + 2 > n_ctx) {
        throw ContextFullError(
            fmt::format("keeping {} tokens leaves nothing to shift in a context of {} tokens", n_keep, n_ctx));
      }
      return prompt;
  }
  return prompt;
}

int32_t make_room(Context& context, int32_t seq_id, int32_t n_keep) {
  if (context.n_cells_used() < context.n_ctx()) return 0;
  const int32_t n_past = context.seq_pos_max(seq_id) + 1;
  const int32_t n_discard = (n_past - n_keep) / 2;
  if (n_discard <= 0) {
    throw ContextFullError(fmt::format("the context of {} tokens is full and sequence {} has nothing to discard "
                                       "after its first {} tokens",
                                       context.n_ctx(), seq_id, n_keep));
  }
  context.remove(seq_id, n_keep, n_keep + n_discard);
  context.shift(seq_id, n_keep + n_discard, -1, -n_discard);
  return n_discard;
}

}  // namespace hearth
