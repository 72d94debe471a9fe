#include "server/responses_api.h"

#include <fmt/format.h>

namespace hearth::server {
namespace {

// A member that should be a string: its text, or "" when it is missing or not a string (a hostile body must not
// turn nlohmann's type errors into a 500).
std::string text_member(const json& object, const char* key) {
  if (!object.is_object()) return "";
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

// Text of a message's content: a string, or parts of type input_text / output_text / text.
std::string content_text(const json& content, const std::string& field) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) throw bad_request(fmt::format("'{}' must be a string or a list of text parts", field), field);
  std::string text;
  for (const json& part : content) {
    const std::string type = text_member(part, "type");
    if ((type != "input_text" && type != "output_text" && type != "text") || !part.contains("text") || !part["text"].is_string()) {
      throw bad_request(fmt::format("'{}' parts must be input_text or output_text with a string 'text' (other kinds are not "
                                    "supported)", field),
                        field);
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

json messages_from_input(const json& input) {
  json messages = json::array();
  if (input.is_string()) {
    messages.push_back({{"role", "user"}, {"content", input}});
    return messages;
  }
  if (!input.is_array() || input.empty()) throw bad_request("'input' must be a string or a non-empty list of items", "input");
  for (const json& item : input) {
    if (!item.is_object()) throw bad_request("each 'input' item must be an object", "input");
    const std::string type = item.contains("type") ? text_member(item, "type") : (item.contains("role") ? "message" : "");
    if (type == "message") {
      if (!item.contains("role") || !item["role"].is_string()) throw bad_request("a message item needs a string 'role'", "input");
      std::string role = item["role"];
      if (role == "developer") role = "system";
      messages.push_back({{"role", role}, {"content", content_text(item.value("content", json("")), "input.content")}});
    } else if (type == "function_call") {
      for (const char* key : {"call_id", "name", "arguments"}) {
        if (!item.contains(key) || !item[key].is_string()) throw bad_request(fmt::format("a function_call item needs a string '{}'", key), "input");
      }
      json call = {{"id", item["call_id"]}, {"type", "function"},
                   {"function", {{"name", item["name"]}, {"arguments", item["arguments"]}}}};
      // Consecutive calls are one assistant turn.
      if (!messages.empty() && messages.back()["role"] == "assistant" && messages.back().contains("tool_calls")) {
        messages.back()["tool_calls"].push_back(std::move(call));
      } else {
        messages.push_back({{"role", "assistant"}, {"content", ""}, {"tool_calls", json::array({std::move(call)})}});
      }
    } else if (type == "function_call_output") {
      if (!item.contains("call_id") || !item["call_id"].is_string()) throw bad_request("a function_call_output item needs a string 'call_id'", "input");
      const json output = item.value("output", json(""));
      messages.push_back({{"role", "tool"}, {"tool_call_id", item["call_id"]},
                          {"content", output.is_string() ? output.get<std::string>() : content_text(output, "input.output")}});
    } else if (type == "reasoning") {
      continue;  // earlier reasoning is not shown to the model again, as chat templates drop it too
    } else {
      throw bad_request(fmt::format("input items of type '{}' are not supported (message, function_call, "
                                    "function_call_output, reasoning are)", type),
                        "input");
    }
  }
  return messages;
}

}  // namespace

json chat_body_from_responses(const json& body) {
  if (!body.is_object()) throw bad_request("the request body must be a JSON object");
  if (body.contains("previous_response_id") && !body["previous_response_id"].is_null()) {
    throw bad_request("previous_response_id is not supported: this server keeps no responses; send the conversation in 'input'",
                      "previous_response_id");
  }
  json chat = json::object();
  // Sampling and the rest carry over under their chat names; unknown fields are ignored as in chat.
  for (const char* key : {"temperature", "top_p", "seed", "stream", "parallel_tool_calls", "top_k", "min_p", "stop",
                          "presence_penalty", "frequency_penalty", "logit_bias", "user"}) {
    if (body.contains(key)) chat[key] = body[key];
  }
  if (body.contains("max_output_tokens") && !body["max_output_tokens"].is_null()) chat["max_tokens"] = body["max_output_tokens"];
  if (!body.contains("input")) throw bad_request("'input' is required", "input");
  json messages = messages_from_input(body["input"]);
  if (body.contains("instructions") && !body["instructions"].is_null()) {
    if (!body["instructions"].is_string()) throw bad_request("'instructions' must be a string", "instructions");
    messages.insert(messages.begin(), json{{"role", "system"}, {"content", body["instructions"]}});
  }
  chat["messages"] = std::move(messages);
  if (body.contains("tools")) {
    if (!body["tools"].is_array()) throw bad_request("'tools' must be a list", "tools");
    json tools = json::array();
    for (const json& tool : body["tools"]) {
      if (text_member(tool, "type") != "function" || text_member(tool, "name").empty()) {
        throw bad_request("only function tools are supported: {\"type\": \"function\", \"name\", \"parameters\", ...}", "tools");
      }
      json function = {{"name", tool["name"]}};
      for (const char* key : {"description", "parameters", "strict"}) {
        if (tool.contains(key) && !tool[key].is_null()) function[key] = tool[key];
      }
      tools.push_back({{"type", "function"}, {"function", std::move(function)}});
    }
    chat["tools"] = std::move(tools);
  }
  if (body.contains("tool_choice")) {
    const json& choice = body["tool_choice"];
    if (text_member(choice, "type") == "function" && choice.contains("name")) {
      chat["tool_choice"] = {{"type", "function"}, {"function", {{"name", choice["name"]}}}};
    } else {
      chat["tool_choice"] = choice;
    }
  }
  if (body.contains("text") && body["text"].is_object() && body["text"].contains("format")) {
    const json& format = body["text"]["format"];
    if (!format.is_object() || !format.contains("type") || !format["type"].is_string()) {
      throw bad_request("'text.format' must be {\"type\": \"text\" | \"json_object\" | \"json_schema\", ...}", "text.format");
    }
    if (format["type"] == "json_schema") {
      const std::string name = text_member(format, "name");
      json schema = {{"name", name.empty() ? "response" : name}, {"schema", format.value("schema", json())}};
      if (format.contains("strict")) schema["strict"] = format["strict"];
      chat["response_format"] = {{"type", "json_schema"}, {"json_schema", std::move(schema)}};
    } else {
      chat["response_format"] = {{"type", format["type"]}};
    }
  }
  return chat;
}

ApiError responses_error(const ApiError& error) {
  std::string param = error.param();
  if (param == "max_tokens") param = "max_output_tokens";
  else if (param.starts_with("messages")) param = "input";
  else if (param.starts_with("response_format")) param = "text.format";
  return ApiError(error.status(), error.what(), error.type(), param, error.code());
}

ResponsesOutput::ResponsesOutput(std::string id, int64_t created_at, std::string model, const json& request)
    : id_(std::move(id)), created_at_(created_at), model_(std::move(model)), request_(request) {}

json ResponsesOutput::event(std::string type, json fields) {
  json out = {{"type", std::move(type)}, {"sequence_number", sequence_++}};
  for (auto& [key, value] : fields.items()) out[key] = std::move(value);
  return out;
}

json ResponsesOutput::skeleton(std::string status) const {
  json response = {{"id", id_}, {"object", "response"}, {"created_at", created_at_}, {"status", std::move(status)},
                   {"model", model_}, {"output", json::array()}, {"error", nullptr}, {"incomplete_details", nullptr}};
  response["instructions"] = request_.value("instructions", json());
  response["max_output_tokens"] = request_.value("max_output_tokens", json());
  response["parallel_tool_calls"] = request_.value("parallel_tool_calls", true);
  response["temperature"] = request_.value("temperature", 1.0);
  response["top_p"] = request_.value("top_p", 1.0);
  response["tool_choice"] = request_.value("tool_choice", json("auto"));
  response["tools"] = request_.value("tools", json::array());
  response["text"] = request_.value("text", json{{"format", {{"type", "text"}}}});
  return response;
}

json ResponsesOutput::reasoning_item(const std::string& text, const char* status) const {
  return {{"type", "reasoning"}, {"id", fmt::format("rs_{}_{}", id_, output_index_)}, {"status", status},
          {"summary", json::array()}, {"content", json::array({{{"type", "reasoning_text"}, {"text", text}}})}};
}

json ResponsesOutput::message_item(const std::string& text, const char* status) const {
  json content = json::array();
  if (std::string_view(status) == "completed") {
    content.push_back({{"type", "output_text"}, {"text", text}, {"annotations", json::array()}});
  }
  return {{"type", "message"}, {"id", fmt::format("msg_{}_{}", id_, output_index_)}, {"status", status},
          {"role", "assistant"}, {"content", std::move(content)}};
}

json ResponsesOutput::call_item(const chat::ToolCall& call, const char* status) const {
  return {{"type", "function_call"}, {"id", "fc_" + call.id}, {"call_id", call.id}, {"name", call.name},
          {"arguments", std::string(status) == "completed" ? call.arguments : ""}, {"status", status}};
}

std::vector<json> ResponsesOutput::start() {
  return {event("response.created", {{"response", skeleton("in_progress")}}),
          event("response.in_progress", {{"response", skeleton("in_progress")}})};
}

std::vector<json> ResponsesOutput::close_open_item() {
  std::vector<json> events;
  if (open_ == Open::reasoning) {
    json item = reasoning_item(reasoning_, "completed");
    events.push_back(event("response.reasoning_text.done",
                           {{"item_id", item["id"]}, {"output_index", output_index_}, {"content_index", 0}, {"text", reasoning_}}));
    events.push_back(event("response.output_item.done", {{"output_index", output_index_}, {"item", item}}));
    items_.push_back(std::move(item));
  } else if (open_ == Open::message) {
    json item = message_item(message_, "completed");
    const json part = item["content"][0];
    events.push_back(event("response.output_text.done", {{"item_id", item["id"]}, {"output_index", output_index_},
                                                         {"content_index", 0}, {"text", message_}}));
    events.push_back(event("response.content_part.done",
                           {{"item_id", item["id"]}, {"output_index", output_index_}, {"content_index", 0}, {"part", part}}));
    events.push_back(event("response.output_item.done", {{"output_index", output_index_}, {"item", item}}));
    items_.push_back(std::move(item));
  }
  open_ = Open::none;
  reasoning_.clear();
  message_.clear();
  return events;
}

std::vector<json> ResponsesOutput::on_delta(const chat::ReplyDelta& delta) {
  std::vector<json> events;
  const auto append = [&](std::vector<json> more) {
    for (json& e : more) events.push_back(std::move(e));
  };
  if (!delta.reasoning.empty()) {
    if (open_ != Open::reasoning) {
      append(close_open_item());
      open_ = Open::reasoning;
      ++output_index_;
      events.push_back(event("response.output_item.added", {{"output_index", output_index_}, {"item", reasoning_item("", "in_progress")}}));
    }
    reasoning_ += delta.reasoning;
    events.push_back(event("response.reasoning_text.delta", {{"item_id", fmt::format("rs_{}_{}", id_, output_index_)},
                                                             {"output_index", output_index_}, {"content_index", 0},
                                                             {"delta", delta.reasoning}}));
  }
  if (!delta.content.empty()) {
    if (open_ != Open::message) {
      append(close_open_item());
      open_ = Open::message;
      ++output_index_;
      const json item = message_item("", "in_progress");
      events.push_back(event("response.output_item.added", {{"output_index", output_index_}, {"item", item}}));
      events.push_back(event("response.content_part.added",
                             {{"item_id", item["id"]}, {"output_index", output_index_}, {"content_index", 0},
                              {"part", {{"type", "output_text"}, {"text", ""}, {"annotations", json::array()}}}}));
    }
    message_ += delta.content;
    events.push_back(event("response.output_text.delta", {{"item_id", fmt::format("msg_{}_{}", id_, output_index_)},
                                                          {"output_index", output_index_}, {"content_index", 0},
                                                          {"delta", delta.content}}));
  }
  for (const chat::ToolCall& call : delta.calls) {
    append(close_open_item());
    ++output_index_;
    const std::string item_id = "fc_" + call.id;
    events.push_back(event("response.output_item.added", {{"output_index", output_index_}, {"item", call_item(call, "in_progress")}}));
    events.push_back(event("response.function_call_arguments.delta",
                           {{"item_id", item_id}, {"output_index", output_index_}, {"delta", call.arguments}}));
    events.push_back(event("response.function_call_arguments.done",
                           {{"item_id", item_id}, {"output_index", output_index_}, {"arguments", call.arguments}}));
    json item = call_item(call, "completed");
    events.push_back(event("response.output_item.done", {{"output_index", output_index_}, {"item", item}}));
    items_.push_back(std::move(item));
  }
  return events;
}

std::vector<json> ResponsesOutput::finish(const GenerationResult& result) {
  std::vector<json> events = close_open_item();
  const json whole = response(result);
  events.push_back(event(whole["status"] == "completed" ? "response.completed" : "response.incomplete", {{"response", whole}}));
  return events;
}

json ResponsesOutput::response(const GenerationResult& result) const {
  const bool cut = result.reason == FinishReason::length;
  json response = skeleton(cut ? "incomplete" : "completed");
  if (cut) response["incomplete_details"] = {{"reason", "max_output_tokens"}};
  response["output"] = items_;
  response["usage"] = {{"input_tokens", result.prompt_tokens},
                       {"input_tokens_details", {{"cached_tokens", result.cached_tokens}}},
                       {"output_tokens", result.generated_tokens},
                       {"output_tokens_details", {{"reasoning_tokens", 0}}},
                       {"total_tokens", result.prompt_tokens + result.generated_tokens}};
  return response;
}

}  // namespace hearth::server
