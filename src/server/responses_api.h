// OpenAI's Responses API (POST /v1/responses) over the chat machinery: a request becomes a chat completions body
// (input items to messages, flat function tools to chat tools, text.format to response_format), and the parsed
// reply becomes output items (reasoning, message, function_call), whole or as the API's stream events.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hearth/scheduler.h"
#include "hearth/tool_calls.h"
#include "server/api_error.h"

namespace hearth::server {

// The chat completions body a Responses request stands for. Throws ApiError 400 naming the Responses field
// (input, tools, tool_choice, text.format, previous_response_id: the server keeps no responses).
json chat_body_from_responses(const json& body);

// Renames the chat field an error names to the Responses field it came from (max_tokens -> max_output_tokens, ...).
ApiError responses_error(const ApiError& error);

// The output of one response: the whole object, and the stream events that build it.
class ResponsesOutput {
 public:
  // `request`: the Responses body, echoed where the API echoes it (instructions, tools, temperature, ...).
  ResponsesOutput(std::string id, int64_t created_at, std::string model, const json& request);

  std::vector<json> start();                             // response.created, response.in_progress
  std::vector<json> on_delta(const chat::ReplyDelta& delta);  // calls already named (ids set)
  // Closes the open items and ends with response.completed (or response.incomplete at max_output_tokens).
  std::vector<json> finish(const GenerationResult& result);
  // The whole response: the items closed so far (for a reply not streamed: on_delta of all of it, finish, this).
  json response(const GenerationResult& result) const;

 private:
  enum class Open { none, reasoning, message };
  json event(std::string type, json fields);
  json skeleton(std::string status) const;
  std::vector<json> close_open_item();
  json reasoning_item(const std::string& text, const char* status) const;
  json message_item(const std::string& text, const char* status) const;
  json call_item(const chat::ToolCall& call, const char* status) const;

  std::string id_;
  int64_t created_at_;
  std::string model_;
  json request_;
  uint64_t sequence_ = 0;
  Open open_ = Open::none;
  int output_index_ = -1;  // of the item open now (or last)
  std::string reasoning_;  // text of the open reasoning / message item so far
  std::string message_;
  std::vector<json> items_;  // closed output items, in order
};

}  // namespace hearth::server
