// One conversation with a model for `hearth chat`: the message history, the prompt rendered through the chat
// template, and the KV cache kept across turns (each turn evaluates only the tokens after the longest prefix the
// cache already holds).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "hearth/chat.h"
#include "hearth/context.h"
#include "hearth/model.h"
#include "hearth/sampling.h"

namespace hearth::cli {

// The conversation with the new message no longer fits the context. The message is dropped from the history.
class ConversationTooLong : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class TurnEnd { end_of_turn, max_tokens, context_full, interrupted };
std::string_view turn_end_name(TurnEnd end);

struct TurnReport {
  int32_t prompt_tokens = 0;  // the whole conversation, rendered and tokenized
  int32_t reused = 0;         // of those, already in the KV cache
  int32_t evaluated = 0;      // of those, run through the model this turn
  int32_t generated = 0;      // reply tokens
  double prompt_seconds = 0;
  double reply_seconds = 0;
  TurnEnd end = TurnEnd::end_of_turn;
};

class ChatSession {
 public:
  // max_reply_tokens < 0: until the end of the turn or a full context; 0: no reply tokens (as `run -n 0`).
  ChatSession(std::shared_ptr<const Model> model, Context context, chat::Template chat_template,
              sampling::SamplingParams sampling, int32_t max_reply_tokens);

  // Adds the user's message, evaluates what the cache lacks and streams the reply to `emit` as it is generated.
  // Stops early when `interrupt` becomes true; the partial reply stays in the history. Throws ConversationTooLong,
  // or chat::TemplateError when the template rejects the conversation (the message is dropped in both cases).
  TurnReport respond(std::string_view user_text, const std::function<void(std::string_view)>& emit,
                     const std::atomic<bool>& interrupt);

  // Forgets the history (keeping the system prompt) and empties the KV cache.
  void reset();
  // Sets the system prompt ("" for none) and resets.
  void set_system(std::string system);

  // The text the template puts after an assistant message ("<|im_end|>", "</s>", ...), trimmed; "" if none.
  const std::string& end_of_turn() const { return end_of_turn_; }
  const Context& context() const { return context_; }

 private:
  chat::ChatRequest request(bool add_generation_prompt) const;
  std::vector<int32_t> tokenize_conversation() const;

  std::shared_ptr<const Model> model_;
  Context context_;
  chat::Template template_;
  sampling::Sampler sampler_;
  int32_t max_reply_tokens_;
  std::string system_;
  chat::json history_ = chat::json::array();  // user and assistant messages, without the system prompt
  std::vector<int32_t> cached_;                // the tokens of sequence 0 in the KV cache, by position
  std::string end_of_turn_;
};

}  // namespace hearth::cli
