// The Responses API layer without sockets: requests into chat bodies (and errors named as Responses fields), and
// a parsed reply into output items and the stream events that build them.
#include <gtest/gtest.h>

#include "server/responses_api.h"

namespace hearth::server {
namespace {

TEST(ResponsesApi, InputItemsBecomeAConversation) {
  const json body = json::parse(R"({
    "instructions": "Be brief.", "max_output_tokens": 20, "temperature": 0.5, "stream": true,
    "input": [
      {"role": "developer", "content": "Use tools."},
      {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in "}, {"type": "input_text", "text": "Oslo?"}]},
      {"type": "reasoning", "id": "rs_1", "summary": []},
      {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"},
      {"type": "function_call", "call_id": "c2", "name": "get_time", "arguments": "{}"},
      {"type": "function_call_output", "call_id": "c1", "output": "3 C"}],
    "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": true}],
    "tool_choice": {"type": "function", "name": "get_weather"},
    "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": true}}})");
  const json chat = chat_body_from_responses(body);
  EXPECT_EQ(chat["max_tokens"], 20);
  EXPECT_EQ(chat["temperature"], 0.5);
  EXPECT_EQ(chat["stream"], true);
  const json& messages = chat["messages"];
  ASSERT_EQ(messages.size(), 5u) << messages;
  EXPECT_EQ(messages[0], json({{"role", "system"}, {"content", "Be brief."}}));
  EXPECT_EQ(messages[1], json({{"role", "system"}, {"content", "Use tools."}}));
  EXPECT_EQ(messages[2]["content"], "Weather in Oslo?");
  EXPECT_EQ(messages[3]["role"], "assistant");
  ASSERT_EQ(messages[3]["tool_calls"].size(), 2u);  // consecutive calls: one turn
  EXPECT_EQ(messages[3]["tool_calls"][0]["function"]["arguments"], "{\"city\":\"Oslo\"}");
  EXPECT_EQ(messages[4], json({{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "3 C"}}));
  EXPECT_EQ(chat["tools"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(chat["tool_choice"]["function"]["name"], "get_weather");
  EXPECT_EQ(chat["response_format"]["json_schema"]["name"], "w");
  EXPECT_EQ(chat_body_from_responses({{"input", "Hi"}})["messages"], json::parse(R"([{"role": "user", "content": "Hi"}])"));
}

TEST(ResponsesApi, ErrorsNameTheResponsesField) {
  const auto param_of = [](const json& body) {
    try {
      chat_body_from_responses(body);
    } catch (const ApiError& e) {
      return e.param();
    }
    return std::string("(no error)");
  };
  EXPECT_EQ(param_of(json::object()), "input");
  EXPECT_EQ(param_of({{"input", json::array()}}), "input");
  EXPECT_EQ(param_of({{"input", {{{"type", "image"}}}}}), "input");
  EXPECT_EQ(param_of({{"input", "x"}, {"tools", {{{"type", "web_search"}}}}}), "tools");
  EXPECT_EQ(param_of({{"input", "x"}, {"previous_response_id", "resp_1"}}), "previous_response_id");
  EXPECT_EQ(param_of({{"input", "x"}, {"text", {{"format", "json"}}}}), "text.format");
  EXPECT_EQ(responses_error(bad_request("too long", "max_tokens")).param(), "max_output_tokens");
  EXPECT_EQ(responses_error(bad_request("bad", "response_format.json_schema.schema")).param(), "text.format");
  EXPECT_EQ(responses_error(bad_request("bad", "messages")).param(), "input");
}

TEST(ResponsesApi, EventsBuildTheItemsOfTheResponse) {
  ResponsesOutput output("resp_7", 1700000000, "m", {{"input", "x"}});
  std::vector<json> events = output.start();
  const auto add = [&](std::vector<json> more) { events.insert(events.end(), more.begin(), more.end()); };
  add(output.on_delta({"", "Think", {}}));
  add(output.on_delta({"", "ing.", {}}));
  add(output.on_delta({"Calling", "", {}}));
  add(output.on_delta({"", "", {{"abc123def", "get_weather", R"({"city":"Oslo"})"}}}));
  GenerationResult result;
  result.prompt_tokens = 5;
  result.generated_tokens = 9;
  add(output.finish(result));
  std::vector<std::string> types;
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["sequence_number"], i);
    types.push_back(events[i]["type"]);
  }
  const std::vector<std::string> expected = {
      "response.created", "response.in_progress",
      "response.output_item.added", "response.reasoning_text.delta", "response.reasoning_text.delta",
      "response.reasoning_text.done", "response.output_item.done",
      "response.output_item.added", "response.content_part.added", "response.output_text.delta",
      "response.output_text.done", "response.content_part.done", "response.output_item.done",
      "response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.done",
      "response.output_item.done", "response.completed"};
  EXPECT_EQ(types, expected);
  const json response = events.back()["response"];
  EXPECT_EQ(response["status"], "completed");
  ASSERT_EQ(response["output"].size(), 3u);
  EXPECT_EQ(response["output"][0]["content"][0]["text"], "Thinking.");
  EXPECT_EQ(response["output"][1]["content"][0]["text"], "Calling");
  EXPECT_EQ(response["output"][2], json::parse(R"({"type": "function_call", "id": "fc_abc123def", "call_id": "abc123def",
      "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}", "status": "completed"})"));
  EXPECT_EQ(response["usage"]["total_tokens"], 14);
  // Each item's added/done events carry its output index; the deltas name the item.
  EXPECT_EQ(events[9]["item_id"], "msg_resp_7_1");
  EXPECT_EQ(events[9]["output_index"], 1);
  result.reason = FinishReason::length;
  EXPECT_EQ(output.response(result)["incomplete_details"]["reason"], "max_output_tokens");
}

}  // namespace
}  // namespace hearth::server
