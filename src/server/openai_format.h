// The JSON of completions and chat completions responses, whole and as stream chunks, in OpenAI's shapes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hearth/scheduler.h"
#include "hearth/tokenizer.h"
#include "hearth/tool_calls.h"
#include "server/api_error.h"
#include "server/request_parsing.h"

namespace hearth::server {

// What every response and chunk of one request repeats.
struct ResponseIdentity {
  Endpoint endpoint = Endpoint::completions;
  std::string id;  // "cmpl-..." or "chatcmpl-..."
  int64_t created = 0;
  std::string model;
};

// Collects the logprobs of generated tokens in the endpoint's shape: chat's content[] entries, or completions'
// parallel tokens / token_logprobs / top_logprobs / text_offset arrays.
class LogprobsBuilder {
 public:
  LogprobsBuilder(Endpoint endpoint, const tokenizer::Tokenizer& tokenizer) : endpoint_(endpoint), tokenizer_(tokenizer) {}
  // Adds one token's entry; `text_offset` is where its text starts in the completion (completions only).
  void add(const GenerationEvent& event, size_t text_offset);
  // The logprobs object of everything added since the last take(), and starts over.
  json take();
  bool empty() const { return entries_ == 0; }

 private:
  std::string piece(int32_t token) const;
  json chat_entry(const TokenLogprob& logprob) const;

  Endpoint endpoint_;
  const tokenizer::Tokenizer& tokenizer_;
  size_t entries_ = 0;
  json content_ = json::array();
  json tokens_ = json::array(), token_logprobs_ = json::array(), top_logprobs_ = json::array(), text_offset_ = json::array();
};

json usage_json(const GenerationResult& result);
std::string finish_reason_text(FinishReason reason);

// A chat reply read as content, reasoning and tool calls (ids already given), as an assistant message or delta:
// content null where there are calls and no text, reasoning_content only when there is some, tool_calls only
// when there are calls (with `first_index` on, and each call's index, in a delta).
json reply_message(const chat::Reply& reply, bool delta, std::size_t first_index = 0);

// The whole (non-streamed) response; `reply`, for chat whose reply was parsed, replaces the plain text message
// (finish_reason "tool_calls" where it has calls).
json full_response(const ResponseIdentity& identity, const std::string& text, const GenerationResult& result,
                   json logprobs, const chat::Reply* reply = nullptr);

// A chat stream chunk carrying `delta` as it is (see reply_message).
json delta_chunk(const ResponseIdentity& identity, json delta, const std::string& finish, json logprobs);

// One stream chunk with a piece of text (and the role, in chat's first chunk), or the last one with its finish
// reason (`finish` not empty).
json stream_chunk(const ResponseIdentity& identity, const std::string& text, bool first, const std::string& finish,
                  json logprobs);
// include_usage's last chunk: no choices, the usage.
json usage_chunk(const ResponseIdentity& identity, const GenerationResult& result);

}  // namespace hearth::server
