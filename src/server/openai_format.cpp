#include "server/openai_format.h"

namespace hearth::server {
namespace {

const char* object_name(Endpoint endpoint, bool chunk) {
  if (endpoint == Endpoint::completions) return "text_completion";
  return chunk ? "chat.completion.chunk" : "chat.completion";
}

json header(const ResponseIdentity& identity, bool chunk) {
  return {{"id", identity.id},
          {"object", object_name(identity.endpoint, chunk)},
          {"created", identity.created},
          {"model", identity.model},
          {"system_fingerprint", "hearth"}};
}

json bytes_of(const std::string& text) {
  json bytes = json::array();
  for (const char c : text) bytes.push_back(static_cast<uint8_t>(c));
  return bytes;
}

}  // namespace

std::string LogprobsBuilder::piece(int32_t token) const { return tokenizer_.token_to_piece(token, /*show_special=*/true); }

json LogprobsBuilder::chat_entry(const TokenLogprob& logprob) const {
  const std::string text = piece(logprob.token);
  return {{"token", text}, {"logprob", logprob.logprob}, {"bytes", bytes_of(text)}};
}

void LogprobsBuilder::add(const GenerationEvent& event, size_t text_offset) {
  if (!event.logprob) return;
  ++entries_;
  if (endpoint_ == Endpoint::chat_completions) {
    json entry = chat_entry(*event.logprob);
    json top = json::array();
    for (const TokenLogprob& alternative : event.top) top.push_back(chat_entry(alternative));
    entry["top_logprobs"] = std::move(top);
    content_.push_back(std::move(entry));
    return;
  }
  tokens_.push_back(piece(event.logprob->token));
  token_logprobs_.push_back(event.logprob->logprob);
  json top = json::object();
  for (const TokenLogprob& alternative : event.top) top[piece(alternative.token)] = alternative.logprob;
  top_logprobs_.push_back(std::move(top));
  text_offset_.push_back(text_offset);
}

json LogprobsBuilder::take() {
  json result;
  if (endpoint_ == Endpoint::chat_completions) {
    result = {{"content", std::move(content_)}, {"refusal", nullptr}};
    content_ = json::array();
  } else {
    result = {{"tokens", std::move(tokens_)},
              {"token_logprobs", std::move(token_logprobs_)},
              {"top_logprobs", std::move(top_logprobs_)},
              {"text_offset", std::move(text_offset_)}};
    tokens_ = json::array(), token_logprobs_ = json::array(), top_logprobs_ = json::array(), text_offset_ = json::array();
  }
  entries_ = 0;
  return result;
}

json usage_json(const GenerationResult& result) {
  return {{"prompt_tokens", result.prompt_tokens},
          {"completion_tokens", result.generated_tokens},
          {"total_tokens", result.prompt_tokens + result.generated_tokens},
          {"prompt_tokens_details", {{"cached_tokens", result.cached_tokens}}}};
}

std::string finish_reason_text(FinishReason reason) {
  return reason == FinishReason::length ? "length" : "stop";
}

json reply_message(const chat::Reply& reply, bool delta, std::size_t first_index) {
  json message = json::object();
  if (!delta) message["role"] = "assistant";
  if (!delta || !reply.content.empty()) {
    message["content"] = reply.content.empty() && !reply.calls.empty() ? json(nullptr) : json(reply.content);
  }
  if (!reply.reasoning.empty()) message["reasoning_content"] = reply.reasoning;
  if (!reply.calls.empty()) {
    json calls = json::array();
    for (std::size_t i = 0; i < reply.calls.size(); ++i) {
      const chat::ToolCall& call = reply.calls[i];
      json entry = json::object();
      if (delta) entry["index"] = first_index + i;
      entry["id"] = call.id;
      entry["type"] = "function";
      entry["function"] = {{"name", call.name}, {"arguments", call.arguments}};
      calls.push_back(std::move(entry));
    }
    message["tool_calls"] = std::move(calls);
  }
  return message;
}

json full_response(const ResponseIdentity& identity, const std::string& text, const GenerationResult& result,
                   json logprobs, const chat::Reply* reply) {
  json response = header(identity, /*chunk=*/false);
  json choice = {{"index", 0}};
  if (identity.endpoint == Endpoint::chat_completions) {
    choice["message"] = reply != nullptr ? reply_message(*reply, false) : json{{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
  }
  choice["logprobs"] = std::move(logprobs);
  choice["finish_reason"] = reply != nullptr && !reply->calls.empty() ? "tool_calls" : finish_reason_text(result.reason);
  response["choices"] = json::array({std::move(choice)});
  response["usage"] = usage_json(result);
  // As llama.cpp's server reports them: where a request's time went, for clients measuring the server's overhead.
  response["timings"] = {{"queue_ms", result.queue_ms},
                         {"time_to_first_token_ms", result.time_to_first_token_ms},
                         {"total_ms", result.duration_ms}};
  return response;
}

json stream_chunk(const ResponseIdentity& identity, const std::string& text, bool first, const std::string& finish,
                  json logprobs) {
  json chunk = header(identity, /*chunk=*/true);
  json choice = {{"index", 0}};
  if (identity.endpoint == Endpoint::chat_completions) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || (first && finish.empty())) delta["content"] = text;
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = text;
  }
  choice["logprobs"] = std::move(logprobs);
  choice["finish_reason"] = finish.empty() ? json(nullptr) : json(finish);
  chunk["choices"] = json::array({std::move(choice)});
  return chunk;
}

json delta_chunk(const ResponseIdentity& identity, json delta, const std::string& finish, json logprobs) {
  json chunk = header(identity, /*chunk=*/true);
  json choice = {{"index", 0}, {"delta", std::move(delta)}, {"logprobs", std::move(logprobs)}};
  choice["finish_reason"] = finish.empty() ? json(nullptr) : json(finish);
  chunk["choices"] = json::array({std::move(choice)});
  return chunk;
}

json usage_chunk(const ResponseIdentity& identity, const GenerationResult& result) {
  json chunk = header(identity, /*chunk=*/true);
  chunk["choices"] = json::array();
  chunk["usage"] = usage_json(result);
  return chunk;
}

}  // namespace hearth::server
